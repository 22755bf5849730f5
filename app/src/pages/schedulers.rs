//! Every scheduler, grouped by game, with live room counts.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::common::ErrorBox;
use crate::components::layout::use_me;
use crate::components::live::live;
use crate::domain::room::RoomCounts;
use crate::domain::scheduler::SchedulerState;
use crate::domain::user::Role;

/// One line of the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerRow {
    pub name: String,
    pub game: String,
    pub version: String,
    pub state: SchedulerState,
    pub replicas: i64,
    pub counts: RoomCounts,
}

/// The schedulers the user may read, with their room counts, by game then name.
#[server(endpoint = "list_schedulers", output = crate::codec::JsonText)]
pub async fn list_schedulers() -> Result<Vec<SchedulerRow>, AppError> {
    use crate::auth::server::{dashboard, require_user};

    scheduler_rows(&dashboard()?, &require_user().await?).await
}

/// What [`list_schedulers`] answers `user`: the server function's, and the live updates'.
#[cfg(feature = "ssr")]
pub async fn scheduler_rows(
    dashboard: &crate::auth::server::Dashboard,
    user: &crate::domain::user::User,
) -> Result<Vec<SchedulerRow>, AppError> {
    let schedulers = dashboard.schedulers.info(user, None).await?;
    let mut rows: Vec<SchedulerRow> = schedulers
        .into_iter()
        .map(|(s, counts)| SchedulerRow {
            name: s.config.name,
            game: s.config.game,
            version: s.version,
            state: s.state,
            replicas: s.config.rooms_replicas,
            counts,
        })
        .collect();
    rows.sort_by(|a, b| (&a.game, &a.name).cmp(&(&b.game, &b.name)));
    Ok(rows)
}

/// The path of the live updates of [`scheduler_rows`] (server-sent events).
pub const LIVE_SCHEDULERS: &str = "/api/live/schedulers";

/// Rows grouped by game, in order.
fn by_game(rows: Vec<SchedulerRow>) -> Vec<(String, Vec<SchedulerRow>)> {
    let mut groups: Vec<(String, Vec<SchedulerRow>)> = Vec::new();
    for row in rows {
        match groups.last_mut() {
            Some((game, list)) if *game == row.game => list.push(row),
            _ => groups.push((row.game.clone(), vec![row])),
        }
    }
    groups
}

#[component]
pub fn SchedulersPage() -> impl IntoView {
    let rows = Resource::new(|| (), |_| list_schedulers());
    // The counts move as the server pushes them.
    let pushed = live::<Vec<SchedulerRow>>(|| LIVE_SCHEDULERS.to_string());
    Effect::new(move |_| {
        if let Some(latest) = pushed.get() {
            rows.set(Some(Ok(latest)));
        }
    });
    let may_create = move || use_me().is_some_and(|u| u.role != Role::Viewer);
    view! {
        <div class="page-head">
            <h1>"Schedulers"</h1>
            <Transition fallback=|| ()>
                {move || {
                    may_create()
                        .then(|| {
                            view! {
                                <A href="/ui/new-scheduler" attr:class="button primary">
                                    "New scheduler"
                                </A>
                            }
                        })
                }}
            </Transition>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                rows.get()
                    .map(|result| match result {
                        Ok(rows) if rows.is_empty() => {
                            view! { <p class="card muted">"No schedulers yet."</p> }.into_any()
                        }
                        Ok(rows) => {
                            by_game(rows)
                                .into_iter()
                                .map(|(game, rows)| view! { <GameSchedulers game rows/> })
                                .collect_view()
                                .into_any()
                        }
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn GameSchedulers(game: String, rows: Vec<SchedulerRow>) -> impl IntoView {
    let title = game.clone();
    view! {
        <section class="card game" data-game=game>
            <h2>{title}</h2>
            <table class="grid">
                <thead>
                    <tr>
                        <th>"Scheduler"</th>
                        <th>"Version"</th>
                        <th>"State"</th>
                        <th class="num">"Replicas"</th>
                        <th class="num">"Ready"</th>
                        <th class="num">"Occupied"</th>
                        <th class="num">"Pending"</th>
                        <th class="num">"Terminating"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| {
                            let href = format!("/ui/schedulers/{}", row.name);
                            let key = row.name.clone();
                            view! {
                                <tr data-scheduler=key>
                                    <td>
                                        <a href=href>{row.name}</a>
                                    </td>
                                    <td>{row.version}</td>
                                    <td>
                                        <span class=format!(
                                            "badge state-{}",
                                            row.state.as_str(),
                                        )>{row.state.as_str()}</span>
                                    </td>
                                    <td class="num">{row.replicas}</td>
                                    <td class="num ready">{row.counts.ready}</td>
                                    <td class="num occupied">{row.counts.occupied}</td>
                                    <td class="num pending">
                                        {row.counts.pending + row.counts.unready}
                                    </td>
                                    <td class="num terminating">{row.counts.terminating}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}
