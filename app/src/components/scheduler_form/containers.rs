//! A container's card on the scheduler form: name, image, pull policy, command, requests and
//! limits, with its environment and port rows.

use leptos::prelude::*;

use super::Form;
use super::container_rows::{env_fields, port_fields};
use super::inputs::{select, text};
use crate::domain::scheduler::{
    Container, ContainerPort, EnvironmentVariable, Resources, SchedulerConfig,
};

pub(super) fn new_container(index: usize) -> Container {
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
/// The container at `i`, or nothing once it is removed.
pub(super) fn container(c: &mut SchedulerConfig, i: usize) -> Option<&mut Container> {
    c.spec.containers.get_mut(i)
}
/// Sets the cpu or memory of a container's requests or limits; both empty means none.
fn set_resource(slot: &mut Option<Resources>, change: impl FnOnce(&mut Resources)) {
    let resources = slot.get_or_insert_with(Resources::default);
    change(resources);
    if resources.cpu.is_empty() && resources.memory.is_empty() {
        *slot = None;
    }
}
pub(super) fn container_fields(form: Form, i: usize) -> AnyView {
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
