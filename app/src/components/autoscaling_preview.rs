//! The autoscaling preview: a synthetic day of players, and the scheduler's own last day (its
//! recorded busy rooms), run through the autoscaling being edited by the very code the server
//! runs (`domain::autoscaling::simulation`), drawn as the rooms it would keep. It updates as the
//! form changes, before anything is applied.

use chrono::Timelike;
use leptos::prelude::*;

use super::activity::room_history;
use super::chart::{LineChart, Series};
use crate::domain::autoscaling::simulation::{
    SimulationInput, SimulationStep, day_curve, recorded_demand, simulate,
};
use crate::domain::autoscaling::{Autoscaling, Direction};
use crate::domain::history::RoomCountSample;

/// One simulated minute per step; rooms take two minutes to become ready.
const STEP_SECONDS: f64 = 60.0;
const STARTUP_STEPS: usize = 2;

/// What the preview says in numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewSummary {
    pub peak_rooms: u32,
    pub least_rooms: u32,
    /// Minutes in which some players found no ready room.
    pub short_minutes: usize,
    pub scale_ups: usize,
    pub scale_downs: usize,
}

pub fn summarize(steps: &[SimulationStep]) -> PreviewSummary {
    let count = |d: Direction| steps.iter().filter(|s| s.scaled == Some(d)).count();
    PreviewSummary {
        peak_rooms: steps.iter().map(|s| s.desired).max().unwrap_or(0),
        least_rooms: steps.iter().map(|s| s.desired).min().unwrap_or(0),
        short_minutes: steps.iter().filter(|s| s.unserved > 0).count(),
        scale_ups: count(Direction::Up),
        scale_downs: count(Direction::Down),
    }
}

/// A day through `autoscaling` with `peak` busy rooms at 17:00. The scheduler starts from
/// `initial_rooms` a day earlier, so the day shown is the steady state, not the first minutes.
pub fn preview(autoscaling: &Autoscaling, initial_rooms: i64, peak: f64) -> Vec<SimulationStep> {
    let day = day_curve(24 * 60, (peak / 10.0).max(1.0), peak);
    let two_days = [day.as_slice(), day.as_slice()].concat();
    let mut steps = simulate(&SimulationInput {
        autoscaling: autoscaling.clone(),
        initial_rooms,
        demand: two_days,
        step_seconds: STEP_SECONDS,
        startup_steps: STARTUP_STEPS,
    });
    let second_day = steps.split_off(day.len());
    second_day
        .into_iter()
        .map(|mut s| {
            s.seconds -= day.len() as f64 * STEP_SECONDS;
            s
        })
        .collect()
}

/// The scheduler's recorded samples (oldest first) replayed through `autoscaling`: its busy rooms
/// each minute as the demand, starting from the rooms it had at the first sample. `None`
/// without samples.
pub fn replay(
    autoscaling: &Autoscaling,
    samples: &[RoomCountSample],
) -> Option<Vec<SimulationStep>> {
    let (demand, initial_rooms) = recorded_demand(samples, STEP_SECONDS)?;
    Some(simulate(&SimulationInput {
        autoscaling: autoscaling.clone(),
        initial_rooms,
        demand,
        step_seconds: STEP_SECONDS,
        startup_steps: STARTUP_STEPS,
    }))
}

/// The fewest ready rooms left in any minute.
fn fewest_ready(steps: &[SimulationStep]) -> u64 {
    steps.iter().map(|s| s.ready).min().unwrap_or(0)
}

fn clock(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as i64;
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// The lines of a chart of simulated steps, `offset` seconds into the day.
fn chart_lines(steps: &[SimulationStep], demand: &str, offset: f64) -> Vec<Series> {
    let line = |name: &str, class: &'static str, value: fn(&SimulationStep) -> f64| Series {
        name: name.to_string(),
        class,
        points: steps
            .iter()
            .map(|s| (s.seconds + offset, value(s)))
            .collect(),
    };
    vec![
        line(demand, "demand", |s| s.demand as f64),
        line("rooms wanted", "desired", |s| f64::from(s.desired)),
        line("ready rooms", "ready", |s| s.ready as f64),
    ]
}

