//! The rooms API that game rooms call (Maestro v10 paths), and room listing for game teams.

use std::collections::BTreeMap;
use std::convert::Infallible;

use app::domain::allocation::Claim;
use app::domain::forwarding::PlayerEventType;
use app::domain::room::{GameRoom, Ping, RoomPort};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::Body;
use super::query::Query;

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
    /// `playerJoin` or `playerLeft`.
    pub event: String,
    /// Required: the player the event is about.
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

/// The `Authorization` header alone: what room endpoints need (the `HeaderMap` extractor
/// copies every header of the request).
pub struct RoomCredentials(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for RoomCredentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(AUTHORIZATION).cloned()))
    }
}

impl RoomCredentials {
    fn bearer(&self) -> Option<&str> {
        let value = self.0.as_ref()?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// `{"success": true}`, Maestro's answer to a room, as a static body (no serialization).
pub struct Succeeded;

impl IntoResponse for Succeeded {
    fn into_response(self) -> Response {
        (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            r#"{"success":true}"#,
        )
            .into_response()
    }
}

/// A claim as its room learns it from its ping's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomClaim {
    pub id: String,
    /// The match metadata the matchmaker attached.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// When the claim lapses unless the room confirms it (pings `occupied` or raises
    /// `runningMatches`).
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<Claim> for RoomClaim {
    fn from(claim: Claim) -> Self {
        Self {
            id: claim.id,
            metadata: claim.metadata,
            expires_at: claim.expires_at,
            created_at: claim.created_at,
        }
    }
}

/// The answer to a ping: Maestro's `{"success": true}`, plus the room's open allocation
/// claims, oldest first, when it has some (those the ping confirmed are closed and not listed).
#[derive(Debug, Serialize, ToSchema)]
pub struct PingAnswer {
    pub success: bool,
    /// Left out when the room has no open claim.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<RoomClaim>,
}

impl IntoResponse for PingAnswer {
    fn into_response(self) -> Response {
        if self.claims.is_empty() {
            Succeeded.into_response()
        } else {
            Json(self).into_response()
        }
    }
}

/// A room may only speak for itself: its token is required, unless its scheduler allows
/// tokenless pings (rooms migrating from Maestro). Checking a token is one HMAC, no I/O.
async fn authorize_room(
    state: &AppState,
    credentials: &RoomCredentials,
    scheduler: &str,
    room: &str,
) -> Result<(), ApiError> {
    match credentials.bearer() {
        Some(token) if state.room_tokens.verify(scheduler, room, token) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized),
        None if state
            .tokenless
            .allowed(scheduler, state.schedulers.schedulers.as_ref())
            .await =>
        {
            Ok(())
        }
        None => Err(ApiError::Unauthorized),
    }
}

/// A room's heartbeat: its status, and optionally its metadata and running matches. The
/// answer lists the room's open allocation claims (`claims`, left out when there are none).
/// The hot path: one HMAC, one store call (one Redis round trip), a static answer when the
/// room has no claim.
#[utoipa::path(put, path = "/scheduler/{scheduler}/rooms/{room}/ping",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = Ping, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = PingAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`INVALID_STATUS_TRANSITION`: the room's current status does not allow the reported one (e.g. ready after terminating); nothing changed")))]
pub async fn ping(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    credentials: RoomCredentials,
    Body(ping): Body<Ping>,
) -> Result<PingAnswer, ApiError> {
    authorize_room(&state, &credentials, &scheduler, &room).await?;
    let pinged = state
        .rooms
        .ping(&scheduler, &room, &ping, Utc::now())
        .await??;
    Ok(PingAnswer {
        success: true,
        claims: pinged.claims.into_iter().map(RoomClaim::from).collect(),
    })
}

/// Maestro's older status call (v9-era rooms): the same body and rule as a ping.
#[utoipa::path(put, path = "/scheduler/{scheduler}/rooms/{room}/status",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = Ping, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = PingAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn status(
    state: State<AppState>,
    path: Path<(String, String)>,
    credentials: RoomCredentials,
    body: Body<Ping>,
) -> Result<PingAnswer, ApiError> {
    ping(state, path, credentials, body).await
}

/// What a room learns about itself: its record and its open allocation claims (claim id,
/// match metadata, expiry), oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    pub room: GameRoom,
    pub claims: Vec<Claim>,
}

