//! The allocation page's rate chart: allocations and refusals per second over a chosen window,
//! as the room store counted them (`allocation::rate`), read again every 5 seconds. The server
//! sends the chart's points ready to draw, so the page's bundle carries no bucket maths.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::activity::{WindowButtons, relative};
use crate::components::chart::{LineChart, Series};
use crate::components::common::{ErrorBox, refresh_every};
use crate::domain::history::WINDOWS_MINUTES;

/// Allocations and refusals per second over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateView {
    /// (seconds before the server's now, allocations per second, refusals per second) of each
    /// point, oldest first.
    pub points: Vec<(f64, f64, f64)>,
    /// How long each point lasts.
    pub seconds_per_point: i64,
    /// The window's allocations and refusals.
    pub allocated: u64,
    pub refused: u64,
}

/// Allocations and refusals of scheduler `name` per second over the last `minutes` (one of the
/// offered windows), for readers of its game.
#[server(endpoint = "allocation_rates", output = crate::codec::JsonText)]
pub async fn allocation_rates(name: String, minutes: i64) -> Result<RateView, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let window = crate::components::chart::asked_window(minutes)?;
    let now = chrono::Utc::now();
    let rates = dashboard()?
        .schedulers
        .allocation_rates(
            &user,
            &name,
            now,
            window,
            crate::components::chart::WINDOW_POINTS,
        )
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(RateView {
        points: rates
            .points
            .iter()
            .map(|p| {
                (
                    (p.start - now).num_milliseconds() as f64 / 1000.0,
                    p.allocated_per_second,
                    p.refused_per_second,
                )
            })
            .collect(),
        seconds_per_point: rates.seconds_per_point,
        allocated: rates.allocated,
        refused: rates.refused,
    })
}

/// The chart's lines: allocations and refusals per second.
fn rate_series(points: &[(f64, f64, f64)]) -> Vec<Series> {
    let line = |name: &str, class: &'static str, y: fn(&(f64, f64, f64)) -> f64| Series {
        name: name.to_string(),
        class,
        points: points.iter().map(|p| (p.0, y(p))).collect(),
    };
    vec![
        line("allocations/s", "allocated", |p| p.1),
        line("refusals/s (no room free)", "refused", |p| p.2),
    ]
}

/// Allocations and refusals per second over a selectable window, read again every 5 s.
#[component]
pub(super) fn AllocationRateChart(name: Signal<String>) -> impl IntoView {
    let minutes = RwSignal::new(WINDOWS_MINUTES[0]);
    let rates = Resource::new(
        move || (name.get(), minutes.get()),
        |(name, minutes)| allocation_rates(name, minutes),
    );
    refresh_every(std::time::Duration::from_millis(5000), move || {
        rates.refetch()
    });
    view! {
        <section class="card" id="allocation-rate">
            <div class="section-head">
                <h2>"Allocations per second"</h2>
                <WindowButtons minutes/>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    rates
                        .get()
                        .map(|result| match result {
                            Ok(RateView { points, seconds_per_point, allocated, refused }) => {
                                let series = Signal::derive(move || rate_series(&points));
                                view! {
                                    <LineChart
                                        series
                                        x_label=relative
                                        title="Allocations and refusals per second over time"
                                    />
                                    <p class="muted" data-testid="allocation-totals">
                                        {format!(
                                            "{} allocated, {} refused (no room free) in the window; one point per {} s.",
                                            allocated,
                                            refused,
                                            seconds_per_point,
                                        )}
                                    </p>
                                }
                                    .into_any()
                            }
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        })
                }}
            </Transition>
            <p class="muted note">
                "Counted by the room store at each allocation (a reservation counts when it \
                 claims its room): 10 s buckets for the last hour, 1 min buckets for the last day."
            </p>
        </section>
    }
}
