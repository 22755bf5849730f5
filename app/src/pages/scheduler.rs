//! One scheduler: its spec, its versions (switch the active one), its live rooms.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::activity::{DecisionList, RoomHistoryChart};
use crate::components::capacity::CapacityCard;
use crate::components::common::{ErrorBox, StatusBadge, age, ago};
use crate::components::live::live;
use crate::domain::room::{GameRoom, RoomCounts};
use crate::domain::scheduler::{
    Container, Resources, SchedulerConfig, SchedulerState, SchedulerVersion,
};

/// What the scheduler page shows. Only the facts it shows travel, not the whole
/// `SchedulerConfig`, whose reader would weigh on the page's bundle; the JSON view of the spec
/// comes ready-made from the server, so the page needs no JSON serializer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerView {
    pub config: SchedulerFacts,
    pub state: SchedulerState,
    /// The active version.
    pub version: String,
    /// The active configuration as pretty-printed JSON.
    pub json: String,
    pub versions: Vec<SchedulerVersion>,
    /// Whether the signed-in user may change this scheduler.
    pub can_edit: bool,
    /// Whether it carries a capacity section (it then has a capacity page).
    pub has_capacity: bool,
}

/// The facts of a scheduler's configuration the page lists, as text where the page shows text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerFacts {
    pub name: String,
    pub game: String,
    pub rooms_replicas: i64,
    pub max_surge: String,
    /// `start–end`, or `none`.
    pub port_range: String,
    pub termination_grace_period: String,
    /// `name (address)` of each forwarder, or `none`.
    pub forwarders: String,
    pub containers: Vec<Container>,
}

