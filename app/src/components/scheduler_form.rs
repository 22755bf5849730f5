//! The scheduler form: every field of a scheduler the browser reads (containers with
//! environment, ports, requests and limits; port range; max surge; labels and annotations; room
//! timeouts; matches per room; tokenless pings; regions; forwarders with their metadata; the
//! capacity section, off unless switched on). Errors show at their field, computed in the browser
//! by `SchedulerConfig::validate`, the code the server runs. `autoscaling` has its own page;
//! `allocation` is carried as the server sent it (see `domain::verbatim`) and is edited in the
//! JSON view, checked on save.
//!
//! The form edits one `SchedulerConfig` signal. Inputs take their initial value when created and
//! write back on input; lists re-render only when their length changes, so typing keeps focus.

mod capacity;
mod container_rows;
mod containers;
mod forwarders;
mod inputs;
mod json_view;
mod key_values;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use leptos::prelude::*;

use crate::domain::scheduler::{PortRange, SchedulerConfig};
use crate::domain::validation::FieldError;
use capacity::capacity_fields;
use containers::{container_fields, new_container};
use forwarders::{forwarder_fields, new_forwarder};
use inputs::{Messages, number, readonly, text};
pub use json_view::SchedulerJson;
use key_values::{key_value_list, map_to_rows};
use settings::{regions_fields, settings_fields};

/// The form's state, shared by its parts.
#[derive(Clone, Copy)]
struct Form {
    config: RwSignal<SchedulerConfig>,
    /// Fields whose text is not a number (they keep their last good value meanwhile), and keys
    /// of key-value lists that are repeated or missing.
    bad_numbers: RwSignal<BTreeMap<String, String>>,
    /// Fields the user has changed; their errors show before the first submit.
    touched: RwSignal<BTreeSet<String>>,
    submitted: RwSignal<bool>,
    errors: Memo<Vec<FieldError>>,
    server_errors: Signal<Vec<FieldError>>,
}

impl Form {
    /// The messages to show at `path` now.
    fn messages(&self, path: &str) -> Vec<String> {
        let show = self.submitted.get() || self.touched.with(|t| t.contains(path));
        let mut messages: Vec<String> = Vec::new();
        if let Some(message) = self.bad_numbers.with(|b| b.get(path).cloned()) {
            messages.push(message);
        }
        if show {
            self.errors.with(|errors| {
                for e in errors.iter().filter(|e| e.field == path) {
                    messages.push(e.message.clone());
                }
            });
        }
        self.server_errors.with(|errors| {
            for e in errors.iter().filter(|e| e.field == path) {
                if !messages.contains(&e.message) {
                    messages.push(e.message.clone());
                }
            }
        });
        messages
    }

    fn touch(&self, path: &str) {
        if !self.touched.with_untracked(|t| t.contains(path)) {
            self.touched.update(|t| {
                t.insert(path.to_string());
            });
        }
    }

    /// Applies `change` to the configuration.
    fn set(&self, change: impl FnOnce(&mut SchedulerConfig)) {
        self.config.update(change);
    }
}

