//! A scheduler's operations: the running one with its progress, the waiting ones, the latest
//! finished ones, each with its history; editors cancel from here. Rendered on the server, then
//! followed as the server pushes it (server-sent events at [`live_operations_path`], read once a
//! second through [`operations_now`], as the server function is). The rules (who reads, who
//! cancels, what the progress is) live in `services::operations`, shared with
//! `GET /schedulers/{name}/operations`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::common::{ErrorBox, ago};
use crate::components::live::live;
use crate::domain::operation::{OperationEvent, OperationStatus};
use crate::domain::rollout::progress::RolloutProgress;

/// How many finished operations the page lists (the newest).
pub const FINISHED_SHOWN: u32 = 20;

/// One operation as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationRow {
    pub id: String,
    /// Maestro's name of what it does (`create_new_scheduler_version`, ...).
    pub definition: String,
    /// Its input as JSON text.
    pub input: String,
    pub status: OperationStatus,
    pub created_at: DateTime<Utc>,
    /// A cancel was asked for and the runner has not stopped yet.
    pub cancel_requested: bool,
    pub history: Vec<OperationEvent>,
    /// While a rollout runs.
    pub progress: Option<RolloutProgress>,
}

/// The scheduler's operations by stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationsView {
    /// The server's clock, so the server and the browser render the same ages.
    pub now: DateTime<Utc>,
    /// Whether the signed-in user may cancel (the server function checks again).
    pub can_cancel: bool,
    pub running: Vec<OperationRow>,
    /// In the order they will run.
    pub pending: Vec<OperationRow>,
    /// The newest first, at most [`FINISHED_SHOWN`].
    pub finished: Vec<OperationRow>,
    pub finished_total: u64,
}

/// The scheduler's running, pending and latest finished operations.
#[server(endpoint = "scheduler_operations", output = crate::codec::JsonText)]
pub async fn scheduler_operations(name: String) -> Result<OperationsView, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    operations_now(&dashboard()?, &user, &name)
        .await
        .map_err(reject)
}

/// What [`scheduler_operations`] answers `user`: the server function's, and the live updates'.
#[cfg(feature = "ssr")]
pub async fn operations_now(
    dashboard: &crate::auth::server::Dashboard,
    user: &crate::domain::user::User,
    name: &str,
) -> Result<OperationsView, AppError> {
    use crate::domain::operation::{OperationOrder, Stage};
    use crate::services::operations::MAX_PER_PAGE;

    let schedulers = &dashboard.schedulers;
    let scheduler = schedulers.get(user, name, None).await?;
    let mut view = OperationsView {
        now: Utc::now(),
        can_cancel: schedulers.can_cancel(user, &scheduler.config.game),
        running: Vec::new(),
        pending: Vec::new(),
        finished: Vec::new(),
        finished_total: 0,
    };
    for (stage, order, per_page) in [
        (Stage::Active, OperationOrder::OldestFirst, MAX_PER_PAGE),
        (Stage::Pending, OperationOrder::OldestFirst, MAX_PER_PAGE),
        (Stage::Final, OperationOrder::NewestFirst, FINISHED_SHOWN),
    ] {
        let page = schedulers
            .operations(user, name, Some(stage), order, 1, per_page)
            .await?;
        let mut rows = Vec::with_capacity(page.operations.len());
        for operation in page.operations {
            let progress = schedulers.progress(user, name, &operation).await?;
            rows.push(OperationRow {
                definition: operation.definition.name().to_string(),
                input: operation.definition.input().to_string(),
                cancel_requested: operation.cancel_requested && !operation.status.is_final(),
                id: operation.id,
                status: operation.status,
                created_at: operation.created_at,
                history: operation.history,
                progress,
            });
        }
        match stage {
            Stage::Active => view.running = rows,
            Stage::Pending => view.pending = rows,
            Stage::Final => {
                view.finished = rows;
                view.finished_total = page.total;
            }
        }
    }
    Ok(view)
}

/// The path of the live updates of scheduler `name`'s operations ([`operations_now`],
/// server-sent events).
pub fn live_operations_path(name: &str) -> String {
    format!("/api/live/schedulers/{name}/operations")
}

/// Cancels an operation (editors only): a pending one at once, a running one at its next step.
/// Answers its status right after the request.
#[server(endpoint = "cancel_operation", output = crate::codec::JsonText)]
pub async fn cancel_operation(name: String, id: String) -> Result<OperationStatus, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let operation = dashboard()?
        .schedulers
        .cancel(&user, &name, &id)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(operation.status)
}

