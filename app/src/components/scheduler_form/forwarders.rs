//! The forwarder rows of the scheduler form.

use leptos::prelude::*;

use std::sync::Arc;

use super::Form;
use super::inputs::{checkbox, number, select, text};
use super::key_values::{key_value_list, map_to_metadata, metadata_to_rows};
use crate::domain::scheduler::{Forwarder, ForwarderOptions, SchedulerConfig};

pub(super) fn new_forwarder() -> Forwarder {
    Forwarder {
        name: String::new(),
        enable: true,
        r#type: "gRPC".to_string(),
        address: String::new(),
        options: ForwarderOptions::default(),
    }
}
pub(super) fn forwarder_fields(form: Form, i: usize) -> AnyView {
    let path = format!("forwarders[{i}]");
    let get = move |c: &SchedulerConfig| c.forwarders.get(i).cloned();
    let metadata = form.config.with_untracked(|c| {
        c.forwarders
            .get(i)
            .map(|f| metadata_to_rows(&f.options.metadata))
            .unwrap_or_default()
    });
    let metadata = key_value_list(
        form,
        "metadata",
        format!("{path}.options.metadata"),
        metadata,
        Arc::new(move |c, map| {
            if let Some(f) = c.forwarders.get_mut(i) {
                f.options.metadata = map_to_metadata(map)
            }
        }),
    );
    view! {
        <div class="forwarder" data-forwarder=i>
        <div class="row item">
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
            {select(
                form,
                "Type",
                format!("{path}.type"),
                &["gRPC", "http"],
                move |c| get(c).map(|f| f.r#type).unwrap_or_default(),
                move |c, v| {
                    if let Some(f) = c.forwarders.get_mut(i) {
                        f.r#type = v
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
            {checkbox(
                form,
                "Enabled",
                format!("{path}.enable"),
                move |c| get(c).is_some_and(|f| f.enable),
                move |c, on| {
                    if let Some(f) = c.forwarders.get_mut(i) {
                        f.enable = on
                    }
                },
            )}
            <button
                type="button"
                class="button link remove"
                title="Remove forwarder"
                on:click=move |_| {
                    form.set(|c| {
                        if i < c.forwarders.len() {
                            c.forwarders.remove(i);
                        }
                    });
                    // The rows' problems were named by index, which now points elsewhere.
                    form.bad_numbers.update(|b| b.retain(|f, _| !f.starts_with("forwarders[")));
                }
            >
                "Remove"
            </button>
        </div>
        <h4>"Metadata"</h4>
        {metadata}
        </div>
    }
    .into_any()
}
