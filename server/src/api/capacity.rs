//! A scheduler's capacity: its machines, their payload capacity, and machine-scaling decisions.

use app::ports::DECISIONS_KEPT;
use app::services::capacity::{CapacityView, HISTORY_POINTS};
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
    /// Also answer `history`: the free payload capacity at each machine-scaling evaluation of
    /// the last this many minutes (1 to 1440), with the bounds, oldest first, at most 300 samples.
    pub history: Option<i64>,
}

/// The scheduler's machines (from every region's machine source, with this scheduler's
/// payloads and busy payloads), each machine's payload capacity and free payload capacity, the
/// free payload capacity in all and per region, the scaling bounds, regions whose machines
/// could not be listed, and the latest machine-scaling decisions with each action's outcome;
/// with `history`, the free payload capacity over time too (one sample per evaluation, kept a
/// day). 400 for a `history` outside 1 to 1440; 404 when the scheduler is unknown, not
/// readable, or has no capacity section.
#[utoipa::path(get, path = "/schedulers/{name}/capacity",
    params(("name" = String, Path), CapacityQuery), tag = "schedulers",
    responses((status = 200, body = CapacityView), (status = 401, body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(query): Query<CapacityQuery>,
) -> Result<Json<CapacityView>, ApiError> {
    let limit = query.decisions.unwrap_or(20).min(DECISIONS_KEPT);
    let minutes = match query.history {
        Some(minutes) if !(1..=1440).contains(&minutes) => {
            return Err(ApiError::invalid(
                "history",
                "must be a number of minutes from 1 to 1440",
            ));
        }
        other => other,
    };
    let mut view = state.capacity.capacity(&user.0, &name, limit).await?;
    if let Some(minutes) = minutes {
        view.history = Some(
            state
                .capacity
                .history(
                    &user.0,
                    &name,
                    chrono::Utc::now(),
                    chrono::Duration::minutes(minutes),
                    HISTORY_POINTS,
                )
                .await?,
        );
    }
    Ok(Json(view))
}
