//! The browser entry point: hydrates the server-rendered pages of `app`.
// The dashboard's view types nest deeply (a form of forms); the default limit is too low for them.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Pages are split into their own WASM files; hydration waits for the current page's.
    leptos::mount::hydrate_lazy(app::App);
}
