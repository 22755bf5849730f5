//! The inputs of the scheduler form: text, whole numbers and fixed choices, each bound to one
//! field of the configuration and showing that field's messages.

use std::sync::Arc;

use leptos::prelude::*;

use super::Form;
use crate::domain::scheduler::SchedulerConfig;

/// The messages of one field.
#[component]
pub(super) fn Messages(form: Form, path: String) -> impl IntoView {
    move || {
        form.messages(&path)
            .into_iter()
            .map(|m| view! { <span class="field-error">{m}</span> })
            .collect_view()
    }
}

/// Whether `path` has a message to show (for the field's red border).
fn invalid(form: Form, path: String) -> impl Fn() -> bool + Send + Sync + 'static {
    move || !form.messages(&path).is_empty()
}

pub(super) fn readonly(
    form: Form,
    label: &'static str,
    path: &'static str,
    get: fn(&SchedulerConfig) -> String,
) -> impl IntoView {
    let value = form.config.with_untracked(get);
    view! {
        <label class="field">
            <span>{label}</span>
            <input type="text" name=path value=value readonly/>
            <span class="hint">"Fixed once created."</span>
        </label>
    }
}

/// Writes one field of the configuration. Boxed so that each kind of input is compiled once,
/// not once per field (that keeps the WASM small).
type Setter<T> = Arc<dyn Fn(&mut SchedulerConfig, T) + Send + Sync>;

/// A text input bound to one field of the configuration.
pub(super) fn text(
    form: Form,
    label: &'static str,
    path: String,
    get: impl Fn(&SchedulerConfig) -> String,
    set: impl Fn(&mut SchedulerConfig, String) + Send + Sync + 'static,
) -> AnyView {
    text_input(
        form,
        label,
        path,
        form.config.with_untracked(get),
        Arc::new(set),
    )
}

fn text_input(
    form: Form,
    label: &'static str,
    path: String,
    value: String,
    set: Setter<String>,
) -> AnyView {
    let touched = path.clone();
    let name = path.clone();
    let invalid_now = invalid(form, path.clone());
    view! {
        <label class="field" class:invalid=invalid_now>
            <span>{label}</span>
            <input
                type="text"
                name=name
                value=value
                on:input=move |ev| {
                    let value = event_target_value(&ev);
                    form.set(|c| set(c, value));
                }
                on:change=move |_| form.touch(&touched)
            />
            <Messages form path/>
        </label>
    }
    .into_any()
}

/// A whole-number input bound to one field of the configuration.
pub(super) fn number(
    form: Form,
    label: &'static str,
    path: String,
    get: impl Fn(&SchedulerConfig) -> i64,
    set: impl Fn(&mut SchedulerConfig, i64) + Send + Sync + 'static,
) -> AnyView {
    let value = form.config.with_untracked(get);
    number_input(form, label, path, value, Arc::new(set))
}

fn number_input(
    form: Form,
    label: &'static str,
    path: String,
    value: i64,
    set: Setter<i64>,
) -> AnyView {
    let value = value.to_string();
    let touched = path.clone();
    let key = path.clone();
    let name = path.clone();
    let invalid_now = invalid(form, path.clone());
    view! {
        <label class="field" class:invalid=invalid_now>
            <span>{label}</span>
            <input
                type="number"
                step="1"
                name=name
                value=value
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    match text.trim().parse::<i64>() {
                        Ok(value) => {
                            form.bad_numbers
                                .update(|b| {
                                    b.remove(&key);
                                });
                            form.set(|c| set(c, value));
                        }
                        Err(_) => {
                            form.bad_numbers
                                .update(|b| {
                                    b.insert(key.clone(), "must be a whole number".into());
                                })
                        }
                    }
                }
                on:change=move |_| form.touch(&touched)
            />
            <Messages form path/>
        </label>
    }
    .into_any()
}

/// A choice among fixed values.
pub(super) fn select(
    form: Form,
    label: &'static str,
    path: String,
    options: &'static [&'static str],
    get: impl Fn(&SchedulerConfig) -> String,
    set: impl Fn(&mut SchedulerConfig, String) + Send + Sync + 'static,
) -> AnyView {
    let current = form.config.with_untracked(get);
    select_input(form, label, path, options, current, Arc::new(set))
}

fn select_input(
    form: Form,
    label: &'static str,
    path: String,
    options: &'static [&'static str],
    current: String,
    set: Setter<String>,
) -> AnyView {
    let name = path.clone();
    let invalid_now = invalid(form, path.clone());
    view! {
        <label class="field" class:invalid=invalid_now>
            <span>{label}</span>
            <select
                name=name
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    form.set(|c| set(c, value));
                }
            >
                {options
                    .iter()
                    .map(|option| {
                        view! {
                            <option value=*option selected=current == *option>
                                {*option}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <Messages form path/>
        </label>
    }
    .into_any()
}
