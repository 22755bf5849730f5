//! The rooms API that game rooms call (Maestro v10 paths), and room listing for game teams.

use std::collections::BTreeMap;

use app::domain::room::{GameRoom, Ping, RoomPort};
use app::ports::StoreError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::Body;

#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoomEvent {
    /// What happened, e.g. `roomReady`, `matchStarted`.
    pub event: String,
    #[serde(default)]
    pub timestamp: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerEvent {
    /// What happened, e.g. `playerJoin`, `playerLeft`.
    pub event: String,
    #[serde(default)]
    pub player_id: String,
    #[serde(default)]
    pub timestamp: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressResponse {
    pub host: String,
    pub ports: Vec<RoomPort>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    pub rooms: Vec<GameRoom>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A room may only speak for itself: its token is required, unless its scheduler allows
/// tokenless pings (rooms migrating from Maestro).
async fn authorize_room(
    state: &AppState,
    headers: &HeaderMap,
    scheduler: &str,
    room: &str,
) -> Result<(), ApiError> {
    match bearer(headers) {
        Some(token) if state.room_tokens.verify(scheduler, room, token) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized),
        None => {
            let allowed = state
                .schedulers
                .get(scheduler, None)
                .await
                .map(|s| s.config.allow_tokenless_pings)
                .unwrap_or(false);
            if allowed {
                Ok(())
            } else {
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// A room's heartbeat: its status, and optionally its metadata and running matches.
#[utoipa::path(put, path = "/scheduler/{scheduler}/rooms/{room}/ping",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = Ping, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = Success), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Impossible status change")))]
pub async fn ping(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    headers: HeaderMap,
    Body(ping): Body<Ping>,
) -> Result<Json<Success>, ApiError> {
    authorize_room(&state, &headers, &scheduler, &room).await?;
    match state.rooms.ping(&scheduler, &room, &ping, Utc::now()).await {
        Ok(_) => Ok(Json(Success { success: true })),
        // The only conflict a ping meets: the transition table refused the change.
        Err(StoreError::Conflict(message)) => Err(ApiError::InvalidTransition(message)),
        Err(other) => Err(other.into()),
    }
}

/// A room reports an event about itself.
#[utoipa::path(post, path = "/scheduler/{scheduler}/rooms/{room}/roomevent",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = RoomEvent, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = Success), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn room_event(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    headers: HeaderMap,
    Body(event): Body<RoomEvent>,
) -> Result<Json<Success>, ApiError> {
    authorize_room(&state, &headers, &scheduler, &room).await?;
    if event.event.trim().is_empty() {
        return Err(ApiError::invalid("event", "is required"));
    }
    state.rooms.get(&scheduler, &room).await?;
    tracing::info!(%scheduler, %room, event = %event.event, "room event");
    Ok(Json(Success { success: true }))
}

/// A room reports an event about one of its players.
#[utoipa::path(post, path = "/scheduler/{scheduler}/rooms/{room}/playerevent",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = PlayerEvent, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = Success), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn player_event(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    headers: HeaderMap,
    Body(event): Body<PlayerEvent>,
) -> Result<Json<Success>, ApiError> {
    authorize_room(&state, &headers, &scheduler, &room).await?;
    if event.event.trim().is_empty() {
        return Err(ApiError::invalid("event", "is required"));
    }
    state.rooms.get(&scheduler, &room).await?;
    tracing::info!(%scheduler, %room, event = %event.event, player = %event.player_id, "player event");
    Ok(Json(Success { success: true }))
}

/// Where players reach a room. Game teams' tools call it with Basic credentials.
#[utoipa::path(get, path = "/scheduler/{scheduler}/rooms/{room}/address",
    params(("scheduler" = String, Path), ("room" = String, Path)), tag = "rooms",
    responses((status = 200, body = AddressResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Unknown room, or its address is not known yet")))]
pub async fn address(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path((scheduler, room)): Path<(String, String)>,
) -> Result<Json<AddressResponse>, ApiError> {
    let found = state.rooms.get(&scheduler, &room).await?;
    let address = found.address.ok_or_else(|| {
        ApiError::NotFound(format!("the address of room {room} is not known yet"))
    })?;
    Ok(Json(AddressResponse {
        host: address.host,
        ports: address.ports,
    }))
}

/// The rooms of a scheduler, oldest first.
#[utoipa::path(get, path = "/schedulers/{name}/rooms", params(("name" = String, Path)), tag = "rooms",
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(name): Path<String>,
) -> Result<Json<RoomList>, ApiError> {
    state.schedulers.get(&name, None).await?;
    let rooms = state.rooms.list(&name).await?;
    Ok(Json(RoomList { rooms }))
}
