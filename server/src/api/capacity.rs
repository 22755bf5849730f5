//! A scheduler's capacity: its machines, their payload capacity, and machine-scaling decisions.

use app::ports::DECISIONS_KEPT;
use app::services::capacity::CapacityView;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::query::Query;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CapacityQuery {
    /// How many machine-scaling decisions to return, newest first (default 20, at most 200).
    pub decisions: Option<usize>,
}

/// The scheduler's machines (from every region's machine source, with this scheduler's
/// payloads and busy payloads), each machine's payload capacity and free payload capacity, the
/// free payload capacity in all and per region, the scaling bounds, regions whose machines
/// could not be listed, and the latest machine-scaling decisions with each action's outcome.
/// 404 when the scheduler is unknown, not readable, or has no capacity section.
#[utoipa::path(get, path = "/schedulers/{name}/capacity",
    params(("name" = String, Path), CapacityQuery), tag = "schedulers",
    responses((status = 200, body = CapacityView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<CapacityQuery>,
) -> Result<Json<CapacityView>, ApiError> {
    let limit = query.decisions.unwrap_or(20).min(DECISIONS_KEPT);
    Ok(Json(state.capacity.capacity(&user.0, &name, limit).await?))
}