/// The scheduler's last recorded day replayed through the autoscaling being edited.
#[component]
fn RecordedDay(
    autoscaling: Signal<Option<Autoscaling>>,
    /// The scheduler whose history is replayed.
    scheduler: String,
) -> impl IntoView {
    let recorded = Resource::new(move || scheduler.clone(), |name| room_history(name, 1440));
    let samples = move || {
        recorded
            .get()
            .and_then(Result::ok)
            .map(|(samples, _)| samples)
    };
    let steps = Memo::new(move |_| {
        let autoscaling = autoscaling.get().filter(|a| a.enabled)?;
        let samples = samples()?;
        let steps = replay(&autoscaling, &samples)?;
        let first = samples.first()?.at;
        Some((steps, f64::from(first.num_seconds_from_midnight())))
    });
    let series = Signal::derive(move || {
        steps
            .get()
            .map(|(steps, offset)| chart_lines(&steps, "busy rooms (recorded)", offset))
            .unwrap_or_default()
    });
    let summary = move || {
        steps.get().map(|(steps, _)| {
            let s = summarize(&steps);
            let short = s.short_minutes > 0;
            view! {
                <p class="preview-summary" class:warning=short data-testid="replay-summary">
                    {format!(
                        "Over the last {} minutes recorded: between {} and {} rooms wanted; at \
                         least {} ready rooms left; {} minutes with no ready room.",
                        steps.len(),
                        s.least_rooms,
                        s.peak_rooms,
                        fewest_ready(&steps),
                        s.short_minutes,
                    )}
                </p>
            }
        })
    };
    view! {
        <h3>"Replay: the scheduler's last day"</h3>
        <Suspense fallback=|| view! { <p class="muted">"Loading the recorded day…"</p> }>
            {move || {
                match recorded.get() {
                    Some(Err(error)) => {
                        Some(view! { <p class="hint">{format!("No recorded day: {error}")}</p> }.into_any())
                    }
                    Some(Ok((samples, _))) if samples.is_empty() => {
                        Some(view! { <p class="hint">"Nothing recorded yet."</p> }.into_any())
                    }
                    _ => None,
                }
            }}
        </Suspense>
        <LineChart series x_label=clock title="Rooms over the scheduler's recorded day (UTC)"/>
        {summary}
    }
}

