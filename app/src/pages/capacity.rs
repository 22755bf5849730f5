//! A scheduler's capacity (zeuz's model): its machines by region, each with a bar of the
//! payloads it holds and those still free, the free payload capacity over time against the
//! bounds machine scaling keeps it within (`minFreePayloadCapacity`, `maxFreePayloadCapacity`),
//! and the machine-scaling decisions with their reasons. Read again every 5 seconds.
//!
//! Like the scheduler page's Capacity card, the server sends text and counts only, so the
//! page's bundle carries no reader of the capacity model.

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::activity::{WindowButtons, relative};
use crate::components::capacity::{
    CapacityPanel, MachineDecisionsTable, MachineRow, capacity_summary,
};
use crate::components::chart::{LineChart, Series};
use crate::components::common::{ErrorBox, refresh_every};
use crate::domain::history::WINDOWS_MINUTES;

/// How often the page reads the capacity again.
pub const REFRESH: Duration = Duration::from_millis(5000);

/// One free-capacity sample: seconds before the server's now, free, min and max free.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreePoint {
    pub seconds: f64,
    pub free: u64,
    pub min_free: i64,
    pub max_free: i64,
}

/// What the capacity page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityPage {
    pub panel: CapacityPanel,
    /// The window's samples, oldest first.
    pub history: Vec<FreePoint>,
}

/// The capacity of scheduler `name` and its free capacity over the last `minutes` (one of the
/// offered windows), for readers of its game; 404 without a capacity section.
#[server(endpoint = "capacity_page_data", output = crate::codec::JsonText)]
pub async fn capacity_page_data(name: String, minutes: i64) -> Result<CapacityPage, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};
    use chrono::Utc;
    /// Decisions the page shows.
    const DECISIONS_SHOWN: usize = 20;

    let user = require_user().await?;
    let window = crate::components::chart::asked_window(minutes)?;
    let capacity = dashboard()?.capacity;
    let now = Utc::now();
    let view = capacity
        .capacity(&user, &name, DECISIONS_SHOWN)
        .await
        .map_err(|e| reject(e.into()))?;
    let samples = capacity
        .history(
            &user,
            &name,
            now,
            window,
            crate::components::chart::WINDOW_POINTS,
        )
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(CapacityPage {
        panel: CapacityPanel::of(&view, now),
        history: samples
            .iter()
            .map(|s| FreePoint {
                seconds: (s.at - now).num_milliseconds() as f64 / 1000.0,
                free: s.free_payload_capacity,
                min_free: s.min_free_payload_capacity,
                max_free: s.max_free_payload_capacity,
            })
            .collect(),
    })
}

/// The chart's lines: free payload capacity, and the bounds at each sample.
pub fn free_series(history: &[FreePoint]) -> Vec<Series> {
    let line = |name: &str, class: &'static str, y: fn(&FreePoint) -> f64| Series {
        name: name.to_string(),
        class,
        points: history.iter().map(|p| (p.seconds, y(p))).collect(),
    };
    vec![
        line("free payload capacity", "free", |p| p.free as f64),
        line("MinFree", "min-free", |p| p.min_free as f64),
        line("MaxFree", "max-free", |p| p.max_free as f64),
    ]
}

