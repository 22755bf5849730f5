//! The scheduler form: every field of a scheduler as the seed body has them (containers with
//! environment, ports, requests and limits; port range; max surge; forwarders). Errors show at
//! their field, computed in the browser by `SchedulerConfig::validate`, the code the server runs.
//!
//! The form edits one `SchedulerConfig` signal. Inputs take their initial value when created and
//! write back on input; lists re-render only when their length changes, so typing keeps focus.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use leptos::prelude::*;

use crate::domain::scheduler::{
    Container, ContainerPort, EnvironmentVariable, Forwarder, ForwarderOptions, PortRange,
    Resources, SchedulerConfig,
};
use crate::domain::validation::FieldError;

/// The form's state, shared by its parts.
#[derive(Clone, Copy)]
struct Form {
    config: RwSignal<SchedulerConfig>,
    /// Fields whose text is not a number (they keep their last good value meanwhile).
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

/// A form for a new scheduler (`editing` false) or a new version of one.
#[component]
pub fn SchedulerForm(
    initial: SchedulerConfig,
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
    let config = RwSignal::new(initial);
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
            {problems}
            <div class="form-actions">
                <button type="submit" class="button primary" disabled=move || pending.get()>
                    {if editing { "Save new version" } else { "Create scheduler" }}
                </button>
            </div>
        </form>
    }
}

fn new_container(index: usize) -> Container {
    Container {
        name: if index == 0 {
            "game".to_string()
        } else {
            format!("container-{index}")
        },
        image_pull_policy: "IfNotPresent".to_string(),
        ..Container::default()
    }
}

fn new_forwarder() -> Forwarder {
    Forwarder {
        name: String::new(),
        enable: true,
        r#type: "gRPC".to_string(),
        address: String::new(),
        options: ForwarderOptions::default(),
    }
}

