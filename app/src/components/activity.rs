//! A scheduler's activity on its page: room counts by status over a chosen window, and the
//! autoscaler's recent decisions with their reasons. Both refresh every few seconds in the browser.

use std::time::Duration;

use leptos::prelude::*;

use super::chart::{LineChart, Series};
use super::common::{ErrorBox, ago, refresh_every};
use crate::auth::AppError;
use crate::domain::autoscaling::Decision;
use crate::domain::history::{RoomCountSample, WINDOWS_MINUTES};
use crate::domain::room::RoomCounts;

/// Room counts of a scheduler over the last `minutes` (users of its game), and the server's now.
#[server(endpoint = "room_history", output = crate::codec::JsonText)]
pub async fn room_history(
    name: String,
    minutes: i64,
) -> Result<(Vec<RoomCountSample>, chrono::DateTime<chrono::Utc>), AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let window = crate::components::chart::asked_window(minutes)?;
    let now = chrono::Utc::now();
    let samples = dashboard()?
        .schedulers
        .history(
            &user,
            &name,
            now,
            window,
            crate::components::chart::WINDOW_POINTS,
        )
        .await
        .map_err(|e| reject(e.into()))?;
    Ok((samples, now))
}

/// The latest autoscaling decisions of a scheduler (users of its game), and the server's now.
#[server(endpoint = "autoscaling_decisions", output = crate::codec::JsonText)]
pub async fn autoscaling_decisions(
    name: String,
) -> Result<(Vec<Decision>, chrono::DateTime<chrono::Utc>), AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let decisions = dashboard()?
        .schedulers
        .decisions(&user, &name, 20)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok((decisions, chrono::Utc::now()))
}

/// A window's name on its button (`15 min`, `1 h`, `24 h`).
pub fn window_label(minutes: i64) -> String {
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 1440 => format!("{} h", m / 60),
        _ => "24 h".to_string(),
    }
}

fn series_of(samples: &[RoomCountSample], now: chrono::DateTime<chrono::Utc>) -> Vec<Series> {
    // x: seconds relative to now (negative), so the axis reads "-15m" .. "now".
    let line = |name: &str, class: &'static str, count: fn(&RoomCounts) -> u64| Series {
        name: name.to_string(),
        class,
        points: samples
            .iter()
            .map(|s| {
                (
                    (s.at - now).num_milliseconds() as f64 / 1000.0,
                    count(&s.counts) as f64,
                )
            })
            .collect(),
    };
    vec![
        line("ready", "ready", |c| c.ready),
        line("occupied", "occupied", |c| c.occupied),
        line("pending", "pending", |c| c.pending + c.unready),
        line("terminating", "terminating", |c| c.terminating),
    ]
}

/// An x axis label of seconds before now (`-15m`, `now`).
pub fn relative(seconds: f64) -> String {
    let s = (-seconds).round() as i64;
    match s {
        ..=5 => "now".to_string(),
        6..120 => format!("-{s}s"),
        120..7200 => format!("-{}m", s / 60),
        _ => format!("-{}h", s / 3600),
    }
}

/// The buttons that choose a chart's window among [`WINDOWS_MINUTES`], the chosen one pressed.
#[component]
pub fn WindowButtons(minutes: RwSignal<i64>) -> impl IntoView {
    view! {
        <div class="segmented" role="group" aria-label="Window">
            {WINDOWS_MINUTES
                .iter()
                .map(|&m| {
                    view! {
                        <button
                            type="button"
                            class="button small"
                            class:active=move || minutes.get() == m
                            aria-pressed=move || (minutes.get() == m).to_string()
                            on:click=move |_| minutes.set(m)
                        >
                            {window_label(m)}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// Ready, occupied, pending and terminating rooms over a selectable window.
#[component]
pub fn RoomHistoryChart(#[prop(into)] name: Signal<String>) -> impl IntoView {
    let minutes = RwSignal::new(WINDOWS_MINUTES[0]);
    let history = Resource::new(
        move || (name.get(), minutes.get()),
        |(n, m)| room_history(n, m),
    );
    refresh_every(Duration::from_millis(3000), move || history.refetch());
    view! {
        <section class="card" id="room-history" data-testid="room-history">
            <div class="section-head">
                <h2>"Rooms over time"</h2>
                <WindowButtons minutes/>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    history
                        .get()
                        .map(|result| match result {
                            Ok((samples, now)) => {
                                let latest = samples.last().map(|s| s.counts);
                                let series = Signal::derive(move || series_of(&samples, now));
                                view! {
                                    <LineChart series x_label=relative title="Rooms by status over time"/>
                                    <p class="muted" data-testid="room-history-latest">
                                        {latest
                                            .map(|c| {
                                                format!(
                                                    "Latest: {} ready, {} occupied, {} pending, {} terminating.",
                                                    c.ready,
                                                    c.occupied,
                                                    c.pending + c.unready,
                                                    c.terminating,
                                                )
                                            })
                                            .unwrap_or_else(|| "No samples yet.".to_string())}
                                    </p>
                                }
                                    .into_any()
                            }
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

/// The autoscaler's latest decisions: when, from how many rooms to how many, and why.
#[component]
pub fn DecisionList(#[prop(into)] name: Signal<String>) -> impl IntoView {
    let decisions = Resource::new(move || name.get(), autoscaling_decisions);
    refresh_every(Duration::from_millis(5000), move || decisions.refetch());
    view! {
        <section class="card" id="autoscaling-decisions">
            <h2>"Autoscaling decisions"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    decisions
                        .get()
                        .map(|result| match result {
                            Ok((list, _)) if list.is_empty() => {
                                view! {
                                    <p class="muted">
                                        "No decisions yet: the desired count has not changed."
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok((list, now)) => {
                                view! {
                                    <table class="table decisions">
                                        <thead>
                                            <tr>
                                                <th>"When"</th>
                                                <th>"Rooms"</th>
                                                <th>"Why"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|d| {
                                                    view! {
                                                        <tr>
                                                            <td title=d.at.to_rfc3339()>{ago(now, d.at)}</td>
                                                            <td>{format!("{} → {}", d.from, d.to)}</td>
                                                            <td>{d.summary}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}