impl From<&SchedulerConfig> for SchedulerFacts {
    fn from(config: &SchedulerConfig) -> Self {
        let forwarders = if config.forwarders.is_empty() {
            "none".to_string()
        } else {
            config
                .forwarders
                .iter()
                .map(|f| format!("{} ({})", f.name, f.address))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Self {
            name: config.name.clone(),
            game: config.game.clone(),
            rooms_replicas: config.rooms_replicas,
            max_surge: config.max_surge.clone(),
            port_range: config
                .port_range
                .map_or("none".to_string(), |r| format!("{}–{}", r.start, r.end)),
            termination_grace_period: config.spec.termination_grace_period.0.clone(),
            forwarders,
            containers: config.spec.containers.clone(),
        }
    }
}

/// The active version of a scheduler with its history.
#[server(endpoint = "scheduler_detail", output = crate::codec::JsonText)]
pub async fn scheduler_detail(name: String) -> Result<SchedulerView, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let schedulers = dashboard()?.schedulers;
    let scheduler = schedulers
        .get(&user, &name, None)
        .await
        .map_err(|e| reject(e.into()))?;
    let versions = schedulers.versions(&user, &name).await?;
    Ok(SchedulerView {
        can_edit: schedulers.can_configure(&user, &scheduler.config.game),
        has_capacity: scheduler.config.capacity.is_some(),
        json: serde_json::to_string_pretty(&scheduler.config).unwrap_or_default(),
        config: SchedulerFacts::from(&scheduler.config),
        state: scheduler.state,
        version: scheduler.version,
        versions,
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomsNow {
    /// The server's clock, to show ages the same on the server and in the browser.
    pub now: DateTime<Utc>,
    pub rooms: Vec<GameRoom>,
    /// How many rooms the controller aims for now (the autoscaler's answer, with autoscaling).
    pub desired: u32,
    /// The configured count, shown beside the desired one.
    pub rooms_replicas: i64,
}

/// The scheduler's rooms, oldest first, and how many it aims for.
#[server(endpoint = "scheduler_rooms", output = crate::codec::JsonText)]
pub async fn scheduler_rooms(name: String) -> Result<RoomsNow, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    rooms_now(&dashboard()?, &user, &name).await.map_err(reject)
}

/// What [`scheduler_rooms`] answers `user`: the server function's, and the live updates'.
#[cfg(feature = "ssr")]
pub async fn rooms_now(
    dashboard: &crate::auth::server::Dashboard,
    user: &crate::domain::user::User,
    name: &str,
) -> Result<RoomsNow, AppError> {
    let live = dashboard.schedulers.live_rooms(user, name).await?;
    Ok(RoomsNow {
        now: Utc::now(),
        rooms: live.rooms,
        desired: live.desired,
        rooms_replicas: live.rooms_replicas,
    })
}

/// The path of the live updates of scheduler `name`'s [`rooms_now`] (server-sent events).
pub fn live_rooms_path(name: &str) -> String {
    format!("/api/live/schedulers/{name}/rooms")
}

/// Makes another version active (a rollback or roll-forward).
#[server(endpoint = "switch_version", output = crate::codec::JsonText)]
pub async fn switch_version(name: String, version: String) -> Result<(), AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let schedulers = dashboard()?.schedulers;
    let change = schedulers
        .switch_version(&user, &name, &version)
        .await
        .map_err(|e| reject(e.into()))?;
    schedulers
        .settle(&user, change, crate::pages::scheduler_edit::SETTLE_TIMEOUT)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(())
}

#[component]
pub fn SchedulerPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let switch = ServerAction::<SwitchVersion>::new();
    let detail = Resource::new(
        move || (name(), switch.version().get()),
        |(name, _)| scheduler_detail(name),
    );
    let rooms = Resource::new(
        move || (name(), switch.version().get()),
        |(name, _)| scheduler_rooms(name),
    );
    // The rooms move as the server pushes them.
    let pushed = live::<RoomsNow>(move || live_rooms_path(&name()));
    Effect::new(move |_| {
        if let Some(latest) = pushed.get() {
            rooms.set(Some(Ok(latest)));
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                detail
                    .get()
                    .map(|result| match result {
                        Ok(detail) => view! { <Detail detail switch/> }.into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
        {move || {
            switch
                .value()
                .get()
                .and_then(Result::err)
                .map(|error| view! { <ErrorBox error/> })
        }}
        <section class="card" id="rooms">
            <h2>"Rooms"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    rooms
                        .get()
                        .map(|result| match result {
                            Ok(rooms) => view! { <RoomsTable rooms/> }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
        <CapacityCard name=Signal::derive(name)/>
        <RoomHistoryChart name=Signal::derive(name)/>
        <DecisionList name=Signal::derive(name)/>
    }
}

#[component]
fn Detail(detail: SchedulerView, switch: ServerAction<SwitchVersion>) -> impl IntoView {
    let SchedulerView {
        config,
        state,
        version,
        json,
        versions,
        can_edit,
        has_capacity,
    } = detail;
    let name = config.name.clone();
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    {config.game.clone()}
                </p>
                <h1>{name.clone()}</h1>
            </div>
            <div class="actions">
                <span class="badge version" data-active-version=version.clone()>
                    {version.clone()}
                </span>
                <span class=format!(
                    "badge state-{}",
                    state.as_str(),
                )>{state.as_str()}</span>
                <A href=format!("/ui/schedulers/{name}/operations") attr:class="button">
                    "Operations"
                </A>
                <A href=format!("/ui/schedulers/{name}/allocation") attr:class="button">
                    "Allocation"
                </A>
                {has_capacity
                    .then(|| {
                        view! {
                            <A href=format!("/ui/schedulers/{name}/capacity") attr:class="button">
                                "Capacity"
                            </A>
                        }
                    })}
                {can_edit
                    .then(|| {
                        view! {
                            <A href=format!("/ui/schedulers/{name}/autoscaling") attr:class="button">
                                "Autoscaling"
                            </A>
                            <A href=format!("/ui/schedulers/{name}/edit") attr:class="button primary">
                                "Edit"
                            </A>
                        }
                    })}
            </div>
        </div>
        <div class="columns">
            <section class="card" id="spec">
                <h2>"Spec"</h2>
                <dl class="facts">
                    <dt>"Game"</dt>
                    <dd>{config.game.clone()}</dd>
                    <dt>"Rooms (roomsReplicas)"</dt>
                    <dd>{config.rooms_replicas}</dd>
                    <dt>"Max surge"</dt>
                    <dd>{config.max_surge.clone()}</dd>
                    <dt>"Port range"</dt>
                    <dd>{config.port_range}</dd>
                    <dt>"Termination grace period"</dt>
                    <dd>{config.termination_grace_period}</dd>
                    <dt>"Forwarders"</dt>
                    <dd>{config.forwarders}</dd>
                </dl>
                {config.containers.iter().map(container_view).collect_view()}
                <details>
                    <summary>"JSON"</summary>
                    <pre class="json">{json}</pre>
                </details>
            </section>
            <section class="card" id="versions">
                <h2>"Versions"</h2>
                <table class="grid">
                    <thead>
                        <tr>
                            <th>"Version"</th>
                            <th>"Created"</th>
                            <th></th>
                        </tr>
                    </thead>
                    <tbody>
                        {versions
                            .into_iter()
                            .rev()
                            .map(|v| {
                                let name = name.clone();
                                let version = v.version.clone();
                                let key = v.version.clone();
                                view! {
                                    <tr data-version=key>
                                        <td>{v.version}</td>
                                        <td>{v.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</td>
                                        <td class="right">
                                            {if v.is_active {
                                                view! { <span class="badge active">"active"</span> }.into_any()
                                            } else if can_edit {
                                                view! {
                                                    <ActionForm action=switch attr:class="inline">
                                                        <input type="hidden" name="name" value=name/>
                                                        <input type="hidden" name="version" value=version/>
                                                        <button type="submit" class="button small">
                                                            "Make active"
                                                        </button>
                                                    </ActionForm>
                                                }
                                                    .into_any()
                                            } else {
                                                ().into_any()
                                            }}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
    }
}

fn resources(resources: &Option<Resources>) -> String {
    match resources {
        Some(r) if !r.cpu.is_empty() || !r.memory.is_empty() => {
            let mut parts = Vec::new();
            if !r.cpu.is_empty() {
                parts.push(format!("cpu {}", r.cpu));
            }
            if !r.memory.is_empty() {
                parts.push(format!("memory {}", r.memory));
            }
            parts.join(", ")
        }
        _ => "—".to_string(),
    }
}

fn container_view(container: &Container) -> impl IntoView + use<> {
    let ports = container
        .ports
        .iter()
        .map(|p| format!("{} {}/{}", p.name, p.port, p.protocol))
        .collect::<Vec<_>>()
        .join(", ");
    let env = container
        .environment
        .iter()
        .map(|e| format!("{}={}", e.name, e.value))
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <div class="container-spec">
            <h3>"Container " {container.name.clone()}</h3>
            <dl class="facts">
                <dt>"Image"</dt>
                <dd>{container.image.clone()} " (" {container.image_pull_policy.clone()} ")"</dd>
                <dt>"Command"</dt>
                <dd>
                    <code>{container.command.join(" ")}</code>
                </dd>
                <dt>"Environment"</dt>
                <dd>
                    <code>{env}</code>
                </dd>
                <dt>"Ports"</dt>
                <dd>{ports}</dd>
                <dt>"Requests"</dt>
                <dd>{resources(&container.requests)}</dd>
                <dt>"Limits"</dt>
                <dd>{resources(&container.limits)}</dd>
            </dl>
        </div>
    }
}

#[component]
fn RoomsTable(rooms: RoomsNow) -> impl IntoView {
    let RoomsNow {
        now,
        rooms,
        desired,
        rooms_replicas,
    } = rooms;
    let mut counts = RoomCounts::default();
    for room in &rooms {
        counts.add(room.status);
    }
    let summary = view! {
        <p class="room-counts" data-desired=desired data-live=counts.live()>
            <strong>{counts.live()}</strong>
            " live ("
            {counts.ready}
            " ready, "
            {counts.occupied}
            " occupied, "
            {counts.pending + counts.unready}
            " starting), "
            {counts.error}
            " in error, "
            {counts.terminating}
            " terminating · desired "
            <strong>{desired}</strong>
            " (roomsReplicas "
            {rooms_replicas}
            ")"
        </p>
    };
    if rooms.is_empty() {
        return view! {
            {summary}
            <p class="muted">"No rooms."</p>
        }
        .into_any();
    }
    view! {
        {summary}
        <table class="grid rooms">
            <thead>
                <tr>
                    <th>"Room"</th>
                    <th>"Status"</th>
                    <th>"Version"</th>
                    <th>"Age"</th>
                    <th>"Last ping"</th>
                    <th>"Address"</th>
                    <th class="num">"Matches"</th>
                </tr>
            </thead>
            <tbody>
                {rooms
                    .into_iter()
                    .map(|room| {
                        let address = room
                            .address
                            .as_ref()
                            .map(|a| {
                                let ports = a
                                    .ports
                                    .iter()
                                    .map(|p| format!("{}:{}/{}", a.host, p.port, p.protocol))
                                    .collect::<Vec<_>>();
                                if ports.is_empty() { a.host.clone() } else { ports.join(", ") }
                            })
                            .unwrap_or_else(|| "—".to_string());
                        view! {
                            <tr data-room=room.id.clone() data-status=room.status.as_str()>
                                <td>
                                    <a href=format!("/ui/schedulers/{}/rooms/{}", room.scheduler, room.id)>
                                        <code>{room.id.clone()}</code>
                                    </a>
                                </td>
                                <td>
                                    <StatusBadge status=room.status/>
                                    {room
                                        .status_reason
                                        .clone()
                                        .map(|reason| {
                                            view! { <div class="muted status-reason">{reason}</div> }
                                        })}
                                </td>
                                <td>{room.version.clone()}</td>
                                <td>{age(now, room.created_at)}</td>
                                <td>{room.last_ping_at.map_or("never".to_string(), |t| ago(now, t))}</td>
                                <td>{address}</td>
                                <td class="num">{room.running_matches}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
        .into_any()
}
