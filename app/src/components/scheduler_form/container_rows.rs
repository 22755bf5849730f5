//! The environment and port rows of a container on the scheduler form.

use leptos::prelude::*;

use super::Form;
use super::containers::container;
use super::inputs::{number, select, text};
use crate::domain::scheduler::{ContainerPort, EnvironmentVariable, SchedulerConfig};

fn env_at(c: &mut SchedulerConfig, i: usize, j: usize) -> Option<&mut EnvironmentVariable> {
    container(c, i).and_then(|c| c.environment.get_mut(j))
}

fn port_at(c: &mut SchedulerConfig, i: usize, j: usize) -> Option<&mut ContainerPort> {
    container(c, i).and_then(|c| c.ports.get_mut(j))
}
pub(super) fn env_fields(form: Form, i: usize, j: usize) -> AnyView {
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

pub(super) fn port_fields(form: Form, i: usize, j: usize) -> AnyView {
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
