//! API errors: each maps to one HTTP status and a JSON body naming the fields at fault.

use app::domain::room::{PingError, RoomStatus};
use app::domain::validation::FieldError;
use app::ports::{Store, StoreError};
use app::services::ServiceError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Another operation of the scheduler is waiting or running: its id is in the body.
    #[error(transparent)]
    Busy(app::domain::operation::Busy),
    /// The change would break a rule that must always hold (the last enabled administrator).
    #[error("{0}")]
    Precondition(String),
    /// A room reported a status it cannot move to from its current one.
    #[error("{}", PingError::Transition { from: *from, to: *to })]
    InvalidTransition { from: RoomStatus, to: RoomStatus },
    /// Too many failed password checks from this client address lately.
    #[error("too many failed password checks from this address; retry in {} s", retry_after.as_secs().max(1))]
    TooManyRequests { retry_after: std::time::Duration },
    /// No room can take an allocation claim (none free, or not the one asked for).
    #[error("{0}")]
    NoRoomAvailable(String),
    /// A body in a media type this API does not read (only JSON and YAML).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A store is down or unreachable for now (the detail goes to the log, not the client).
    #[error("{store} is unavailable; retry in a few seconds")]
    Unavailable { store: Store, detail: String },
    #[error("internal error")]
    Internal(String),
}

/// What a `503 UNAVAILABLE` answer tells the client to wait before retrying: the stores'
/// clients reconnect on their own, and are back within a few seconds of the store's return.
pub const RETRY_UNAVAILABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: `INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`,
    /// `NOT_FOUND`, `ALREADY_EXISTS`, `FAILED_PRECONDITION` (another operation runs, or the last
    /// enabled administrator would go),
    /// `INVALID_STATUS_TRANSITION`, `NO_ROOM_AVAILABLE`, `RESOURCE_EXHAUSTED`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `UNAVAILABLE` (a store is down: retry after the `Retry-After`
    /// header's seconds) or `INTERNAL`.
    pub code: &'static str,
    pub message: String,
    /// For `INVALID_ARGUMENT`: each field at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `FAILED_PRECONDITION`: the operation the change waits behind.
    #[serde(rename = "operationId", skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// For `UNAVAILABLE`: the store that is down, `database` or `redis` (as `/readyz` names it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'static str>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// Store errors map as the use cases map them (one rule: `ServiceError::from`).
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ServiceError::from(err).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(errors) => Self::Invalid(errors),
            ServiceError::Forbidden(message) => Self::Forbidden(message),
            ServiceError::NotFound(message) => Self::NotFound(message),
            ServiceError::Conflict(message) => Self::Conflict(message),
            ServiceError::Busy(busy) => Self::Busy(busy),
            ServiceError::Precondition(message) => Self::Precondition(message),
            ServiceError::Backend(message) => Self::Internal(message),
            ServiceError::Unavailable { store, detail } => Self::Unavailable { store, detail },
        }
    }
}

/// A ping the domain refused: a transition it forbids is a 409 naming both statuses; a status
/// only the orchestrator sets (`pending`, `error`) is an invalid `status` field.
impl From<PingError> for ApiError {
    fn from(err: PingError) -> Self {
        match err {
            PingError::Transition { from, to } => Self::InvalidTransition { from, to },
            PingError::OrchestratorOnly => Self::invalid("status", err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            Self::Busy(_) | Self::Precondition(_) => (StatusCode::CONFLICT, "FAILED_PRECONDITION"),
            Self::InvalidTransition { .. } => (StatusCode::CONFLICT, "INVALID_STATUS_TRANSITION"),
            Self::NoRoomAvailable(_) => (StatusCode::CONFLICT, "NO_ROOM_AVAILABLE"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            Self::Unavailable { store, detail } => {
                tracing::warn!(%store, %detail, "request failed: a store is unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
            }
        };
        let errors = match self {
            Self::Invalid(ref errors) => errors.clone(),
            _ => Vec::new(),
        };
        let message = match &errors[..] {
            [one] => format!("{}: {}", one.field, one.message),
            _ => self.to_string(),
        };
        let operation_id = match &self {
            Self::Busy(busy) => Some(busy.operation_id.clone()),
            _ => None,
        };
        let store = match &self {
            Self::Unavailable { store, .. } => Some(store.name()),
            _ => None,
        };
        let body = Json(ErrorBody {
            code,
            message,
            errors,
            operation_id,
            store,
        });
        // A 401 carries no `Basic` challenge: a browser would prompt for credentials and then
        // send them with every request to this host, cross-site ones included.
        let retry_after = match self {
            Self::TooManyRequests { retry_after } => Some(retry_after),
            Self::Unavailable { .. } => Some(RETRY_UNAVAILABLE_AFTER),
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            let seconds = retry_after.as_secs().max(1).to_string();
            return (status, [(header::RETRY_AFTER, seconds)], body).into_response();
        }
        (status, body).into_response()
    }
}
