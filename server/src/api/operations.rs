//! Operations: Maestro v10's paths to list, read and cancel a scheduler's operations, the room
//! count changes (`add-rooms`, `remove-rooms`), and `?wait=` for every change.

use std::time::Duration;

use app::domain::operation::{OperationOrder, Stage};
use app::domain::quantity::parse_duration_seconds;
use app::services::Change;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::Body;
use super::query::Query;
use super::shapes::{ChangeResponse, OperationDocument, OperationList, OperationResponse};

/// The longest `?wait=` honoured.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait up to this long (`30s`, `500ms`, `2m`; at most 120 s) for the change's operation
    /// to end before answering; the answer then carries the operation.
    pub wait: Option<String>,
}

impl WaitQuery {
    pub(super) fn duration(&self) -> Result<Option<Duration>, ApiError> {
        let Some(text) = &self.wait else {
            return Ok(None);
        };
        let seconds = parse_duration_seconds(text)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| ApiError::invalid("wait", "must be a duration such as 30s or 500ms"))?;
        if seconds > MAX_WAIT.as_secs_f64() {
            return Err(ApiError::invalid("wait", "must be at most 120s"));
        }
        Ok(Some(Duration::from_secs_f64(seconds)))
    }
}

/// Answers a change, after waiting for its operation if the client asked to.
pub async fn answer(
    state: &AppState,
    user: &CurrentUser,
    change: Change,
    wait: &WaitQuery,
) -> Result<Json<ChangeResponse>, ApiError> {
    let mut change = change;
    let mut waited = None;
    if let (Some(operation), Some(timeout)) = (&change.operation, wait.duration()?) {
        let operation = state
            .schedulers
            .wait(&operation.scheduler, &operation.id, timeout)
            .await?;
        // The scheduler as the operation left it (as it was, once deleted).
        match state
            .schedulers
            .get(&user.0, &operation.scheduler, None)
            .await
        {
            Ok(scheduler) => change.scheduler = scheduler,
            Err(app::services::ServiceError::NotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
        waited = Some(operation);
    }
    let mut response = ChangeResponse::from(change);
    response.operation = waited.as_ref().map(OperationDocument::detail);
    Ok(Json(response))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// `pending`, `active` or `final` (Maestro's `history` too); every stage when absent.
    pub stage: Option<String>,
    /// From 1 (the default).
    pub page: Option<u32>,
    /// 1 to 100; 20 by default.
    pub per_page: Option<u32>,
    /// `createdAt desc` (the default) or `createdAt asc`.
    pub order_by: Option<String>,
}

/// List a scheduler's operations, newest first, a page at a time.
#[utoipa::path(get, path = "/schedulers/{name}/operations",
    params(("name" = String, Path), ListQuery), tag = "operations",
    responses((status = 200, body = OperationList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<OperationList>, ApiError> {
    let stage = match query.stage.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            Stage::parse(text)
                .ok_or_else(|| ApiError::invalid("stage", "must be pending, active or final"))?,
        ),
    };
    let order = match query.order_by.as_deref() {
        None | Some("") => OperationOrder::default(),
        Some(text) => OperationOrder::parse(text).ok_or_else(|| {
            ApiError::invalid("orderBy", "must be `createdAt desc` or `createdAt asc`")
        })?,
    };
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(20);
    let listed = state
        .schedulers
        .operations(&user.0, &name, stage, order, page, per_page)
        .await?;
    let mut operations = Vec::with_capacity(listed.operations.len());
    for operation in &listed.operations {
        let mut document = OperationDocument::summary(operation);
        document.progress = state.schedulers.progress(&user.0, &name, operation).await?;
        operations.push(document);
    }
    Ok(Json(OperationList {
        page,
        page_size: per_page,
        total: listed.total,
        operations,
    }))
}

/// An operation's detail, with its progress while it rolls a version out.
async fn detail(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
    operation: &app::domain::operation::Operation,
) -> Result<Json<OperationResponse>, ApiError> {
    let mut document = OperationDocument::detail(operation);
    document.progress = state.schedulers.progress(&user.0, name, operation).await?;
    Ok(Json(OperationResponse {
        operation: document,
    }))
}

/// One operation, with its input and execution history (and its progress while it rolls a
/// version out).
#[utoipa::path(get, path = "/schedulers/{name}/operations/{id}",
    params(("name" = String, Path), ("id" = String, Path)), tag = "operations",
    responses((status = 200, body = OperationResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<OperationResponse>, ApiError> {
    let operation = state.schedulers.operation(&user.0, &name, &id).await?;
    detail(&state, &user, &name, &operation).await
}

/// Cancel an operation: a pending one at once; a running one stops at its next step, rolls
/// back what it must and ends `canceled`. Answers the operation as it is now.
#[utoipa::path(post, path = "/schedulers/{name}/operations/{id}/cancel",
    params(("name" = String, Path), ("id" = String, Path)), tag = "operations",
    responses((status = 200, body = OperationResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<OperationResponse>, ApiError> {
    let operation = state.schedulers.cancel(&user.0, &name, &id).await?;
    detail(&state, &user, &name, &operation).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRooms {
    /// How many rooms to add to the wanted count (1 to 1000).
    pub amount: u32,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveRooms {
    /// How many rooms to take off the wanted count.
    #[serde(default)]
    pub amount: u32,
    /// Rooms to stop now (replaced if the scheduler still wants them).
    #[serde(default)]
    pub rooms_ids: Vec<String>,
}

/// Add rooms: raises the wanted room count by `amount` (a minor version), as an operation.
#[utoipa::path(post, path = "/schedulers/{name}/add-rooms",
    params(("name" = String, Path), WaitQuery), request_body = AddRooms, tag = "operations",
    responses((status = 200, body = ChangeResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_rooms(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(request): Body<AddRooms>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state
        .schedulers
        .add_rooms(&user.0, &name, request.amount)
        .await?;
    answer(&state, &user, change, &wait).await
}

/// Remove rooms: lowers the wanted count by `amount` and/or stops the rooms `roomsIds`.
#[utoipa::path(post, path = "/schedulers/{name}/remove-rooms",
    params(("name" = String, Path), WaitQuery), request_body = RemoveRooms, tag = "operations",
    responses((status = 200, body = ChangeResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_rooms(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(wait): Query<WaitQuery>,
    Body(request): Body<RemoveRooms>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let change = state
        .schedulers
        .remove_rooms(&user.0, &name, request.amount, request.rooms_ids)
        .await?;
    answer(&state, &user, change, &wait).await
}
