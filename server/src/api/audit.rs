//! The audit log: who changed what and when, with the difference between before and after.

use app::domain::audit::{AuditEntry, FieldChange};
use app::services::audit::AuditQuery;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::query::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries of this game.
    pub game: Option<String>,
    /// Only entries of this scheduler.
    pub scheduler: Option<String>,
    /// How many entries, 1 to 500 (default 50).
    #[param(value_type = Option<u64>)]
    pub limit: Option<String>,
    /// Only entries older than this one (its id): the `next` of the previous page.
    #[param(value_type = Option<i64>)]
    pub before: Option<String>,
}

/// One entry with what changed, field by field.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// Who changed what and when, newest first: schedulers created, new versions, autoscaling
/// changes, switches, deletes, operation cancels, user and role changes, each with the
/// values before and after (secret environment values hidden) and the fields that changed.
/// Administrators read every entry; other users only those of the games they may read.
#[utoipa::path(get, path = "/audit", params(AuditParams), tag = "audit",
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let query = AuditQuery::parse(
        params.game.as_deref(),
        params.scheduler.as_deref(),
        params.limit.as_deref(),
        params.before.as_deref(),
    )?;
    let entries = state.schedulers.audit.list(&user.0, &query).await?;
    let next = (entries.len() as u64 == query.limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditList {
        entries: entries
            .into_iter()
            .map(|entry| AuditEntryView {
                changes: entry.changes(),
                entry,
            })
            .collect(),
        next,
    }))
}
