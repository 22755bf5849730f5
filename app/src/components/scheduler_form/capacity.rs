//! The capacity section of the form (zeuz's model): off unless the scheduler has one; switched
//! on, one labelled input per field of `domain::capacity::fields`, each showing the errors
//! validation finds at its path (`capacity.payloadQuota.memoryMB`).

use leptos::prelude::*;

use super::Form;
use super::inputs::{Messages, checkbox, decimal, number, text};
use crate::domain::capacity::Capacity;
use crate::domain::capacity::fields::{CAPACITY_GROUPS, CapacityField, Slot, switch_capacity};
use crate::domain::scheduler::SchedulerConfig;

/// The input of one field.
fn field_input(form: Form, field: &'static CapacityField) -> AnyView {
    let path = format!("capacity.{}", field.path);
    // The value of the section as it is (a default one when it is off).
    fn read<T>(c: &SchedulerConfig, at: fn(&mut Capacity) -> &mut T) -> T
    where
        T: Clone,
    {
        let mut capacity = c.capacity.clone().unwrap_or_default();
        at(&mut capacity).clone()
    }
    let label = field.label;
    match field.slot {
        Slot::Whole(at) => number(
            form,
            label,
            path,
            move |c| read(c, at),
            move |c, v| {
                if let Some(k) = c.capacity.as_mut() {
                    *at(k) = v
                }
            },
        ),
        Slot::Decimal(at) => decimal(
            form,
            label,
            path,
            move |c| read(c, at),
            move |c, v| {
                if let Some(k) = c.capacity.as_mut() {
                    *at(k) = v
                }
            },
        ),
        Slot::Text(at) => text(
            form,
            label,
            path,
            move |c| read(c, at),
            move |c, v| {
                if let Some(k) = c.capacity.as_mut() {
                    *at(k) = v
                }
            },
        ),
        Slot::Flag(at) => checkbox(
            form,
            label,
            path,
            move |c| read(c, at),
            move |c, v| {
                if let Some(k) = c.capacity.as_mut() {
                    *at(k) = v
                }
            },
        ),
    }
}

pub(super) fn capacity_fields(form: Form) -> AnyView {
    let on = Memo::new(move |_| form.config.with(|c| c.capacity.is_some()));
    // The section switched off, kept to come back when it is switched on again.
    let aside = StoredValue::new(None::<Capacity>);
    let switch = move |ev| {
        let wanted = event_target_checked(&ev);
        let mut kept = aside.try_update_value(Option::take).flatten();
        form.set(|c| switch_capacity(&mut c.capacity, &mut kept, wanted));
        aside.set_value(kept);
    };
    let off = move || (!on.get()).then(|| view! { <p class="hint">"No capacity section."</p> });
    let groups = move || {
        on.get().then(|| {
            CAPACITY_GROUPS
                .iter()
                .map(|group| {
                    view! {
                        <fieldset class="group">
                            <legend>{group.title}</legend>
                            <p class="hint">{group.hint}</p>
                            <div class="row">
                                {group.fields.iter().map(|f| field_input(form, f)).collect_view()}
                            </div>
                            {(!group.path.is_empty())
                                .then(|| {
                                    view! {
                                        <Messages form path=format!("capacity.{}", group.path)/>
                                    }
                                })}
                        </fieldset>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <fieldset class="card" data-section="capacity">
            <legend>"Capacity"</legend>
            <label class="field check">
                <input type="checkbox" name="capacity" checked=on.get_untracked() on:change=switch/>
                <span>"Capacity section (machines and payload quotas, zeuz's model)"</span>
            </label>
            {off}
            {groups}
        </fieldset>
    }
    .into_any()
}