#[component]
pub fn AutoscalingPreview(
    /// The autoscaling being edited; `None` or disabled shows a fixed count.
    #[prop(into)]
    autoscaling: Signal<Option<Autoscaling>>,
    /// The scheduler's roomsReplicas (its starting count).
    #[prop(into)]
    rooms_replicas: Signal<i64>,
    /// The scheduler whose recorded day is replayed beside the synthetic one.
    scheduler: String,
) -> impl IntoView {
    let peak = RwSignal::new(100.0_f64);
    let steps = Memo::new(move |_| {
        let replicas = rooms_replicas.get();
        autoscaling
            .get()
            .filter(|a| a.enabled)
            .map(|a| preview(&a, replicas, peak.get()))
    });
    let series = Signal::derive(move || {
        steps
            .get()
            .map(|steps| chart_lines(&steps, "players (busy rooms wanted)", 0.0))
            .unwrap_or_default()
    });
    let summary = move || {
        steps.get().map(|steps| {
            let s = summarize(&steps);
            let short = s.short_minutes > 0;
            let verdict = if s.short_minutes == 0 {
                "never ran out of ready rooms".to_string()
            } else {
                format!("players found no ready room in {} minutes", s.short_minutes)
            };
            view! {
                <p class="preview-summary" class:warning=short data-testid="day-summary">
                    {format!(
                        "Between {} and {} rooms; {} scale-ups, {} scale-downs; {verdict}.",
                        s.least_rooms,
                        s.peak_rooms,
                        s.scale_ups,
                        s.scale_downs,
                    )}
                </p>
            }
        })
    };
    view! {
        <section class="card preview" data-testid="autoscaling-preview">
            <h3>"Preview: a day of players"</h3>
            <label class="field inline">
                <span>"Busy rooms at the evening peak"</span>
                <input
                    type="number"
                    min="1"
                    name="preview-peak"
                    prop:value=move || peak.get().to_string()
                    on:input=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>()
                            && (1.0..=100_000.0).contains(&v)
                        {
                            peak.set(v);
                        }
                    }
                />
            </label>
            {move || {
                steps
                    .get()
                    .is_none()
                    .then(|| {
                        view! {
                            <p class="hint">
                                "Autoscaling is off: the scheduler keeps its room count."
                            </p>
                        }
                    })
            }}
            <LineChart series x_label=clock title="Rooms over a simulated day"/>
            {summary}
            <RecordedDay autoscaling scheduler/>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::autoscaling::{PolicyConfig, PolicyParameters};

    #[test]
    fn a_bigger_buffer_costs_more_rooms_and_keeps_up_where_a_small_one_runs_short() {
        let buffer = |amount| Autoscaling {
            enabled: true,
            min: 1,
            max: 0,
            cooldown: 300,
            policy: Some(PolicyConfig {
                r#type: "fixedBuffer".into(),
                parameters: PolicyParameters::fixed_buffer(amount),
            }),
            up: None,
            down: None,
            enable_panic_scale: false,
            requests: None,
        };
        // A gentle evening: both keep up, and the bigger buffer costs its 19 extra rooms in the
        // quietest minute as in the busiest.
        let small = summarize(&preview(&buffer(1), 10, 100.0));
        let large = summarize(&preview(&buffer(20), 10, 100.0));
        assert_eq!((small.short_minutes, large.short_minutes), (0, 0));
        assert_eq!(large.least_rooms, small.least_rooms + 19);
        assert_eq!(large.peak_rooms, small.peak_rooms + 19);
        // A steep evening: one spare room cannot absorb the ramp while new rooms start, and
        // players find none for hours; twenty spare rooms always can.
        let small = summarize(&preview(&buffer(1), 10, 1000.0));
        let large = summarize(&preview(&buffer(20), 10, 1000.0));
        assert!(small.short_minutes > 60, "{small:?}");
        assert_eq!(large.short_minutes, 0, "{large:?}");
        assert!(large.peak_rooms > small.peak_rooms, "{small:?} {large:?}");
        assert_eq!(clock(17.0 * 3600.0 + 5.0 * 60.0), "17:05");
    }

    #[test]
    fn the_recorded_day_is_replayed_through_the_policy_being_edited() {
        use crate::domain::room::RoomCounts;
        let buffer = |amount| Autoscaling {
            enabled: true,
            min: 1,
            max: 0,
            cooldown: 0,
            policy: Some(PolicyConfig {
                r#type: "fixedBuffer".into(),
                parameters: PolicyParameters::fixed_buffer(amount),
            }),
            up: None,
            down: None,
            enable_panic_scale: false,
            requests: None,
        };
        // A day recorded every 6 minutes: 5 busy rooms, a jump to 40 at noon for two hours.
        let start = chrono::DateTime::UNIX_EPOCH;
        let samples: Vec<RoomCountSample> = (0..240)
            .map(|i| {
                let minute = i * 6;
                let busy = if (720..840).contains(&minute) { 40 } else { 5 };
                RoomCountSample {
                    at: start + chrono::Duration::minutes(minute),
                    counts: RoomCounts {
                        ready: 2,
                        occupied: busy,
                        ..RoomCounts::default()
                    },
                }
            })
            .collect();
        assert_eq!(replay(&buffer(2), &[]), None);
        let small = replay(&buffer(2), &samples).unwrap();
        let large = replay(&buffer(60), &samples).unwrap();
        // One step a minute over the recorded span, demand as recorded.
        assert_eq!(small.len(), 239 * 6 + 1);
        assert_eq!(small[0].demand, 5);
        assert_eq!(small[725].demand, 40);
        // Two spare rooms cannot take the noon jump while new rooms start; sixty can, and
        // always leave spare rooms.
        assert!(
            summarize(&small).short_minutes > 0,
            "{:?}",
            summarize(&small)
        );
        assert_eq!(summarize(&large).short_minutes, 0);
        assert!(fewest_ready(&large) > 0);
        assert_eq!(fewest_ready(&small), 0);
    }

    #[test]
    fn unreserved_rooms_keep_the_free_rooms_in_range_all_day() {
        let range = |min, max| Autoscaling {
            enabled: true,
            min: 1,
            max: 0,
            cooldown: 0,
            policy: Some(PolicyConfig {
                r#type: "unreservedRooms".into(),
                parameters: PolicyParameters::unreserved_rooms(min, max),
            }),
            up: None,
            down: None,
            enable_panic_scale: false,
            requests: None,
        };
        // Ten busy rooms at night, a hundred at the peak.
        for (min, max) in [(5, 10), (20, 30)] {
            let steps = preview(&range(min, max), 10, 100.0);
            assert_eq!(summarize(&steps).short_minutes, 0, "{min}..{max}");
            for s in &steps {
                let free = i64::from(s.desired) - s.occupied as i64;
                assert!((min..=max).contains(&free), "{min}..{max}: {s:?}");
            }
        }
    }
}
