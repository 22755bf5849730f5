//! Use cases, written once: the JSON API and the dashboard's server functions both call these.
//! Each checks who may do it (the rules of `domain::access`), validates with the domain, and
//! carries it out through the ports. Server only.

pub mod active;
pub mod allocation;
pub mod audit;
pub mod capacity;
pub mod operations;
pub mod schedulers;
pub mod zeuz;

use crate::domain::access::Denied;
use crate::domain::operation::Busy;
use crate::domain::validation::FieldError;
use crate::ports::StoreError;

pub use operations::Change;
pub use schedulers::SchedulerService;

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
    #[error("storage failed: {0}")]
    Backend(String),
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
        }
    }
}

impl From<Denied> for ServiceError {
    fn from(denied: Denied) -> Self {
        Self::Forbidden(denied.to_string())
    }
}