/// The messages of one field.
#[component]
fn Messages(form: Form, path: String) -> impl IntoView {
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

fn readonly(
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
fn text(
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
fn number(
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
fn select(
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

/// The container at `i`, or nothing once it is removed.
fn container(c: &mut SchedulerConfig, i: usize) -> Option<&mut Container> {
    c.spec.containers.get_mut(i)
}

fn env_at(c: &mut SchedulerConfig, i: usize, j: usize) -> Option<&mut EnvironmentVariable> {
    container(c, i).and_then(|c| c.environment.get_mut(j))
}

fn port_at(c: &mut SchedulerConfig, i: usize, j: usize) -> Option<&mut ContainerPort> {
    container(c, i).and_then(|c| c.ports.get_mut(j))
}

/// Sets the cpu or memory of a container's requests or limits; both empty means none.
fn set_resource(slot: &mut Option<Resources>, change: impl FnOnce(&mut Resources)) {
    let resources = slot.get_or_insert_with(Resources::default);
    change(resources);
    if resources.cpu.is_empty() && resources.memory.is_empty() {
        *slot = None;
    }
}

fn container_fields(form: Form, i: usize) -> AnyView {
    let config = form.config;
    let path = format!("spec.containers[{i}]");
    let env_count = Memo::new(move |_| {
        config.with(|c| c.spec.containers.get(i).map_or(0, |c| c.environment.len()))
    });
    let port_count =
        Memo::new(move |_| config.with(|c| c.spec.containers.get(i).map_or(0, |c| c.ports.len())));
    let command = config.with_untracked(|c| {
        c.spec
            .containers
            .get(i)
            .map(|c| c.command.join("\n"))
            .unwrap_or_default()
    });
    let command_path = format!("{path}.command");
    let resource = move |kind: &'static str, which: &'static str| {
        let label = match (kind, which) {
            ("requests", "cpu") => "CPU request",
            ("requests", _) => "Memory request",
            (_, "cpu") => "CPU limit",
            _ => "Memory limit",
        };
        text(
            form,
            label,
            format!("spec.containers[{i}].{kind}.{which}"),
            move |c| {
                let Some(container) = c.spec.containers.get(i) else {
                    return String::new();
                };
                let slot = if kind == "requests" {
                    &container.requests
                } else {
                    &container.limits
                };
                slot.as_ref()
                    .map(|r| {
                        if which == "cpu" {
                            r.cpu.clone()
                        } else {
                            r.memory.clone()
                        }
                    })
                    .unwrap_or_default()
            },
            move |c, v| {
                if let Some(container) = container(c, i) {
                    let slot = if kind == "requests" {
                        &mut container.requests
                    } else {
                        &mut container.limits
                    };
                    set_resource(slot, |r| {
                        if which == "cpu" {
                            r.cpu = v
                        } else {
                            r.memory = v
                        }
                    });
                }
            },
        )
    };
    view! {
        <fieldset class="card container" data-container=i>
            <legend>{format!("Container {}", i + 1)}</legend>
            <div class="row">
                {text(
                    form,
                    "Name",
                    format!("{path}.name"),
                    move |c| c.spec.containers.get(i).map(|c| c.name.clone()).unwrap_or_default(),
                    move |c, v| {
                        if let Some(x) = container(c, i) {
                            x.name = v
                        }
                    },
                )}
                {text(
                    form,
                    "Image",
                    format!("{path}.image"),
                    move |c| c.spec.containers.get(i).map(|c| c.image.clone()).unwrap_or_default(),
                    move |c, v| {
                        if let Some(x) = container(c, i) {
                            x.image = v
                        }
                    },
                )}
                {select(
                    form,
                    "Image pull policy",
                    format!("{path}.imagePullPolicy"),
                    &["IfNotPresent", "Always", "Never"],
                    move |c| {
                        c.spec
                            .containers
                            .get(i)
                            .map(|c| c.image_pull_policy.clone())
                            .unwrap_or_default()
                    },
                    move |c, v| {
                        if let Some(x) = container(c, i) {
                            x.image_pull_policy = v
                        }
                    },
                )}
            </div>
            <label class="field wide">
                <span>"Command (one argument per line)"</span>
                <textarea
                    name=command_path
                    rows="2"
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        form.set(|c| {
                            if let Some(x) = container(c, i) {
                                x.command = value
                                    .lines()
                                    .map(str::trim)
                                    .filter(|l| !l.is_empty())
                                    .map(String::from)
                                    .collect();
                            }
                        });
                    }
                >
                    {command}
                </textarea>
            </label>
            <div class="row">
                {resource("requests", "cpu")}
                {resource("requests", "memory")}
                {resource("limits", "cpu")}
                {resource("limits", "memory")}
            </div>
            <h4>"Environment"</h4>
            {move || (0..env_count.get()).map(|j| env_fields(form, i, j)).collect_view()}
            <button
                type="button"
                class="button small"
                on:click=move |_| {
                    form.set(|c| {
                        if let Some(x) = container(c, i) {
                            x.environment.push(EnvironmentVariable::default())
                        }
                    })
                }
            >
                "Add variable"
            </button>
            <h4>"Ports"</h4>
            {move || (0..port_count.get()).map(|j| port_fields(form, i, j)).collect_view()}
            <button
                type="button"
                class="button small"
                on:click=move |_| {
                    form.set(|c| {
                        if let Some(x) = container(c, i) {
                            x.ports
                                .push(ContainerPort {
                                    name: String::new(),
                                    protocol: "tcp".into(),
                                    port: 0,
                                    host_port: None,
                                    host_port_range: None,
                                })
                        }
                    })
                }
            >
                "Add port"
            </button>
            <p class="right">
                <button
                    type="button"
                    class="button danger small"
                    on:click=move |_| {
                        form.set(|c| {
                            if i < c.spec.containers.len() {
                                c.spec.containers.remove(i);
                            }
                        })
                    }
                >
                    "Remove container"
                </button>
            </p>
        </fieldset>
    }
    .into_any()
}

fn env_fields(form: Form, i: usize, j: usize) -> AnyView {
    let path = format!("spec.containers[{i}].environment[{j}]");
    let env = move |c: &SchedulerConfig| {
        c.spec
            .containers
            .get(i)
            .and_then(|c| c.environment.get(j))
            .cloned()
    };
    view! {
        <div class="row item">
            {text(
                form,
                "Name",
                format!("{path}.name"),
                move |c| env(c).map(|e| e.name).unwrap_or_default(),
                move |c, v| {
                    if let Some(e) = env_at(c, i, j) {
                        e.name = v
                    }
                },
            )}
            {text(
                form,
                "Value",
                format!("{path}.value"),
                move |c| env(c).map(|e| e.value).unwrap_or_default(),
                move |c, v| {
                    if let Some(e) = env_at(c, i, j) {
                        e.value = v
                    }
                },
            )}
            <button
                type="button"
                class="button link remove"
                title="Remove variable"
                on:click=move |_| {
                    form.set(|c| {
                        if let Some(x) = container(c, i)
                            && j < x.environment.len()
                        {
                            x.environment.remove(j);
                        }
                    })
                }
            >
                "Remove"
            </button>
        </div>
    }
    .into_any()
}

fn port_fields(form: Form, i: usize, j: usize) -> AnyView {
    let path = format!("spec.containers[{i}].ports[{j}]");
    let port = move |c: &SchedulerConfig| {
        c.spec
            .containers
            .get(i)
            .and_then(|c| c.ports.get(j))
            .cloned()
    };
    view! {
        <div class="row item">
            {text(
                form,
                "Name",
                format!("{path}.name"),
                move |c| port(c).map(|p| p.name).unwrap_or_default(),
                move |c, v| {
                    if let Some(p) = port_at(c, i, j) {
                        p.name = v
                    }
                },
            )}
            {select(
                form,
                "Protocol",
                format!("{path}.protocol"),
                &["tcp", "udp", "sctp"],
                move |c| port(c).map(|p| p.protocol.to_ascii_lowercase()).unwrap_or_default(),
                move |c, v| {
                    if let Some(p) = port_at(c, i, j) {
                        p.protocol = v
                    }
                },
            )}
            {number(
                form,
                "Port",
                format!("{path}.port"),
                move |c| port(c).map_or(0, |p| p.port),
                move |c, v| {
                    if let Some(p) = port_at(c, i, j) {
                        p.port = v
                    }
                },
            )}
            <button
                type="button"
                class="button link remove"
                title="Remove port"
                on:click=move |_| {
                    form.set(|c| {
                        if let Some(x) = container(c, i)
                            && j < x.ports.len()
                        {
                            x.ports.remove(j);
                        }
                    })
                }
            >
                "Remove"
            </button>
        </div>
    }
    .into_any()
}

fn forwarder_fields(form: Form, i: usize) -> AnyView {
    let path = format!("forwarders[{i}]");
    let get = move |c: &SchedulerConfig| c.forwarders.get(i).cloned();
    let enabled = form
        .config
        .with_untracked(|c| c.forwarders.get(i).is_some_and(|f| f.enable));
    view! {
        <div class="row item" data-forwarder=i>
            {text(
                form,
                "Name",
                format!("{path}.name"),
                move |c| get(c).map(|f| f.name).unwrap_or_default(),
                move |c, v| {
                    if let Some(f) = c.forwarders.get_mut(i) {
                        f.name = v
                    }
                },
            )}
            {text(
                form,
                "Address",
                format!("{path}.address"),
                move |c| get(c).map(|f| f.address).unwrap_or_default(),
                move |c, v| {
                    if let Some(f) = c.forwarders.get_mut(i) {
                        f.address = v
                    }
                },
            )}
            {number(
                form,
                "Timeout (ms)",
                format!("{path}.options.timeout"),
                move |c| get(c).map_or(0, |f| f.options.timeout),
                move |c, v| {
                    if let Some(f) = c.forwarders.get_mut(i) {
                        f.options.timeout = v
                    }
                },
            )}
            <label class="field check">
                <input
                    type="checkbox"
                    name=format!("{path}.enable")
                    checked=enabled
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        form.set(|c| {
                            if let Some(f) = c.forwarders.get_mut(i) {
                                f.enable = on
                            }
                        })
                    }
                />
                <span>"Enabled"</span>
            </label>
            <button
                type="button"
                class="button link remove"
                title="Remove forwarder"
                on:click=move |_| {
                    form.set(|c| {
                        if i < c.forwarders.len() {
                            c.forwarders.remove(i);
                        }
                    })
                }
            >
                "Remove"
            </button>
            <Messages form path=format!("{path}.type")/>
        </div>
    }
    .into_any()
}
