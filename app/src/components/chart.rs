//! A line chart in plain SVG: rendered on the server (readable without JavaScript) and
//! re-rendered in the browser when its series change. Used for the room status history and
//! the autoscaling preview.

use leptos::prelude::*;

/// One line of a chart; `class` picks its colour in `style/main.css` (`.series-<class>`).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub class: &'static str,
    /// (x, y) points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// Points one chart of a window shows at most.
pub const WINDOW_POINTS: usize = 240;

/// The span of the offered window of `minutes` (`history::WINDOWS_MINUTES`) a chart's server
/// function was asked for; 400 at `minutes` for any other.
#[cfg(feature = "ssr")]
pub fn asked_window(minutes: i64) -> Result<chrono::Duration, crate::auth::AppError> {
    use crate::auth::{AppError, server::reject};
    if !crate::domain::history::WINDOWS_MINUTES.contains(&minutes) {
        return Err(reject(AppError::invalid(
            "minutes",
            "is not an offered window",
        )));
    }
    Ok(chrono::Duration::minutes(minutes))
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 24.0;

/// A round step for axis ticks: 1, 2 or 5 times a power of ten, giving about `ticks` ticks.
fn nice_step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    step.max(1.0)
}

/// Bounds of all points: x from first to last, y from 0 to a round maximum.
fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let x_min = xs.clone().fold(f64::INFINITY, f64::min);
    let x_max = xs.fold(f64::NEG_INFINITY, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let step = nice_step(y_max, 4.0);
    let y_top = (y_max / step).ceil() * step;
    if x_min.is_finite() && x_max > x_min {
        (x_min, x_max, 0.0, y_top)
    } else if x_min.is_finite() {
        // One moment only: centred.
        (x_min - 1.0, x_min + 1.0, 0.0, y_top)
    } else {
        (0.0, 1.0, 0.0, y_top)
    }
}

/// The SVG polyline `points` of one series inside the plot area.
fn polyline(points: &[(f64, f64)], (x0, x1, y0, y1): (f64, f64, f64, f64)) -> String {
    let sx = (WIDTH - LEFT - RIGHT) / (x1 - x0);
    let sy = (HEIGHT - TOP - BOTTOM) / (y1 - y0);
    points
        .iter()
        .map(|(x, y)| {
            format!(
                "{:.1},{:.1}",
                LEFT + (x - x0) * sx,
                HEIGHT - BOTTOM - (y - y0) * sy
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A line chart of `series`; `x_label` formats x values for the axis (times, minutes...).
#[component]
pub fn LineChart(
    #[prop(into)] series: Signal<Vec<Series>>,
    /// Formats an x value for the axis.
    x_label: fn(f64) -> String,
    /// Accessible description of the chart.
    #[prop(into)]
    title: String,
) -> impl IntoView {
    let plot = move || {
        let series = series.get();
        let area = bounds(&series);
        let (x0, x1, _, y1) = area;
        let y_step = nice_step(y1, 4.0);
        let y_ticks: Vec<f64> = (0..)
            .map(|i| i as f64 * y_step)
            .take_while(|y| *y <= y1 + 1e-9)
            .collect();
        let x_ticks: Vec<f64> = (0..5).map(|i| x0 + (x1 - x0) * i as f64 / 4.0).collect();
        let y_of = move |y: f64| HEIGHT - BOTTOM - y / y1 * (HEIGHT - TOP - BOTTOM);
        let x_of = move |x: f64| LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT);
        let empty = series.iter().all(|s| s.points.is_empty());
        view! {
            <g class="chart-grid">
                {y_ticks
                    .into_iter()
                    .map(|y| {
                        view! {
                            <line x1=LEFT x2=WIDTH - RIGHT y1=y_of(y) y2=y_of(y)></line>
                            <text x=LEFT - 6.0 y=y_of(y) + 4.0 text-anchor="end">
                                {format!("{y}")}
                            </text>
                        }
                    })
                    .collect_view()}
                {x_ticks
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| {
                        let anchor = match i {
                            0 => "start",
                            4 => "end",
                            _ => "middle",
                        };
                        view! {
                            <text x=x_of(x) y=HEIGHT - 6.0 text-anchor=anchor>
                                {if empty { String::new() } else { x_label(x) }}
                            </text>
                        }
                    })
                    .collect_view()}
            </g>
            {series
                .into_iter()
                .map(|s| {
                    view! {
                        <polyline
                            class=format!("series series-{}", s.class)
                            points=polyline(&s.points, area)
                        >
                            <title>{s.name.clone()}</title>
                        </polyline>
                    }
                })
                .collect_view()}
        }
    };
    let legend = move || {
        series
            .get()
            .into_iter()
            .map(|s| {
                view! {
                    <span class=format!("legend-item series-{}", s.class)>
                        <i></i>
                        {s.name}
                    </span>
                }
            })
            .collect_view()
    };
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=title
                preserveAspectRatio="none"
            >
                {plot}
            </svg>
            <figcaption class="legend">{legend}</figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0, 4.0), 5.0);
        assert_eq!(nice_step(230.0, 4.0), 100.0);
        assert_eq!(nice_step(3.0, 4.0), 1.0);
    }

    #[test]
    fn points_fill_the_plot_area() {
        let s = vec![Series {
            name: "a".into(),
            class: "ready",
            points: vec![(0.0, 0.0), (10.0, 4.0)],
        }];
        let area = bounds(&s);
        assert_eq!(area, (0.0, 10.0, 0.0, 4.0));
        let line = polyline(&s[0].points, area);
        assert_eq!(
            line,
            format!(
                "{LEFT:.1},{:.1} {:.1},{TOP:.1}",
                HEIGHT - BOTTOM,
                WIDTH - RIGHT
            )
        );
    }
}
