//! The Redis connection every Redis adapter uses, and how its errors are typed.
//!
//! One multiplexed connection per adapter, managed by `redis`'s `ConnectionManager`: a dropped
//! connection is re-established on the next call (with a few quick retries), so nothing needs a
//! restart when Redis comes back. Calls while Redis is down or too slow fail within about
//! `RESPONSE_TIMEOUT` plus the retries, as [`StoreError::Unavailable`], never hang.

use std::time::Duration;

use app::ports::{Store, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::config::mask_password;

/// Operations on a connection that does not answer within this time fail (and are retried by
/// the caller, e.g. the room's next heartbeat).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts before an operation fails (exponential backoff from 100 ms).
const CONNECTION_RETRIES: usize = 3;

/// Opens a managed connection to `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`); the client is
/// returned too, for adapters that open connections of their own (pub/sub).
pub async fn connect(url: &str) -> Result<(redis::Client, ConnectionManager), StoreError> {
    let unreachable = |e: RedisError| {
        let detail = format!("at {}: {e}", mask_password(url));
        if is_unavailable(&e) {
            StoreError::Unavailable {
                store: Store::Redis,
                detail,
            }
        } else {
            StoreError::Backend(format!("redis {detail}"))
        }
    };
    let client = redis::Client::open(url).map_err(unreachable)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_number_of_retries(CONNECTION_RETRIES);
    let connection = ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(unreachable)?;
    Ok((client, connection))
}

/// A failed Redis call: `Unavailable` when Redis could not be reached or did not answer in time
/// (or is still loading its data after a restart), `Backend` for anything else.
pub fn redis_error(error: RedisError) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable {
            store: Store::Redis,
            detail: error.to_string(),
        }
    } else {
        StoreError::Backend(format!("redis: {error}"))
    }
}

fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
            )
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_and_a_loading_server_are_unavailable_other_failures_are_not() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            redis_error(refused),
            StoreError::Unavailable {
                store: Store::Redis,
                ..
            }
        ));
        let timed_out = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(matches!(
            redis_error(timed_out),
            StoreError::Unavailable { .. }
        ));
        let loading = RedisError::from((
            ErrorKind::Server(ServerErrorKind::BusyLoading),
            "LOADING Redis is loading the dataset in memory",
        ));
        assert!(matches!(
            redis_error(loading),
            StoreError::Unavailable { .. }
        ));
        let wrong_type = RedisError::from((ErrorKind::UnexpectedReturnType, "not a string"));
        assert!(matches!(redis_error(wrong_type), StoreError::Backend(_)));
    }

    #[tokio::test]
    async fn connecting_to_a_closed_port_fails_as_unavailable_and_names_the_address() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        let url = format!("redis://:secret@127.0.0.1:{port}");
        match connect(&url).await {
            Err(StoreError::Unavailable { store, detail }) => {
                assert_eq!(store, Store::Redis);
                assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}");
                assert!(!detail.contains("secret"), "{detail}");
            }
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("nothing listens on {port}"),
        }
    }
}
