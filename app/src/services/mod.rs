//! Use cases, written once: the JSON API and the dashboard's server functions both call these.
//! Each checks who may do it (the rules of `domain::access`), validates with the domain, and
//! carries it out through the ports. Server only.

pub mod active;
pub mod allocation;
pub mod audit;
pub mod capacity;
pub mod live_rooms;
pub mod operations;
pub mod room_detail;
pub mod schedulers;
pub mod users;
pub mod zeuz;

use crate::domain::access::Denied;
use crate::domain::operation::Busy;
use crate::domain::validation::FieldError;
use crate::ports::{Store, StoreError};

pub use operations::Change;
pub use schedulers::SchedulerService;
pub use users::UserService;

/// Why a use case did not happen. Each maps to one HTTP status at the edges.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Every field at fault.
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Forbidden(String),
    /// Unknown, or not visible to this user (the answer does not tell which).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Another operation of the scheduler is waiting or running.
    #[error(transparent)]
    Busy(Busy),
    /// The change would break a rule that must always hold (e.g. one enabled administrator).
    #[error("{0}")]
    Precondition(String),
    #[error("storage failed: {0}")]
    Backend(String),
    /// A store is down or unreachable for now: worth retrying in a moment.
    #[error("{store} is unavailable: {detail}")]
    Unavailable { store: Store, detail: String },
}

impl ServiceError {
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_string(),
            message: message.to_string(),
        }])
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::Backend(message) => Self::Backend(message),
            StoreError::Unavailable { store, detail } => Self::Unavailable { store, detail },
        }
    }
}

impl From<Denied> for ServiceError {
    fn from(denied: Denied) -> Self {
        Self::Forbidden(denied.to_string())
    }
}
