//! zeuz's allocation documents (`zeuzsdk.AllocationDef` plus `Name` and `Game`): each is a
//! scheduler with a capacity section.

use app::domain::capacity::zeuz::{AllocationDef, NotMapped};
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::Body;
use super::operations::WaitQuery;
use super::query::Query;
use super::shapes::OperationDocument;

/// What `POST /allocations` answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZeuzAllocationAnswer {
    /// The allocation as stored, in zeuz's shape (as `GET /allocations/{name}` answers it once
    /// the operation made the new version active).
    #[schema(value_type = Object)]
    pub allocation: Value,
    /// Whether the scheduler was created (else a new version of it was stored).
    pub created: bool,
    /// The operation that carries the change out; absent when nothing changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Fields of the document Baton did not use, and why.
    pub not_mapped: Vec<NotMapped>,
    /// With `?wait=`, the operation as it was when the wait ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationDocument>,
}

/// Create or update the scheduler `Name` of game `Game` from zeuz's allocation document:
/// `ScalingRules` and `MachineMinSpec` become its capacity section, `PayloadDef` its room spec
/// (image, command, ports; the payload quota as requests), `ManagePayloads` the
/// `unreservedRooms` policy. Validation errors name zeuz's fields.
#[utoipa::path(post, path = "/allocations", params(WaitQuery), tag = "allocations",
    request_body(content = Object, description = "zeuz's AllocationDef (Regions, ScalingRules with PayloadDef, MachineMinSpec) plus Name and Game"),
    responses((status = 200, body = ZeuzAllocationAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(wait): Query<WaitQuery>,
    Body(def): Body<AllocationDef>,
) -> Result<Json<ZeuzAllocationAnswer>, ApiError> {
    let timeout = wait.duration()?;
    let applied = state.schedulers.apply_allocation(&user.0, &def).await?;
    let mut operation = None;
    if let (Some(queued), Some(timeout)) = (&applied.change.operation, timeout) {
        let ended = state
            .schedulers
            .wait(&queued.scheduler, &queued.id, timeout)
            .await?;
        operation = Some(OperationDocument::detail(&ended));
    }
    Ok(Json(ZeuzAllocationAnswer {
        operation,
        allocation: applied.document,
        created: applied.created,
        operation_id: applied.change.operation.map(|o| o.id),
        not_mapped: applied.not_mapped,
    }))
}

/// A scheduler with a capacity section, as zeuz's allocation document.
#[utoipa::path(get, path = "/allocations/{name}", params(("name" = String, Path)), tag = "allocations",
    responses((status = 200, body = Object, description = "zeuz's AllocationDef plus Name and Game"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.schedulers.allocation(&user.0, &name).await?))
}
