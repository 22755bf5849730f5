//! The scheduler-wide settings of the form: room timeouts, matches per room, tokenless pings,
//! and the regions its rooms run in.

use leptos::prelude::*;

use super::Form;
use super::inputs::{checkbox, number, text};
use crate::domain::region::SchedulerRegion;
use crate::domain::scheduler::{RoomTimeouts, SchedulerConfig};

/// Which room timeout.
#[derive(Clone, Copy)]
pub(crate) enum Timeout {
    Initialization,
    Ping,
    Termination,
}

impl Timeout {
    fn slot(self, t: &mut RoomTimeouts) -> &mut Option<String> {
        match self {
            Self::Initialization => &mut t.initialization,
            Self::Ping => &mut t.ping,
            Self::Termination => &mut t.termination,
        }
    }

    fn get(self, c: &SchedulerConfig) -> String {
        let t = c.room_timeouts.as_ref();
        let value = match self {
            Self::Initialization => t.and_then(|t| t.initialization.clone()),
            Self::Ping => t.and_then(|t| t.ping.clone()),
            Self::Termination => t.and_then(|t| t.termination.clone()),
        };
        value.unwrap_or_default()
    }
}

/// Sets one room timeout; an empty text means the default, and no timeout set means no
/// `roomTimeouts` at all.
pub(crate) fn set_timeout(c: &mut SchedulerConfig, which: Timeout, value: String) {
    let timeouts = c.room_timeouts.get_or_insert_with(RoomTimeouts::default);
    let value = value.trim().to_string();
    *which.slot(timeouts) = (!value.is_empty()).then_some(value);
    if *timeouts == RoomTimeouts::default() {
        c.room_timeouts = None;
    }
}

fn timeout_input(form: Form, label: &'static str, field: &'static str, which: Timeout) -> AnyView {
    text(
        form,
        label,
        format!("roomTimeouts.{field}"),
        move |c| which.get(c),
        move |c, v| set_timeout(c, which, v),
    )
}

pub(super) fn settings_fields(form: Form) -> AnyView {
    view! {
        <fieldset class="card">
            <legend>"Rooms"</legend>
            <p class="hint">"Timeouts are durations such as \"30s\" or \"2m\"; empty means the default."</p>
            <div class="row">
                {timeout_input(
                    form,
                    "Initialization timeout (default 120s)",
                    "initialization",
                    Timeout::Initialization,
                )}
                {timeout_input(form, "Ping timeout (default 30s)", "ping", Timeout::Ping)}
                {timeout_input(
                    form,
                    "Termination timeout (default 30s)",
                    "termination",
                    Timeout::Termination,
                )}
            </div>
            <div class="row">
                {number(
                    form,
                    "Matches per room",
                    "matchAllocation.maxMatches".into(),
                    |c| c.match_allocation.max_matches,
                    |c, v| c.match_allocation.max_matches = v,
                )}
                {checkbox(
                    form,
                    "Allow pings without the room token (rooms migrating from Maestro)",
                    "allowTokenlessPings".into(),
                    |c| c.allow_tokenless_pings,
                    |c, on| c.allow_tokenless_pings = on,
                )}
            </div>
        </fieldset>
    }
    .into_any()
}

fn region_fields(form: Form, i: usize) -> AnyView {
    let path = format!("regions[{i}]");
    let get = move |c: &SchedulerConfig| c.regions.get(i).cloned();
    view! {
        <div class="row item" data-region=i>
            {text(
                form,
                "Region",
                format!("{path}.name"),
                move |c| get(c).map(|r| r.name).unwrap_or_default(),
                move |c, v| {
                    if let Some(r) = c.regions.get_mut(i) {
                        r.name = v
                    }
                },
            )}
            {number(
                form,
                "Weight",
                format!("{path}.weight"),
                move |c| get(c).map_or(1, |r| i64::from(r.weight)),
                move |c, v| {
                    if let Some(r) = c.regions.get_mut(i) {
                        // Below 1 is refused by validation (as 0); above u32 cannot be stored.
                        r.weight = u32::try_from(v.max(0)).unwrap_or(u32::MAX)
                    }
                },
            )}
            <button
                type="button"
                class="button link remove"
                title="Remove region"
                on:click=move |_| {
                    form.set(|c| {
                        if i < c.regions.len() {
                            c.regions.remove(i);
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

pub(super) fn regions_fields(form: Form) -> AnyView {
    let count = Memo::new(move |_| form.config.with(|c| c.regions.len()));
    view! {
        <fieldset class="card">
            <legend>"Regions"</legend>
            <p class="hint">
                "Rooms are split over the regions by weight; none listed means the default runtime's region."
            </p>
            {move || (0..count.get()).map(|i| region_fields(form, i)).collect_view()}
            <button
                type="button"
                class="button small"
                on:click=move |_| form.set(|c| c.regions.push(SchedulerRegion::new("", 1)))
            >
                "Add region"
            </button>
        </fieldset>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_timeouts_leave_room_timeouts_unset() {
        let mut c = SchedulerConfig::default();
        set_timeout(&mut c, Timeout::Ping, " 45s ".into());
        assert_eq!(
            c.room_timeouts,
            Some(RoomTimeouts {
                ping: Some("45s".into()),
                ..RoomTimeouts::default()
            })
        );
        set_timeout(&mut c, Timeout::Termination, "1m".into());
        assert_eq!(Timeout::Termination.get(&c), "1m");
        set_timeout(&mut c, Timeout::Ping, String::new());
        assert_eq!(Timeout::Ping.get(&c), "");
        assert!(c.room_timeouts.is_some());
        set_timeout(&mut c, Timeout::Termination, "  ".into());
        assert_eq!(c.room_timeouts, None);
    }
}
