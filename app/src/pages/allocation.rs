//! A scheduler's allocations: the rooms matchmakers have, with their open claims and expiry,
//! (for editors of the game) a button that allocates one room by hand, as a matchmaker would
//! (`POST /schedulers/{name}/allocations`: the same use case), and allocations and refusals per
//! second over a chosen window (`rate`). The list is read again every 2 seconds while the page
//! is open.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::common::{ErrorBox, StatusBadge, age, ago, refresh_every};
use crate::domain::room::RoomStatus;
use crate::pages::room::ClaimRow;

/// How often the page asks again.
const REFRESH: Duration = Duration::from_secs(2);

pub mod rate;
use rate::AllocationRateChart;

/// A room matchmakers have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocatedRoom {
    pub id: String,
    pub status: RoomStatus,
    pub running_matches: u32,
    /// `host:port/protocol` of each port, or the host; empty while unknown.
    pub address: String,
    pub claims: Vec<ClaimRow>,
}

/// The allocated rooms now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationView {
    /// The server's clock, for relative times.
    pub now: DateTime<Utc>,
    pub rooms: Vec<AllocatedRoom>,
}

/// The claim a hand allocation got, and where its room is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandAllocation {
    pub claim: ClaimRow,
    pub address: String,
    pub region: String,
}

#[cfg(feature = "ssr")]
fn address_text(address: Option<&crate::domain::room::RoomAddress>) -> String {
    address
        .map(|a| {
            let ports: Vec<String> = a
                .ports
                .iter()
                .map(|p| format!("{}:{}/{}", a.host, p.port, p.protocol))
                .collect();
            if ports.is_empty() {
                a.host.clone()
            } else {
                ports.join(", ")
            }
        })
        .unwrap_or_default()
}

/// The scheduler's allocated rooms with their open claims, for readers of its game.
#[server(endpoint = "scheduler_allocations", output = crate::codec::JsonText)]
pub async fn scheduler_allocations(name: String) -> Result<AllocationView, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};
    use crate::pages::room::claim_row;

    let user = require_user().await?;
    let allocated = dashboard()?
        .schedulers
        .allocated(&user, &name)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(AllocationView {
        now: Utc::now(),
        rooms: allocated
            .into_iter()
            .map(|(room, claims)| AllocatedRoom {
                address: address_text(room.address.as_ref()),
                id: room.id,
                status: room.status,
                running_matches: room.running_matches,
                claims: claims.into_iter().map(claim_row).collect(),
            })
            .collect(),
    })
}

/// Whether the signed-in user may allocate rooms of scheduler `name` (editors of its game,
/// administrators), for readers of its game.
#[server(endpoint = "can_allocate", output = crate::codec::JsonText)]
pub async fn can_allocate(name: String) -> Result<bool, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    dashboard()?
        .schedulers
        .may_allocate(&user, &name)
        .await
        .map_err(|e| reject(e.into()))
}

/// Allocates one room of scheduler `name` by hand, with optional match `metadata` (JSON), as
/// the allocation API does; only editors of the game may.
#[server(endpoint = "allocate_room", output = crate::codec::JsonText)]
pub async fn allocate_room(name: String, metadata: String) -> Result<HandAllocation, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};
    use crate::pages::room::claim_row;
    use crate::services::allocation::ClaimRequest;

    let user = require_user().await?;
    let metadata = match metadata.trim() {
        "" => None,
        text => Some(serde_json::from_str(text).map_err(|e| {
            reject(AppError::invalid(
                "metadata",
                &format!("must be JSON (e.g. {{\"match\": \"m1\"}}): {e}"),
            ))
        })?),
    };
    let request = ClaimRequest {
        metadata,
        ..ClaimRequest::default()
    };
    let allocation = dashboard()?
        .schedulers
        .allocate(&user, &name, request, Utc::now())
        .await
        .map_err(|e| reject(e.into()))?
        .ok_or_else(|| {
            reject(AppError::Conflict(format!(
                "no room of scheduler {name} is free"
            )))
        })?;
    Ok(HandAllocation {
        address: address_text(allocation.address.as_ref()),
        region: allocation.region,
        claim: claim_row(allocation.claim),
    })
}

