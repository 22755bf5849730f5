//! API errors: each maps to one HTTP status and a JSON body naming the fields at fault.

use app::domain::room::{PingError, RoomStatus};
use app::domain::validation::FieldError;
use app::ports::StoreError;
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
    /// A room reported a status it cannot move to from its current one.
    #[error("{}", PingError::Transition { from: *from, to: *to })]
    InvalidTransition { from: RoomStatus, to: RoomStatus },
    #[error("internal error")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: `INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`,
    /// `NOT_FOUND`, `ALREADY_EXISTS`, `INVALID_STATUS_TRANSITION` or `INTERNAL`.
    pub code: &'static str,
    pub message: String,
    /// For `INVALID_ARGUMENT`: each field at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::Backend(message) => Self::Internal(message),
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
            Self::InvalidTransition { .. } => (StatusCode::CONFLICT, "INVALID_STATUS_TRANSITION"),
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
        let body = Json(ErrorBody {
            code,
            message,
            errors,
        });
        if status == StatusCode::UNAUTHORIZED {
            let challenge = [(header::WWW_AUTHENTICATE, "Basic realm=\"baton\"")];
            return (status, challenge, body).into_response();
        }
        (status, body).into_response()
    }
}
