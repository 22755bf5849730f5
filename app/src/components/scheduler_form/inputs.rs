//! The inputs of the scheduler form: text, numbers (whole or with fractions), checkboxes and
//! fixed choices, each bound to one field of the configuration and showing that field's messages.

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
    let value = form.config.with_untracked(get).to_string();
    let write: Parse = Arc::new(move |c, text| {
        text.trim()
            .parse::<i64>()
            .map(|value| set(c, value))
            .is_ok()
    });
    numeric_input(
        form,
        label,
        path,
        value,
        ("1", "must be a whole number"),
        write,
    )
}

/// A number input (fractions allowed) bound to one field of the configuration.
pub(super) fn decimal(
    form: Form,
    label: &'static str,
    path: String,
    get: impl Fn(&SchedulerConfig) -> f64,
    set: impl Fn(&mut SchedulerConfig, f64) + Send + Sync + 'static,
) -> AnyView {
    let value = form.config.with_untracked(get).to_string();
    let write: Parse = Arc::new(move |c, text| {
        text.trim()
            .parse::<f64>()
            .map(|value| set(c, value))
            .is_ok()
    });
    numeric_input(form, label, path, value, ("any", "must be a number"), write)
}

/// Reads an input's text and, when it reads, writes it to one field (answering whether it read).
type Parse = Arc<dyn Fn(&mut SchedulerConfig, &str) -> bool + Send + Sync>;

/// One input for both kinds of number (compiled once), with its `step` and the message for text
/// that does not read: such text is kept aside as a bad number, and the configuration keeps its
/// last good value meanwhile.
fn numeric_input(
    form: Form,
    label: &'static str,
    path: String,
    value: String,
    (step, message): (&'static str, &'static str),
    write: Parse,
) -> AnyView {
    let touched = path.clone();
    let key = path.clone();
    let name = path.clone();
    let invalid_now = invalid(form, path.clone());
    view! {
        <label class="field" class:invalid=invalid_now>
            <span>{label}</span>
            <input
                type="number"
                step=step
                name=name
                value=value
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    let mut reads = false;
                    form.config
                        .maybe_update(|c| {
                            reads = write(c, &text);
                            reads
                        });
                    if reads {
                        form.bad_numbers
                            .update(|b| {
                                b.remove(&key);
                            });
                    } else {
                        form.bad_numbers
                            .update(|b| {
                                b.insert(key.clone(), message.into());
                            })
                    }
                }
                on:change=move |_| form.touch(&touched)
            />
            <Messages form path/>
        </label>
    }
    .into_any()
}

/// A checkbox bound to one field of the configuration.
pub(super) fn checkbox(
    form: Form,
    label: &'static str,
    path: String,
    get: impl Fn(&SchedulerConfig) -> bool,
    set: impl Fn(&mut SchedulerConfig, bool) + Send + Sync + 'static,
) -> AnyView {
    let checked = form.config.with_untracked(get);
    checkbox_input(form, label, path, checked, Arc::new(set))
}

fn checkbox_input(
    form: Form,
    label: &'static str,
    path: String,
    checked: bool,
    set: Setter<bool>,
) -> AnyView {
    view! {
        <label class="field check">
            <input
                type="checkbox"
                name=path
                checked=checked
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    form.set(|c| set(c, on))
                }
            />
            <span>{label}</span>
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
