//! Allocation: matchmakers claim rooms (Maestro's `rooms/allocate`, and Baton's allocation
//! resource with match metadata, a TTL, reserve and release). Basic credentials of an editor of
//! the scheduler's game (or an administrator): viewers get 403, other games' schedulers 404.

use app::domain::allocation::{Claim, RoomSelector};
use app::domain::room::RoomPort;
use app::services::ServiceError;
use app::services::allocation::{Allocation, ClaimRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::Body;

/// Maestro's allocate request: no field is read (send `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MaestroAllocateRequest {}

/// Maestro's allocate answer; with no room free, `success` is false and `message` says why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaestroAllocateResponse {
    pub room_id: String,
    pub success: bool,
    pub message: String,
    pub ports: Vec<RoomPort>,
    pub host: String,
}

/// A claim request: every field optional (send `{}` for the defaults).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllocationRequest {
    /// Match metadata for the room (match id, players, ...): any JSON up to 4096 bytes.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
    /// Seconds the room has to confirm the claim (ping `occupied` or raise `runningMatches`)
    /// before it expires and the capacity is free again: 1 to 3600; default the scheduler's
    /// `allocation.claimTtl`, else 60.
    #[serde(default)]
    pub ttl: Option<u64>,
    /// Which rooms may take the claim (allocations only; a reservation names its room): the
    /// scheduler version they were created from (`version`, or that version's `labels`), their
    /// own metadata as last pinged (`metadata`, key by key), and `regions` in order of
    /// preference (the first region with a matching room that can take the claim wins; none
    /// listed: any region; the default runtime's region also finds the rooms stored before
    /// regions, which run there). Among the rooms that match,
    /// the scheduler's `allocation.strategy` chooses.
    #[serde(default)]
    pub selector: Option<RoomSelector>,
}

impl From<AllocationRequest> for ClaimRequest {
    fn from(request: AllocationRequest) -> Self {
        ClaimRequest {
            metadata: request.metadata,
            ttl_seconds: request.ttl,
            selector: request.selector.unwrap_or_default(),
        }
    }
}

/// A claimed room: where players reach it, and the claim to release or to wait for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationResponse {
    pub room_id: String,
    /// The room's host; empty while its address is not known yet.
    pub host: String,
    pub ports: Vec<RoomPort>,
    /// The region of the runtime the room runs on (the default runtime's region for rooms
    /// stored before regions).
    pub region: String,
    pub claim_id: String,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

impl From<Allocation> for AllocationResponse {
    fn from(allocation: Allocation) -> Self {
        let region = allocation.region;
        let (host, ports) = allocation
            .address
            .map(|a| (a.host, a.ports))
            .unwrap_or_default();
        AllocationResponse {
            room_id: allocation.claim.room,
            host,
            ports,
            region,
            claim_id: allocation.claim.id,
            expires_at: allocation.claim.expires_at,
            metadata: allocation.claim.metadata,
        }
    }
}

/// Maestro's allocate: claims a ready room (by the scheduler's strategy, for its claim TTL).
#[utoipa::path(post, path = "/scheduler/{scheduler}/rooms/allocate",
    params(("scheduler" = String, Path)), request_body = MaestroAllocateRequest, tag = "allocation",
    responses((status = 200, body = MaestroAllocateResponse, description = "A room, or `success: false` when none is free"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn maestro_allocate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Body(_): Body<MaestroAllocateRequest>,
) -> Result<Json<MaestroAllocateResponse>, ApiError> {
    let allocated = state
        .schedulers
        .allocate(&user.0, &name, ClaimRequest::default(), Utc::now())
        .await?;
    Ok(Json(match allocated {
        Some(allocation) => {
            let answer = AllocationResponse::from(allocation);
            MaestroAllocateResponse {
                room_id: answer.room_id,
                success: true,
                message: String::new(),
                ports: answer.ports,
                host: answer.host,
            }
        }
        None => MaestroAllocateResponse {
            room_id: String::new(),
            success: false,
            message: format!("no room of scheduler {name} is free"),
            ports: Vec::new(),
            host: String::new(),
        },
    }))
}

/// Claims capacity on a room with some free (running matches plus open claims below
/// `matchAllocation.maxMatches`) that matches the selector: from the first preferred region
/// that has one, the busiest (`packed`, the default: occupied rooms first) or the least loaded
/// (`distributed`), as the scheduler's `allocation.strategy` says.
#[utoipa::path(post, path = "/schedulers/{name}/allocations",
    params(("name" = String, Path)), request_body = AllocationRequest, tag = "allocation",
    responses((status = 201, body = AllocationResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`NO_ROOM_AVAILABLE`: no room has free capacity")))]
pub async fn allocate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Body(request): Body<AllocationRequest>,
) -> Result<(StatusCode, Json<AllocationResponse>), ApiError> {
    let allocated = state
        .schedulers
        .allocate(&user.0, &name, request.into(), Utc::now())
        .await?
        .ok_or_else(|| ApiError::NoRoomAvailable(format!("no room of scheduler {name} is free")))?;
    Ok((StatusCode::CREATED, Json(allocated.into())))
}

/// Claims capacity on one room (zeuz's reserve).
#[utoipa::path(post, path = "/schedulers/{name}/rooms/{room}/reserve",
    params(("name" = String, Path), ("room" = String, Path)), request_body = AllocationRequest, tag = "allocation",
    responses((status = 201, body = AllocationResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`NO_ROOM_AVAILABLE`: the room cannot take a claim now (not ready, or full)")))]
pub async fn reserve(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((name, room)): Path<(String, String)>,
    Body(request): Body<AllocationRequest>,
) -> Result<(StatusCode, Json<AllocationResponse>), ApiError> {
    let reserved = state
        .schedulers
        .reserve(&user.0, &name, &room, request.into(), Utc::now())
        .await
        .map_err(|err| match err {
            ServiceError::Conflict(message) => ApiError::NoRoomAvailable(message),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(reserved.into())))
}

/// Releases a claim: the room's capacity is free again at once (zeuz's unreserve).
#[utoipa::path(delete, path = "/schedulers/{name}/allocations/{claim}",
    params(("name" = String, Path), ("claim" = String, Path)), tag = "allocation",
    responses((status = 200, body = Claim, description = "The claim released"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Unknown scheduler, or no such open claim (released, confirmed or expired)")))]
pub async fn release(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((name, claim)): Path<(String, String)>,
) -> Result<Json<Claim>, ApiError> {
    Ok(Json(
        state.schedulers.release(&user.0, &name, &claim).await?,
    ))
}
