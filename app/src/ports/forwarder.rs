//! The event-forwarder port: one adapter per protocol (gRPC, HTTP).

use async_trait::async_trait;

use crate::domain::forwarding::ForwardedEvent;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForwardError {
    /// The receiver could not be reached, broke the connection or did not answer in time.
    #[error("forwarder unreachable: {0}")]
    Unreachable(String),
    /// The receiver answered, but not that it took the event (a gRPC code other than 200, an
    /// HTTP status other than 2xx).
    #[error("forwarder refused the event: {0}")]
    Refused(String),
}

/// Delivers events to one forwarder (its address, protocol and options fixed at construction).
/// Each call is bounded by the forwarder's `options.timeout`; retries are the caller's.
#[async_trait]
pub trait Forwarder: Send + Sync {
    async fn send(&self, event: &ForwardedEvent) -> Result<(), ForwardError>;
}