#[component]
pub fn AllocationPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let allocate = ServerAction::<AllocateRoom>::new();
    // The form stays put while the list below refreshes (what is typed in it is kept).
    let may_allocate = Resource::new(name, can_allocate);
    let allocated = Resource::new(
        move || (name(), allocate.version().get()),
        |(name, _)| scheduler_allocations(name),
    );
    refresh_every(REFRESH, move || allocated.refetch());
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    <a href=move || format!("/ui/schedulers/{}", name())>{name}</a>
                </p>
                <h1>"Allocation"</h1>
            </div>
        </div>
        <Transition fallback=|| ()>
            {move || {
                may_allocate
                    .get()
                    .map(|result| match result {
                        Ok(true) => view! { <AllocateForm name=name() allocate/> }.into_any(),
                        Ok(false) => ().into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
        <section class="card" id="allocated-rooms">
            <h2>"Allocated rooms"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    allocated
                        .get()
                        .map(|result| match result {
                            Ok(data) => view! { <AllocatedRooms data name=name()/> }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        })
                }}
            </Transition>
            <p class="muted note">"Read again every 2 s while this page is open."</p>
        </section>
        <AllocationRateChart name=Signal::derive(name)/>
    }
}

#[component]
fn AllocateForm(name: String, allocate: ServerAction<AllocateRoom>) -> impl IntoView {
    let scheduler = name.clone();
    view! {
        <section class="card" id="allocate">
            <h2>"Allocate by hand"</h2>
            <ActionForm action=allocate attr:class="row form allocate-form">
                <input type="hidden" name="name" value=scheduler/>
                <label class="field">
                    <span>"Match metadata (JSON, optional)"</span>
                    <input type="text" name="metadata" placeholder="{\"match\": \"m1\"}"/>
                </label>
                <button type="submit" class="button primary">
                    "Allocate a room"
                </button>
            </ActionForm>
            {move || {
                allocate
                    .value()
                    .get()
                    .map(|result| match result {
                        Ok(got) => view! { <Allocated got name=name.clone()/> }.into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </section>
    }
}

/// The claim a hand allocation got.
#[component]
fn Allocated(got: HandAllocation, name: String) -> impl IntoView {
    let HandAllocation {
        claim,
        address,
        region,
    } = got;
    let room_link = format!("/ui/schedulers/{name}/rooms/{}", claim.room);
    let key = claim.id.clone();
    view! {
        <dl class="facts allocated-claim" data-claim=key>
            <dt>"Claim"</dt>
            <dd>
                <code data-testid="allocated-claim">{claim.id}</code>
            </dd>
            <dt>"Room"</dt>
            <dd>
                <a href=room_link data-testid="allocated-room">
                    {claim.room}
                </a>
            </dd>
            <dt>"Address"</dt>
            <dd>{if address.is_empty() { "not known yet".to_string() } else { address }}</dd>
            <dt>"Region"</dt>
            <dd>{region}</dd>
            <dt>"Expires"</dt>
            <dd>{claim.expires_at.format("%H:%M:%S UTC").to_string()} " unless the room confirms it"</dd>
            <dt>"Match metadata"</dt>
            <dd>
                <code>{claim.metadata}</code>
            </dd>
        </dl>
    }
}

#[component]
fn AllocatedRooms(data: AllocationView, name: String) -> impl IntoView {
    let AllocationView { now, rooms, .. } = data;
    if rooms.is_empty() {
        return view! { <p class="muted">"No room is allocated."</p> }.into_any();
    }
    view! {
        <table class="grid allocated">
            <thead>
                <tr>
                    <th>"Room"</th>
                    <th>"Status"</th>
                    <th class="num">"Matches"</th>
                    <th>"Address"</th>
                    <th>"Open claims"</th>
                </tr>
            </thead>
            <tbody>
                {rooms
                    .into_iter()
                    .map(|room| {
                        let link = format!("/ui/schedulers/{name}/rooms/{}", room.id);
                        let key = room.id.clone();
                        view! {
                            <tr data-room=key data-status=room.status.as_str()>
                                <td>
                                    <a href=link>
                                        <code>{room.id}</code>
                                    </a>
                                </td>
                                <td>
                                    <StatusBadge status=room.status/>
                                </td>
                                <td class="num">{room.running_matches}</td>
                                <td>{if room.address.is_empty() { "—".to_string() } else { room.address }}</td>
                                <td>
                                    <ul class="claims">
                                        {room
                                            .claims
                                            .into_iter()
                                            .map(|claim| {
                                                let expiry = if claim.expires_at > now {
                                                    format!("expires in {}", age(claim.expires_at, now))
                                                } else {
                                                    "expired".to_string()
                                                };
                                                let key = claim.id.clone();
                                                view! {
                                                    <li data-claim=key>
                                                        <code>{claim.id}</code>
                                                        " · claimed "
                                                        {ago(now, claim.created_at)}
                                                        " · "
                                                        {expiry}
                                                        " · "
                                                        <code>{claim.metadata}</code>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
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