/// A machine's bar: this scheduler's busy and idle payloads, what else uses its capacity, and
/// what is free, as shares (percent) of its payload capacity (or of what it holds, when more).
pub fn bar_shares(m: &MachineRow) -> [(&'static str, u32, f64); 4] {
    let busy = m.busy_payloads.min(m.payloads);
    let idle = m.payloads - busy;
    let used = m.payload_capacity.saturating_sub(m.free_payload_capacity);
    let other = used.saturating_sub(m.payloads);
    let total = (busy + idle + other + m.free_payload_capacity).max(1);
    let share = |n: u32| f64::from(n) * 100.0 / f64::from(total);
    [
        ("busy", busy, share(busy)),
        ("idle", idle, share(idle)),
        ("other", other, share(other)),
        (
            "free",
            m.free_payload_capacity,
            share(m.free_payload_capacity),
        ),
    ]
}

#[component]
pub fn CapacityPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let minutes = RwSignal::new(WINDOWS_MINUTES[1]);
    let page = Resource::new(
        move || (name(), minutes.get()),
        |(name, minutes)| capacity_page_data(name, minutes),
    );
    refresh_every(REFRESH, move || page.refetch());
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    <a href=move || format!("/ui/schedulers/{}", name())>{name}</a>
                </p>
                <h1>"Capacity"</h1>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                page.get()
                    .map(|result| match result {
                        Ok(page) => view! { <Capacity page minutes/> }.into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
        <p class="muted note">"Read again every 5 s while this page is open."</p>
    }
}

#[component]
fn Capacity(page: CapacityPage, minutes: RwSignal<i64>) -> impl IntoView {
    let CapacityPage { panel, history } = page;
    let CapacityPanel {
        now,
        machines,
        free,
        bounds,
        enable_scaling,
        skipped,
        decisions,
    } = panel;
    let mut regions: BTreeMap<String, Vec<MachineRow>> = BTreeMap::new();
    for machine in machines {
        regions
            .entry(machine.region.clone())
            .or_default()
            .push(machine);
    }
    let samples = history.len();
    let series = Signal::derive(move || free_series(&history));
    view! {
        <section class="card" id="machines">
            <h2>"Machines"</h2>
            {capacity_summary(free, bounds, enable_scaling, skipped)}
            {if regions.is_empty() {
                view! { <p class="muted">"No machine reported."</p> }.into_any()
            } else {
                regions
                    .into_iter()
                    .map(|(region, machines)| view! { <Region region machines/> })
                    .collect_view()
                    .into_any()
            }}
            <p class="legend bar-legend">
                <span class="legend-item"><i class="bar-busy"></i>"busy payloads"</span>
                <span class="legend-item"><i class="bar-idle"></i>"idle payloads"</span>
                <span class="legend-item"><i class="bar-other"></i>"used otherwise"</span>
                <span class="legend-item"><i class="bar-free"></i>"free"</span>
            </p>
        </section>
        <section class="card" id="free-capacity" data-samples=samples>
            <div class="section-head">
                <h2>"Free payload capacity over time"</h2>
                <WindowButtons minutes/>
            </div>
            {if samples == 0 {
                view! { <p class="muted">"No samples yet: one is taken at each machine-scaling evaluation."</p> }
                    .into_any()
            } else {
                view! {
                    <LineChart
                        series
                        x_label=relative
                        title="Free payload capacity over time, with MinFree and MaxFree"
                    />
                }
                    .into_any()
            }}
        </section>
        <section class="card" id="machine-decisions">
            <h2>"Machine-scaling decisions"</h2>
            <MachineDecisionsTable now decisions/>
        </section>
    }
}

#[component]
fn Region(region: String, machines: Vec<MachineRow>) -> impl IntoView {
    let free: u64 = machines
        .iter()
        .map(|m| u64::from(m.free_payload_capacity))
        .sum();
    let key = region.clone();
    view! {
        <div class="region" data-region=key>
            <h3>{region} " · " {free} " free"</h3>
            <ul class="machine-bars">
                {machines
                    .into_iter()
                    .map(|m| {
                        let label = format!(
                            "{}: {} payloads ({} busy), {} free of {}",
                            m.id,
                            m.payloads,
                            m.busy_payloads,
                            m.free_payload_capacity,
                            m.payload_capacity,
                        );
                        let notes = match (m.meets_min_spec, m.draining) {
                            (false, _) => " · below the minimum spec",
                            (true, true) => " · draining",
                            (true, false) => "",
                        };
                        let shares = bar_shares(&m);
                        let key = m.id.clone();
                        view! {
                            <li class="machine-bar" data-machine=key>
                                <div class="machine-bar-head">
                                    <code>{m.id.clone()}</code>
                                    " · "
                                    {m.kind.clone()}
                                    {notes}
                                    <span class="muted">
                                        " · "
                                        {format!(
                                            "{} used ({} busy), {} free of {}",
                                            m.payloads,
                                            m.busy_payloads,
                                            m.free_payload_capacity,
                                            m.payload_capacity,
                                        )}
                                    </span>
                                </div>
                                <div class="bar" role="img" aria-label=label>
                                    {shares
                                        .into_iter()
                                        .filter(|(_, n, _)| *n > 0)
                                        .map(|(class, n, share)| {
                                            view! {
                                                <span
                                                    class=format!("bar-part bar-{class}")
                                                    data-part=class
                                                    data-count=n
                                                    style=format!("width: {share:.2}%")
                                                ></span>
                                            }
                                        })
                                        .collect_view()}
                                </div>
                                <div class="muted machine-spec">{m.spec}</div>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(payloads: u32, busy: u32, capacity: u32, free: u32) -> MachineRow {
        MachineRow {
            id: "m1".into(),
            region: "eu".into(),
            kind: "cloud".into(),
            spec: String::new(),
            payloads,
            busy_payloads: busy,
            payload_capacity: capacity,
            free_payload_capacity: free,
            meets_min_spec: true,
            draining: false,
        }
    }

    #[test]
    fn a_bar_splits_the_capacity_into_busy_idle_other_and_free() {
        // 8 payloads fit: this scheduler holds 3 (1 busy), another uses 2, 3 are free.
        let shares = bar_shares(&machine(3, 1, 8, 3));
        let counts: Vec<(&str, u32)> = shares.iter().map(|(c, n, _)| (*c, *n)).collect();
        assert_eq!(
            counts,
            vec![("busy", 1), ("idle", 2), ("other", 2), ("free", 3)]
        );
        assert_eq!(shares[3].2, 37.5);
        let total: f64 = shares.iter().map(|s| s.2).sum();
        assert!((total - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_machine_holding_more_than_its_capacity_shows_what_it_holds() {
        // Below the minimum spec: no capacity, yet 2 payloads run there.
        let shares = bar_shares(&machine(2, 2, 0, 0));
        assert_eq!(shares[0].1, 2);
        assert_eq!(shares[0].2, 100.0);
        assert_eq!(shares[3].1, 0);
        let empty = bar_shares(&machine(0, 0, 0, 0));
        assert!(empty.iter().all(|s| s.2 == 0.0));
    }

    #[test]
    fn the_chart_has_free_min_and_max_lines() {
        let history = vec![
            FreePoint {
                seconds: -60.0,
                free: 2,
                min_free: 4,
                max_free: 8,
            },
            FreePoint {
                seconds: 0.0,
                free: 6,
                min_free: 4,
                max_free: 8,
            },
        ];
        let series = free_series(&history);
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["free payload capacity", "MinFree", "MaxFree"]);
        assert_eq!(series[0].points, vec![(-60.0, 2.0), (0.0, 6.0)]);
        assert_eq!(series[1].points, vec![(-60.0, 4.0), (0.0, 4.0)]);
        assert_eq!(series[2].points, vec![(-60.0, 8.0), (0.0, 8.0)]);
    }
}