/// A form for a new scheduler (`editing` false) or a new version of one. It edits `config`
/// (its inputs start from the value it has when the form is created).
#[component]
pub fn SchedulerForm(
    config: RwSignal<SchedulerConfig>,
    editing: bool,
    /// Errors the server reported for the last submission.
    #[prop(into)]
    server_errors: Signal<Vec<FieldError>>,
    /// Whether a submission is on its way.
    #[prop(into)]
    pending: Signal<bool>,
    /// Receives the configuration when the browser found no error in it.
    on_submit: Callback<SchedulerConfig>,
) -> impl IntoView {
    let errors = Memo::new(move |_| config.with(|c| c.validate().err().unwrap_or_default()));
    let form = Form {
        config,
        bad_numbers: RwSignal::new(BTreeMap::new()),
        touched: RwSignal::new(BTreeSet::new()),
        submitted: RwSignal::new(false),
        errors,
        server_errors,
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.submitted.set(true);
        let clean = form.errors.with_untracked(Vec::is_empty)
            && form.bad_numbers.with_untracked(BTreeMap::is_empty);
        if clean {
            on_submit.run(form.config.get_untracked());
        }
    };
    // After a submit attempt, every problem is listed here too (some fields, such as
    // autoscaling, have no input on this form).
    let problems = move || {
        let mut lines: Vec<String> = form
            .bad_numbers
            .with(|b| b.iter().map(|(f, m)| format!("{f}: {m}")).collect());
        form.errors.with(|errors| {
            lines.extend(errors.iter().map(|e| format!("{}: {}", e.field, e.message)))
        });
        (form.submitted.get() && !lines.is_empty()).then(|| {
            view! {
                <div class="error-box" role="alert">
                    <p>
                        {format!(
                            "{} problem{} to fix:",
                            lines.len(),
                            if lines.len() == 1 { "" } else { "s" },
                        )}
                    </p>
                    <ul>{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                </div>
            }
        })
    };
    let containers = Memo::new(move |_| config.with(|c| c.spec.containers.len()));
    let forwarders = Memo::new(move |_| config.with(|c| c.forwarders.len()));
    let (labels, annotations) =
        config.with_untracked(|c| (map_to_rows(&c.labels), map_to_rows(&c.annotations)));
    view! {
        <form class="scheduler-form" novalidate on:submit=submit>
            <fieldset class="card">
                <legend>"Scheduler"</legend>
                <div class="row">
                    {if editing {
                        readonly(form, "Name", "name", |c| c.name.clone()).into_any()
                    } else {
                        text(form, "Name", "name".into(), |c| c.name.clone(), |c, v| c.name = v)
                            .into_any()
                    }}
                    {if editing {
                        readonly(form, "Game", "game", |c| c.game.clone()).into_any()
                    } else {
                        text(form, "Game", "game".into(), |c| c.game.clone(), |c, v| c.game = v)
                            .into_any()
                    }}
                </div>
                <div class="row">
                    {number(
                        form,
                        "Rooms",
                        "roomsReplicas".into(),
                        |c| c.rooms_replicas,
                        |c, v| c.rooms_replicas = v,
                    )}
                    {text(
                        form,
                        "Max surge",
                        "maxSurge".into(),
                        |c| c.max_surge.clone(),
                        |c, v| c.max_surge = v,
                    )}
                    {text(
                        form,
                        "Termination grace period",
                        "spec.terminationGracePeriod".into(),
                        |c| c.spec.termination_grace_period.0.clone(),
                        |c, v| c.spec.termination_grace_period.0 = v,
                    )}
                </div>
                <div class="row">
                    {number(
                        form,
                        "Port range start",
                        "portRange.start".into(),
                        |c| c.port_range.map_or(0, |r| r.start),
                        |c, v| c.port_range.get_or_insert(PortRange::default()).start = v,
                    )}
                    {number(
                        form,
                        "Port range end (exclusive)",
                        "portRange.end".into(),
                        |c| c.port_range.map_or(0, |r| r.end),
                        |c, v| c.port_range.get_or_insert(PortRange::default()).end = v,
                    )}
                </div>
                <Messages form path="portRange".into()/>
            </fieldset>
            <fieldset class="card">
                <legend>"Labels"</legend>
                <p class="hint">"Put on every room."</p>
                {key_value_list(
                    form,
                    "label",
                    "labels".into(),
                    labels,
                    Arc::new(|c, map| c.labels = map),
                )}
            </fieldset>
            <fieldset class="card">
                <legend>"Annotations"</legend>
                <p class="hint">"Put on every room."</p>
                {key_value_list(
                    form,
                    "annotation",
                    "annotations".into(),
                    annotations,
                    Arc::new(|c, map| c.annotations = map),
                )}
            </fieldset>
            {settings_fields(form)}
            {regions_fields(form)}
            <Messages form path="spec.containers".into()/>
            {move || (0..containers.get()).map(|i| container_fields(form, i)).collect_view()}
            <p>
                <button
                    type="button"
                    class="button"
                    on:click=move |_| {
                        form.set(|c| c.spec.containers.push(new_container(c.spec.containers.len())))
                    }
                >
                    "Add container"
                </button>
            </p>
            <fieldset class="card">
                <legend>"Forwarders"</legend>
                {move || {
                    (0..forwarders.get()).map(|i| forwarder_fields(form, i)).collect_view()
                }}
                <button
                    type="button"
                    class="button"
                    on:click=move |_| form.set(|c| c.forwarders.push(new_forwarder()))
                >
                    "Add forwarder"
                </button>
            </fieldset>
            {capacity_fields(form)}
            {problems}
            <div class="form-actions">
                <button type="submit" class="button primary" disabled=move || pending.get()>
                    {if editing { "Save new version" } else { "Create scheduler" }}
                </button>
            </div>
        </form>
    }
}
