//! The autoscaling preview: a synthetic day of players run through the scheduler's autoscaling
//! by the very code the server runs (`domain::autoscaling::simulation`), drawn as the rooms it
//! would keep. It updates as the form changes, before anything is applied.

use leptos::prelude::*;

use super::chart::{LineChart, Series};
use crate::domain::autoscaling::simulation::{
    SimulationInput, SimulationStep, day_curve, simulate,
};
use crate::domain::autoscaling::{Autoscaling, Direction};

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

fn clock(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as i64;
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

#[component]
pub fn AutoscalingPreview(
    /// The autoscaling being edited; `None` or disabled shows a fixed count.
    #[prop(into)]
    autoscaling: Signal<Option<Autoscaling>>,
    /// The scheduler's roomsReplicas (its starting count).
    #[prop(into)]
    rooms_replicas: Signal<i64>,
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
        let Some(steps) = steps.get() else {
            return Vec::new();
        };
        let line = |name: &str, class: &'static str, value: fn(&SimulationStep) -> f64| Series {
            name: name.to_string(),
            class,
            points: steps.iter().map(|s| (s.seconds, value(s))).collect(),
        };
        vec![
            line("players (busy rooms wanted)", "demand", |s| s.demand as f64),
            line("rooms wanted", "desired", |s| f64::from(s.desired)),
            line("ready rooms", "ready", |s| s.ready as f64),
        ]
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
                <p class="preview-summary" class:warning=short>
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
