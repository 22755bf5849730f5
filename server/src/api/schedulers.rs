//! Scheduler management: Maestro v10's paths and JSON shapes.

use app::domain::autoscaling::Decision;
use app::domain::history::RoomCountSample;
use app::domain::scheduler::{SchedulerConfig, SchedulerSummary};
use app::ports::{DECISIONS_KEPT, SchedulerFilter};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::{Body, parse};
use super::operations::{WaitQuery, answer};
use super::query::Query;
use super::shapes::{
    AutoscalingInfo, ChangeResponse, RegionList, SchedulerInfo, SchedulerInfoList, SchedulerList,
    SchedulerResponse, SwitchVersion, VersionList,
};
use app::services::ServiceError;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the scheduler with this name.
    pub name: Option<String>,
    /// Only schedulers of this game.
    pub game: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version other than the active one.
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InfoQuery {
    /// Only schedulers of this game.
    pub game: Option<String>,
}

/// List schedulers, optionally by name or game.
#[utoipa::path(get, path = "/schedulers", params(ListQuery), tag = "schedulers",
    responses((status = 200, body = SchedulerList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<SchedulerList>, ApiError> {
    let filter = SchedulerFilter {
        name: query.name,
        game: query.game,
    };
    let schedulers = state.schedulers.list(&user.0, &filter).await?;
    Ok(Json(SchedulerList {
        schedulers: schedulers.iter().map(SchedulerSummary::from).collect(),
    }))
}

/// Create a scheduler; it starts at version `v1` and is readable at once. Answers the
/// scheduler and the `operationId` of the operation that brings its rooms up.
#[utoipa::path(post, path = "/schedulers", params(WaitQuery), request_body = SchedulerConfig, tag = "schedulers",
    responses((status = 200, body = ChangeResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(wait): Query<WaitQuery>,
    Body(config): Body<SchedulerConfig>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state.schedulers.create(&user.0, config).await?;
    answer(&state, &user, change, &wait).await
}

/// Get a scheduler: its active version, or `?version=`.
#[utoipa::path(get, path = "/schedulers/{name}", params(("name" = String, Path), VersionQuery),
    tag = "schedulers",
    responses((status = 200, body = SchedulerResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Result<Json<SchedulerResponse>, ApiError> {
    let scheduler = state
        .schedulers
        .get(&user.0, &name, query.version.as_deref())
        .await?;
    Ok(Json(scheduler.into()))
}

/// Create a new version from a whole scheduler. A minor version (rooms unchanged) is active at
/// once; a major one is validated with one room, then made active and rolled out, by the
/// operation whose `operationId` this answers (with the scheduler as it is now).
#[utoipa::path(post, path = "/schedulers/{name}", params(("name" = String, Path), WaitQuery),
    request_body = SchedulerConfig, tag = "schedulers",
    responses((status = 200, body = ChangeResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn new_version(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(config): Body<SchedulerConfig>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state
        .schedulers
        .save_version(&user.0, &name, config)
        .await?;
    answer(&state, &user, change, &wait).await
}

/// Change some fields of the active version with a JSON merge patch (RFC 7386); the result
/// becomes a new active version. Answers like `POST /schedulers/{name}`.
#[utoipa::path(patch, path = "/schedulers/{name}", params(("name" = String, Path), WaitQuery),
    request_body(content = Object, description = "A JSON merge patch (RFC 7386) of the scheduler: objects merge, null removes a field (its default applies), anything else replaces"),
    tag = "schedulers",
    responses((status = 200, body = ChangeResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(patch): Body<serde_json::Value>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state
        .schedulers
        .patch(&user.0, &name, patch, |merged| {
            let bytes =
                serde_json::to_vec(merged).map_err(|e| ServiceError::Backend(e.to_string()))?;
            parse::<SchedulerConfig>(&bytes).map_err(|err| match err {
                ApiError::Invalid(errors) => ServiceError::Invalid(errors),
                other => ServiceError::Backend(other.to_string()),
            })
        })
        .await?;
    answer(&state, &user, change, &wait).await
}

/// List a scheduler's versions, oldest first.
#[utoipa::path(get, path = "/schedulers/{name}/versions", params(("name" = String, Path)),
    tag = "schedulers",
    responses((status = 200, body = VersionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let versions = state.schedulers.versions(&user.0, &name).await?;
    Ok(Json(VersionList { versions }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// How many decisions to return, newest first (default 50, at most 200).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionList {
    pub decisions: Vec<Decision>,
}

/// Recent autoscaling decisions of a scheduler, newest first: each change of the desired room
/// count with its reason (trigger, points, formula, caps) and the load it saw.
#[utoipa::path(get, path = "/schedulers/{name}/autoscaling/decisions",
    params(("name" = String, Path), DecisionQuery), tag = "schedulers",
    responses((status = 200, body = DecisionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn decisions(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<DecisionQuery>,
) -> Result<Json<DecisionList>, ApiError> {
    let limit = query.limit.unwrap_or(50).min(DECISIONS_KEPT);
    let decisions = state.schedulers.decisions(&user.0, &name, limit).await?;
    Ok(Json(DecisionList { decisions }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The window in minutes, up to a day (default 60).
    pub minutes: Option<i64>,
    /// At most this many samples, the latest of each slice of the window (default 240).
    pub points: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomHistoryResponse {
    pub samples: Vec<RoomCountSample>,
}

/// Room counts by status over time (pending, unready, ready, occupied, terminating, error), oldest
/// first, as the health controller saw them.
#[utoipa::path(get, path = "/schedulers/{name}/rooms/history",
    params(("name" = String, Path), HistoryQuery), tag = "rooms",
    responses((status = 200, body = RoomHistoryResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn room_history(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<RoomHistoryResponse>, ApiError> {
    let minutes = query.minutes.unwrap_or(60);
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::invalid("minutes", "must be from 1 to 1440"));
    }
    let points = query.points.unwrap_or(240).clamp(1, 2000);
    let samples = state
        .schedulers
        .history(
            &user.0,
            &name,
            chrono::Utc::now(),
            chrono::Duration::minutes(minutes),
            points,
        )
        .await?;
    Ok(Json(RoomHistoryResponse { samples }))
}

/// Make another existing version active (a rollback or roll-forward). Answers like
/// `POST /schedulers/{name}`.
#[utoipa::path(put, path = "/schedulers/{name}", params(("name" = String, Path), WaitQuery),
    request_body = SwitchVersion, tag = "schedulers",
    responses((status = 200, body = ChangeResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn switch_version(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(request): Body<SwitchVersion>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state
        .schedulers
        .switch_version(&user.0, &name, &request.version)
        .await?;
    answer(&state, &user, change, &wait).await
}

/// Delete a scheduler, its versions and its rooms, as an operation (whatever else is waiting
/// or running is canceled first). Answers its `operationId` and the scheduler as it is.
#[utoipa::path(delete, path = "/schedulers/{name}", params(("name" = String, Path), WaitQuery),
    tag = "schedulers",
    responses((status = 200, body = ChangeResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(wait): Query<WaitQuery>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state.schedulers.delete(&user.0, &name).await?;
    answer(&state, &user, change, &wait).await
}

/// The scheduler's regions: each one it lists (with its weight) and any other its rooms are
/// in, with whether its runtime answered the scheduler's controller last (`reachable`, the last
/// error and since when), its share of the desired count and its room counts. Stored by the
/// controller, so every replica answers the same.
#[utoipa::path(get, path = "/schedulers/{name}/regions", params(("name" = String, Path)),
    tag = "schedulers",
    responses((status = 200, body = RegionList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn regions(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
) -> Result<Json<RegionList>, ApiError> {
    let regions = state.schedulers.regions(&user.0, &name).await?;
    Ok(Json(RegionList { regions }))
}

/// Schedulers with their live room counts, optionally of one game.
#[utoipa::path(get, path = "/schedulers/info", params(InfoQuery), tag = "schedulers",
    responses((status = 200, body = SchedulerInfoList), (status = 401, body = ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<InfoQuery>,
) -> Result<Json<SchedulerInfoList>, ApiError> {
    let mut schedulers = Vec::new();
    for (scheduler, counts, regions) in state.schedulers.info_by_region(&user.0, query.game).await?
    {
        schedulers.push(SchedulerInfo {
            name: scheduler.config.name,
            game: scheduler.config.game,
            state: scheduler.state,
            rooms_replicas: scheduler.config.rooms_replicas,
            rooms_ready: counts.ready,
            rooms_occupied: counts.occupied,
            rooms_pending: counts.pending + counts.unready,
            rooms_terminating: counts.terminating,
            autoscaling: scheduler
                .config
                .autoscaling
                .as_ref()
                .map(AutoscalingInfo::from),
            match_allocation: scheduler.config.match_allocation,
            regions,
        });
    }
    Ok(Json(SchedulerInfoList { schedulers }))
}
