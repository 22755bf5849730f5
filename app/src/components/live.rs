//! Values the server pushes (server-sent events): a page subscribes to a path and gets each new
//! value as the server sends it, without polling; the browser reconnects by itself after a break
//! (the server sends the current value first on every connection). On the server, and before
//! the first value, the signal holds `None`.

use leptos::prelude::*;
use serde::de::DeserializeOwned;

/// The latest value pushed on the path `path` answers (followed as it changes).
pub fn live<T>(path: impl Fn() -> String + Send + Sync + 'static) -> ReadSignal<Option<T>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let (latest, set_latest) = signal(None::<T>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;

        let Ok(source) = web_sys::EventSource::new(&path()) else {
            return;
        };
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(text) = event.data().as_string()
                    && let Ok(value) = serde_json::from_str::<T>(&text)
                {
                    set_latest.set(Some(value));
                }
            },
        );
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let open = StoredValue::new_local(Some((source, on_message)));
        on_cleanup(move || {
            if let Some((source, _)) = open.try_update_value(Option::take).flatten() {
                source.close();
            }
        });
    });
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (path, set_latest);
    }
    latest
}