#[component]
pub fn OperationsPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let cancel = ServerAction::<CancelOperation>::new();
    let operations = Resource::new(
        move || (name(), cancel.version().get()),
        |(name, _)| scheduler_operations(name),
    );
    // The operations move as the server pushes them.
    let pushed = live::<OperationsView>(move || live_operations_path(&name()));
    Effect::new(move |_| {
        if let Some(latest) = pushed.get() {
            operations.set(Some(Ok(latest)));
        }
    });
    // The histories opened, kept open across updates.
    let open = RwSignal::new(HashSet::<String>::new());
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    <a href=move || format!("/ui/schedulers/{}", name())>{name}</a>
                </p>
                <h1>"Operations"</h1>
            </div>
        </div>
        {move || {
            cancel.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error/> })
        }}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                operations
                    .get()
                    .map(|result| match result {
                        Ok(operations) => {
                            view! { <Stages operations cancel open name=name()/> }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn Stages(
    operations: OperationsView,
    cancel: ServerAction<CancelOperation>,
    open: RwSignal<HashSet<String>>,
    name: String,
) -> impl IntoView {
    let OperationsView {
        now,
        can_cancel,
        running,
        pending,
        finished,
        finished_total,
    } = operations;
    let shown = finished.len();
    let list = move |rows: Vec<OperationRow>, empty: &'static str| {
        if rows.is_empty() {
            return view! { <p class="muted">{empty}</p> }.into_any();
        }
        rows.into_iter()
            .map(|row| {
                let name = name.clone();
                view! { <OperationItem row now can_cancel cancel open name/> }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <section class="card" id="running">
            <h2>"Running"</h2>
            {list(running, "Nothing is running.")}
        </section>
        <section class="card" id="pending">
            <h2>"Pending"</h2>
            {list(pending, "Nothing is waiting.")}
        </section>
        <section class="card" id="finished">
            <h2>"Finished"</h2>
            {(finished_total > shown as u64)
                .then(|| {
                    view! { <p class="muted">"The newest " {shown} " of " {finished_total} "."</p> }
                })}
            {list(finished, "No operation has ended yet.")}
        </section>
    }
}

#[component]
fn OperationItem(
    row: OperationRow,
    now: DateTime<Utc>,
    can_cancel: bool,
    cancel: ServerAction<CancelOperation>,
    open: RwSignal<HashSet<String>>,
    name: String,
) -> impl IntoView {
    let OperationRow {
        id,
        definition,
        input,
        status,
        created_at,
        cancel_requested,
        history,
        progress,
    } = row;
    let cancelable = can_cancel && !status.is_final() && !cancel_requested;
    let is_open = open.with_untracked(|o| o.contains(&id));
    let toggled = id.clone();
    let key = id.clone();
    let shown_id = id.clone();
    let events = history.len();
    view! {
        <article class="operation" data-operation=key data-status=status.as_str()>
            <div class="operation-head">
                <span class=format!(
                    "badge op-{}",
                    status.as_str(),
                )>{status.as_str().replace('_', " ")}</span>
                <strong>{definition}</strong>
                {(input != "{}").then(|| view! { <code class="muted">{input}</code> })}
                <span class="muted">{ago(now, created_at)}</span>
                {cancel_requested.then(|| view! { <span class="badge">"cancel requested"</span> })}
                {cancelable
                    .then(|| {
                        view! {
                            <ActionForm action=cancel attr:class="inline">
                                <input type="hidden" name="name" value=name/>
                                <input type="hidden" name="id" value=id/>
                                <button type="submit" class="button small danger">
                                    "Cancel"
                                </button>
                            </ActionForm>
                        }
                    })}
            </div>
            {progress.map(progress_view)}
            <details
                open=is_open
                on:toggle=move |ev| {
                    let now_open = event_target::<leptos::web_sys::HtmlDetailsElement>(&ev).open();
                    open.update(|o| {
                        if now_open {
                            o.insert(toggled.clone());
                        } else {
                            o.remove(&toggled);
                        }
                    });
                }
            >
                <summary>"History (" {events} ")"</summary>
                <ol class="history">
                    {history
                        .into_iter()
                        .map(|event| {
                            view! {
                                <li>
                                    <span class="when">
                                        {event.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}
                                    </span>
                                    " "
                                    {event.event}
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            </details>
            <p class="muted id">
                <code>{shown_id}</code>
            </p>
        </article>
    }
}

fn progress_view(progress: RolloutProgress) -> impl IntoView {
    let percent = progress.percent();
    let label = format!("{percent}% of the rooms on {}", progress.version);
    let phase = if progress.validating {
        format!("Validating {} with one room", progress.version)
    } else {
        format!("Rolling out {}", progress.version)
    };
    view! {
        <div
            class="rollout"
            data-old=progress.old_rooms
            data-new=progress.new_rooms
            data-ready=progress.ready
            data-floor=progress.ready_floor
        >
            <progress max="100" value=percent aria-label=label>
                {percent}
                "%"
            </progress>
            <p>
                {phase}
                ": "
                <strong>{progress.new_rooms}</strong>
                " rooms on the new version ("
                {progress.new_ready}
                " ready), "
                <strong>{progress.old_rooms}</strong>
                " on older versions left to replace · ready "
                <strong>{progress.ready}</strong>
                " (floor "
                {progress.ready_floor}
                ")"
            </p>
        </div>
    }
}
