//! Password checks (HTTP Basic on the API, the dashboard's sign-in) against the users table,
//! with argon2id hashes.
//!
//! Argon2 is slow on purpose (tens of milliseconds), so:
//! - a verified credential is cached for a short while, keyed by a SHA-256 digest of the
//!   credential (never the password itself): repeated API calls cost a hash lookup;
//! - concurrent checks of the same credential wait for the first (single flight), then read it
//!   from the cache;
//! - every check is counted before it runs, per client address and per user
//!   (`domain::throttle`, in Redis when configured so replicas count together);
//! - at most one argon2 run per CPU core is in progress; others wait their turn. A run keeps its
//!   turn until it ends, even when the request that started it is given up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::throttle::{Attempt, Throttle};
use app::domain::user::User;
use app::ports::{AttemptCounter, Passwords, StoreError, UserStore, Verified};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::AppState;
use super::error::ApiError;

/// How long a verified credential stays cached.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// At most this many credentials are cached; the cache is emptied when full.
const CACHE_CAPACITY: usize = 10_000;

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password failed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

type CredentialKey = [u8; 32];

/// Checks credentials against the user store, remembering recent successes.
pub struct Authenticator {
    users: Arc<dyn UserStore>,
    attempts: Arc<dyn AttemptCounter>,
    throttle: Throttle,
    verified: Mutex<HashMap<CredentialKey, (User, Instant)>>,
    /// One gate per credential being checked now (single flight).
    in_flight: Mutex<HashMap<CredentialKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Argon2 runs in progress at most: one per core. A run holds its permit until it ends,
    /// also when the check that started it was given up (its request dropped).
    hashing: Arc<Semaphore>,
    /// How many argon2 runs are in progress, and the most there have been at once.
    hashes: Arc<HashGauge>,
    /// A hash to verify against when the user does not exist, so timing does not tell.
    decoy_hash: String,
}

/// Removes its credential's gate when the last check waiting on it is done (or dropped).
struct Gate<'a> {
    map: &'a Mutex<HashMap<CredentialKey, Arc<tokio::sync::Mutex<()>>>>,
    key: CredentialKey,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and ours: nobody else waits on this gate.
        if Arc::strong_count(&self.gate) == 2 {
            map.remove(&self.key);
        }
    }
}

/// Argon2 runs in progress now, and the most there have been at once.
#[derive(Default)]
struct HashGauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl HashGauge {
    /// Runs `hash`, counted as in progress while it runs.
    fn measure<T>(&self, hash: impl FnOnce() -> T) -> T {
        struct Running<'a>(&'a AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(&self.now);
        self.most.fetch_max(now, Ordering::SeqCst);
        hash()
    }
}

