//! One room: its lifecycle as a timeline, where players reach it, its last ping, its claims and
//! match metadata, and the last lines its instance printed. Rendered on the server, then
//! followed as the server pushes it (server-sent events at [`live_room_path`], read once a
//! second through [`room_now`], as the server function is), and its timeline keeps what it saw:
//! the store keeps only a room's current status, so the statuses a room went through, the claims
//! that closed and its removal show as they happen while the page is open
//! (`domain::room_timeline::observe`).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::common::{ErrorBox, StatusBadge, age, ago};
use crate::components::live::live;
use crate::domain::room::RoomStatus;
use crate::domain::room_timeline::{RoomEvent, TimelineEntry, observe};

/// A claim as the dashboard shows it, its match metadata as JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimRow {
    pub id: String,
    pub room: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub metadata: String,
}

/// The room's facts the page shows, as text where the page shows text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomFacts {
    pub id: String,
    pub version: String,
    pub status: RoomStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
    pub last_ping_at: Option<DateTime<Utc>>,
    pub running_matches: u32,
    /// Empty while unknown.
    pub host: String,
    /// `name port/protocol` of each port.
    pub ports: Vec<String>,
    pub region: String,
    pub machine: String,
    /// What the room reported in its pings, as pretty JSON (`{}` when nothing).
    pub metadata: String,
}

/// What the room page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomPage {
    /// The server's clock, for relative times and for the timeline's observations.
    pub now: DateTime<Utc>,
    /// `None`: not (or no longer) in the store.
    pub room: Option<RoomFacts>,
    pub claims: Vec<ClaimRow>,
    pub timeline: Vec<TimelineEntry>,
    /// The last lines the instance printed, secrets hidden.
    pub logs: Vec<String>,
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use crate::domain::allocation::Claim;
    use crate::domain::room::GameRoom;

    pub fn claim_row(claim: Claim) -> ClaimRow {
        ClaimRow {
            metadata: serde_json::to_string(&claim.metadata).unwrap_or_default(),
            id: claim.id,
            room: claim.room,
            created_at: claim.created_at,
            expires_at: claim.expires_at,
        }
    }

    pub fn room_facts(room: GameRoom) -> RoomFacts {
        let (host, ports) = match room.address {
            Some(address) => (
                address.host,
                address
                    .ports
                    .iter()
                    .map(|p| format!("{} {}/{}", p.name, p.port, p.protocol))
                    .collect(),
            ),
            None => (String::new(), Vec::new()),
        };
        RoomFacts {
            metadata: serde_json::to_string_pretty(&room.metadata).unwrap_or_default(),
            id: room.id,
            version: room.version,
            status: room.status,
            status_reason: room.status_reason,
            created_at: room.created_at,
            status_changed_at: room.status_changed_at,
            last_ping_at: room.last_ping_at,
            running_matches: room.running_matches,
            host,
            ports,
            region: room.region,
            machine: room.machine,
        }
    }
}
#[cfg(feature = "ssr")]
pub use convert::{claim_row, room_facts};

/// Room `room` of scheduler `name`, for readers of its game.
#[server(endpoint = "room_detail", output = crate::codec::JsonText)]
pub async fn room_detail(name: String, room: String) -> Result<RoomPage, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    room_now(&dashboard()?, &user, &name, &room)
        .await
        .map_err(reject)
}

/// What [`room_detail`] answers `user`: the server function's, and the live updates'.
#[cfg(feature = "ssr")]
pub async fn room_now(
    dashboard: &crate::auth::server::Dashboard,
    user: &crate::domain::user::User,
    name: &str,
    room: &str,
) -> Result<RoomPage, AppError> {
    let detail = dashboard.rooms.detail(user, name, room).await?;
    Ok(RoomPage {
        now: Utc::now(),
        room: detail.room.map(room_facts),
        claims: detail.claims.into_iter().map(claim_row).collect(),
        timeline: detail.timeline,
        logs: detail.logs,
    })
}