/// A room reads itself and its open claims, with its own token.
#[utoipa::path(get, path = "/scheduler/{scheduler}/rooms/{room}",
    params(("scheduler" = String, Path), ("room" = String, Path)), tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_room(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    credentials: RoomCredentials,
) -> Result<Json<RoomView>, ApiError> {
    authorize_room(&state, &credentials, &scheduler, &room).await?;
    let found = state.rooms.get(&scheduler, &room).await?;
    let claims = state.rooms.claims(&scheduler, Some(&room)).await?;
    Ok(Json(RoomView {
        room: found,
        claims,
    }))
}

/// A room reports an event about itself; forwarded, metadata kept, to the scheduler's forwarders.
#[utoipa::path(post, path = "/scheduler/{scheduler}/rooms/{room}/roomevent",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = RoomEvent, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = Success), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn room_event(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    credentials: RoomCredentials,
    Body(event): Body<RoomEvent>,
) -> Result<Succeeded, ApiError> {
    authorize_room(&state, &credentials, &scheduler, &room).await?;
    if event.event.trim().is_empty() {
        return Err(ApiError::invalid("event", "is required"));
    }
    state.rooms.get(&scheduler, &room).await?;
    tracing::info!(%scheduler, %room, event = %event.event, "room event");
    state
        .forwarding
        .room_event(&scheduler, &room, &event.event, event.metadata);
    Ok(Succeeded)
}

/// A room reports an event about one of its players; forwarded to the scheduler's forwarders.
#[utoipa::path(post, path = "/scheduler/{scheduler}/rooms/{room}/playerevent",
    params(("scheduler" = String, Path), ("room" = String, Path)), request_body = PlayerEvent, tag = "rooms",
    security(("room_token" = [])),
    responses((status = 200, body = Success), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn player_event(
    State(state): State<AppState>,
    Path((scheduler, room)): Path<(String, String)>,
    credentials: RoomCredentials,
    Body(event): Body<PlayerEvent>,
) -> Result<Succeeded, ApiError> {
    authorize_room(&state, &credentials, &scheduler, &room).await?;
    if event.event.trim().is_empty() {
        return Err(ApiError::invalid("event", "is required"));
    }
    let kind = PlayerEventType::parse(&event.event)
        .ok_or_else(|| ApiError::invalid("event", "must be playerJoin or playerLeft"))?;
    if event.player_id.trim().is_empty() {
        return Err(ApiError::invalid("playerId", "is required"));
    }
    state.rooms.get(&scheduler, &room).await?;
    tracing::info!(%scheduler, %room, event = %event.event, player = %event.player_id, "player event");
    state
        .forwarding
        .player_event(&scheduler, &room, &event.player_id, kind, event.metadata);
    Ok(Succeeded)
}

/// Where players reach a room. Game teams' tools call it with Basic credentials.
#[utoipa::path(get, path = "/scheduler/{scheduler}/rooms/{room}/address",
    params(("scheduler" = String, Path), ("room" = String, Path)), tag = "rooms",
    responses((status = 200, body = AddressResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Unknown room, or its address is not known yet")))]
pub async fn address(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((scheduler, room)): Path<(String, String)>,
) -> Result<Json<AddressResponse>, ApiError> {
    let found = state.schedulers.room(&user.0, &scheduler, &room).await?;
    let address = found.address.ok_or_else(|| {
        ApiError::NotFound(format!("the address of room {room} is not known yet"))
    })?;
    Ok(Json(AddressResponse {
        host: address.host,
        ports: address.ports,
    }))
}

/// `?region=`: only the rooms of that region.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomsQuery {
    /// Only rooms running in this region (rooms stored before regions are in the default
    /// runtime's region).
    pub region: Option<String>,
}

/// The rooms of a scheduler, oldest first, each with its region.
#[utoipa::path(get, path = "/schedulers/{name}/rooms", params(("name" = String, Path), RoomsQuery),
    tag = "rooms",
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<RoomsQuery>,
) -> Result<Json<RoomList>, ApiError> {
    let rooms = state
        .schedulers
        .rooms_in(&user.0, &name, query.region.as_deref())
        .await?;
    Ok(Json(RoomList { rooms }))
}