impl Authenticator {
    /// At most one argon2 run per CPU core at once.
    pub fn new(
        users: Arc<dyn UserStore>,
        attempts: Arc<dyn AttemptCounter>,
        throttle: Throttle,
    ) -> Result<Self, ApiError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_hashing_limit(users, attempts, throttle, cores)
    }

    /// At most `hashing_limit` argon2 runs at once (at least one).
    pub fn with_hashing_limit(
        users: Arc<dyn UserStore>,
        attempts: Arc<dyn AttemptCounter>,
        throttle: Throttle,
        hashing_limit: usize,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            users,
            attempts,
            throttle,
            verified: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            hashing: Arc::new(Semaphore::new(hashing_limit.max(1))),
            hashes: Arc::default(),
            decoy_hash: hash_password("decoy password that matches nothing")?,
        })
    }

    /// The most argon2 password checks that have run at once since this authenticator was made.
    pub fn most_hashes_at_once(&self) -> usize {
        self.hashes.most.load(Ordering::SeqCst)
    }

    /// The user these credentials belong to, `Unauthorized`, or `TooManyRequests` when the
    /// client address has failed too often lately. `client` is the caller's address.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<User, ApiError> {
        let key: CredentialKey = Sha256::new()
            .chain_update(username.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Some(user) = self.cached(&key) {
            return Ok(user);
        }
        let gate = self.gate(key);
        let _turn = gate.gate.lock().await;
        // Another request may just have verified the same credential.
        if let Some(user) = self.cached(&key) {
            return Ok(user);
        }
        let counts = self
            .attempts
            .count(client, username, self.throttle.window)
            .await?;
        match self
            .throttle
            .decide(counts.client, counts.user, counts.client_window_left)
        {
            Attempt::Refused { retry_after } => {
                tracing::warn!(%client, user = %username, "password checks refused: too many failures from this address");
                return Err(ApiError::TooManyRequests { retry_after });
            }
            Attempt::Allowed { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
            Attempt::Allowed { .. } => {}
        }
        let found = self.users.credentials(username).await?;
        let hash = found
            .as_ref()
            .map_or(self.decoy_hash.clone(), |(_, hash)| hash.clone());
        let password = password.to_string();
        let matches = {
            let permit = self
                .hashing
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| ApiError::Internal(format!("password checks closed: {e}")))?;
            let hashes = self.hashes.clone();
            // The permit goes with the hash: a blocking task runs to its end even when this
            // future is dropped, and its slot is not free before.
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                hashes.measure(|| verify_password(&password, &hash))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("password check panicked: {e}")))?
        };
        match found {
            Some((user, _)) if matches && !user.disabled => {
                self.attempts.succeeded(client, username).await?;
                let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(key, (user.clone(), Instant::now() + CACHE_TTL));
                Ok(user)
            }
            _ => {
                tracing::info!(%client, user = %username, "password check failed");
                Err(ApiError::Unauthorized)
            }
        }
    }

    fn gate(&self, key: CredentialKey) -> Gate<'_> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let gate = map.entry(key).or_default().clone();
        Gate {
            map: &self.in_flight,
            key,
            gate,
        }
    }

    /// Drops every cached credential of `username` (its password, role or status changed).
    pub fn forget(&self, username: &str) {
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (user, _)| user.username != username);
    }

    fn cached(&self, key: &CredentialKey) -> Option<User> {
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(key) {
            Some((user, expires)) if *expires > Instant::now() => Some(user.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }
}

/// The dashboard checks passwords with the same code as the API (decoy hash, limits included).
#[async_trait::async_trait]
impl Passwords for Authenticator {
    async fn verify(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<Verified, StoreError> {
        match self.authenticate(username, password, client).await {
            Ok(user) => Ok(Verified::User(user)),
            Err(ApiError::Unauthorized) => Ok(Verified::Wrong),
            Err(ApiError::TooManyRequests { retry_after }) => {
                Ok(Verified::Throttled { retry_after })
            }
            Err(ApiError::Internal(detail)) => Err(StoreError::Backend(detail)),
            Err(ApiError::Unavailable { store, detail }) => {
                Err(StoreError::Unavailable { store, detail })
            }
            Err(other) => Err(StoreError::Backend(other.to_string())),
        }
    }

    async fn hash(&self, password: &str) -> Result<String, StoreError> {
        let password = password.to_string();
        match tokio::task::spawn_blocking(move || hash_password(&password)).await {
            Ok(Ok(hash)) => Ok(hash),
            Ok(Err(err)) => Err(StoreError::Backend(format!("{err:?}"))),
            Err(err) => Err(StoreError::Backend(format!("hashing panicked: {err}"))),
        }
    }

    fn forget(&self, username: &str) {
        Authenticator::forget(self, username);
    }
}

/// The address a request came from, as the listener saw it (a proxy in front of Baton is the
/// client here: `X-Forwarded-For` is not trusted).
pub fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |info| info.0.ip().to_string())
}

/// Splits an `Authorization: Basic ...` header into user and password.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The authenticated caller of a management endpoint.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (username, password) = basic_credentials(parts).ok_or(ApiError::Unauthorized)?;
        state
            .auth
            .authenticate(&username, &password, &client_address(parts))
            .await
            .map(CurrentUser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn parses_basic_headers() {
        let request = |value: &str| {
            let (parts, _) = axum::http::Request::builder()
                .header(AUTHORIZATION, value)
                .body(())
                .unwrap()
                .into_parts();
            parts
        };
        // "admin:pa:ss" — a password may contain colons.
        assert_eq!(
            basic_credentials(&request("Basic YWRtaW46cGE6c3M=")),
            Some(("admin".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials(&request("Bearer abc")), None);
        assert_eq!(basic_credentials(&request("Basic !!!")), None);
    }
}