/// The path of the live updates of room `room` of scheduler `name` ([`room_now`], server-sent
/// events).
pub fn live_room_path(name: &str, room: &str) -> String {
    format!("/api/live/schedulers/{name}/rooms/{room}")
}

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let room = move || params.with(|p| p.get("room").unwrap_or_default());
    let detail = Resource::new(
        move || (name(), room()),
        |(name, room)| room_detail(name, room),
    );
    // The room moves as the server pushes it.
    let pushed = live::<RoomPage>(move || live_room_path(&name(), &room()));
    Effect::new(move |_| {
        if let Some(latest) = pushed.get() {
            detail.set(Some(Ok(latest)));
        }
    });
    // What this page saw of the room's life so far (the store keeps only its present).
    let seen = RwSignal::new(Vec::<TimelineEntry>::new());
    Effect::new(move |_| {
        if let Some(Ok(page)) = detail.get() {
            let latest = page.room.as_ref().map(|_| page.timeline.as_slice());
            seen.update(|seen| *seen = observe(seen, latest, page.now));
        }
    });
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    <a href=move || format!("/ui/schedulers/{}", name())>{name}</a>
                    " / rooms"
                </p>
                <h1>{room}</h1>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                detail
                    .get()
                    .map(|result| match result {
                        Ok(page) => {
                            let latest = page.room.as_ref().map(|_| page.timeline.as_slice());
                            let timeline = observe(&seen.get_untracked(), latest, page.now);
                            view! { <RoomView page timeline/> }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn RoomView(page: RoomPage, timeline: Vec<TimelineEntry>) -> impl IntoView {
    let RoomPage {
        now,
        room,
        claims,
        logs,
        ..
    } = page;
    let facts = match room {
        Some(room) => view! { <Facts room now/> }.into_any(),
        None => view! {
            <p class="muted" data-testid="room-gone">
                "This room is not in the store: it was removed (it terminated, crashed or was \
                 replaced) or never existed. Its last output shows below if its runtime kept it."
            </p>
        }
        .into_any(),
    };
    view! {
        <div class="columns">
            <section class="card" id="room-facts">
                <h2>"Room"</h2>
                {facts}
            </section>
            <section class="card" id="room-timeline">
                <h2>"Timeline"</h2>
                <Timeline entries=timeline now/>
                <p class="muted note">
                    "The store keeps a room's present only: earlier statuses, closed claims and the \
                     room's removal appear here as this page sees them (the server pushes each \
                     change while it is open)."
                </p>
            </section>
        </div>
        <section class="card" id="room-claims">
            <h2>"Claims"</h2>
            <ClaimsTable claims now/>
        </section>
        <section class="card" id="room-logs">
            <h2>"Output"</h2>
            <p class="muted note">
                "The last lines the room's instance printed (secrets hidden), as the server \
                 pushes them while this page is open."
            </p>
            {if logs.is_empty() {
                view! { <p class="muted" data-testid="room-logs-empty">"No output kept."</p> }
                    .into_any()
            } else {
                view! { <pre class="json room-logs" data-testid="room-logs">{logs.join("\n")}</pre> }
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn Facts(room: RoomFacts, now: DateTime<Utc>) -> impl IntoView {
    let ports = if room.ports.is_empty() {
        "—".to_string()
    } else {
        room.ports.join(", ")
    };
    let or_dash = |text: String| {
        if text.is_empty() {
            "—".to_string()
        } else {
            text
        }
    };
    let has_metadata = room.metadata != "{}";
    view! {
        <dl class="facts" data-room=room.id data-status=room.status.as_str()>
            <dt>"Status"</dt>
            <dd>
                <StatusBadge status=room.status/>
                " since "
                {ago(now, room.status_changed_at)}
                {room
                    .status_reason
                    .map(|reason| view! { <div class="muted status-reason">{reason}</div> })}
            </dd>
            <dt>"Version"</dt>
            <dd>{room.version}</dd>
            <dt>"Age"</dt>
            <dd>{age(now, room.created_at)}</dd>
            <dt>"Last ping"</dt>
            <dd data-testid="last-ping">
                {room
                    .last_ping_at
                    .map_or("never".to_string(), |at| {
                        format!("{} ({})", ago(now, at), at.format("%H:%M:%S UTC"))
                    })}
            </dd>
            <dt>"Host"</dt>
            <dd data-testid="room-host">{or_dash(room.host)}</dd>
            <dt>"Ports"</dt>
            <dd data-testid="room-ports">{ports}</dd>
            <dt>"Region"</dt>
            <dd>{or_dash(room.region)}</dd>
            <dt>"Machine"</dt>
            <dd>{or_dash(room.machine)}</dd>
            <dt>"Running matches"</dt>
            <dd>{room.running_matches}</dd>
        </dl>
        <details open=has_metadata>
            <summary>"Metadata (as the room last pinged it)"</summary>
            <pre class="json">{room.metadata}</pre>
        </details>
    }
}

/// What an entry says beyond its name.
fn detail(event: &RoomEvent, now: DateTime<Utc>) -> String {
    match event {
        RoomEvent::Created { version } => format!("from version {version}"),
        RoomEvent::Status { reason, .. } => reason.clone().unwrap_or_default(),
        RoomEvent::Claimed { claim, expires_at } => {
            let expiry = if *expires_at > now {
                format!("expires in {}", age(*expires_at, now))
            } else {
                "expired".to_string()
            };
            format!("claim {claim}, {expiry} unless the room confirms it")
        }
        RoomEvent::ClaimClosed { claim } => {
            format!("claim {claim}: confirmed, released or expired")
        }
        RoomEvent::Gone => "no longer in the store".to_string(),
    }
}

#[component]
fn Timeline(entries: Vec<TimelineEntry>, now: DateTime<Utc>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted">"Nothing seen of this room."</p> }.into_any();
    }
    view! {
        <ol class="timeline">
            {entries
                .into_iter()
                .map(|entry| {
                    let name = entry.event.name();
                    let badge = match &entry.event {
                        RoomEvent::Status { status, .. } => format!("badge status-{}", status.as_str()),
                        _ => "badge".to_string(),
                    };
                    view! {
                        <li data-event=name>
                            <time datetime=entry.at.to_rfc3339()>
                                {entry.at.format("%H:%M:%S").to_string()}
                            </time>
                            " "
                            <span class=badge>{name}</span>
                            " "
                            <span class="muted">{detail(&entry.event, now)}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}

/// A table of open claims: id, when claimed, expiry, match metadata.
#[component]
pub fn ClaimsTable(claims: Vec<ClaimRow>, now: DateTime<Utc>) -> impl IntoView {
    if claims.is_empty() {
        return view! { <p class="muted">"No open claims."</p> }.into_any();
    }
    view! {
        <table class="grid claims">
            <thead>
                <tr>
                    <th>"Claim"</th>
                    <th>"Claimed"</th>
                    <th>"Expires"</th>
                    <th>"Match metadata"</th>
                </tr>
            </thead>
            <tbody>
                {claims
                    .into_iter()
                    .map(|claim| {
                        let expiry = if claim.expires_at > now {
                            format!("in {}", age(claim.expires_at, now))
                        } else {
                            "expired".to_string()
                        };
                        let key = claim.id.clone();
                        view! {
                            <tr data-claim=key>
                                <td>
                                    <code>{claim.id}</code>
                                </td>
                                <td>{ago(now, claim.created_at)}</td>
                                <td>{expiry}</td>
                                <td>
                                    <code>{claim.metadata}</code>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
