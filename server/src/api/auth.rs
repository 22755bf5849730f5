//! HTTP Basic authentication against the users table, with argon2id hashes.
//!
//! Argon2 is slow on purpose (tens of milliseconds); a verified credential is cached for a short
//! while, keyed by a SHA-256 digest of the credential (never the password itself), so repeated
//! API calls cost a hash lookup instead of an argon2 run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::user::User;
use app::ports::{Passwords, StoreError, UserStore};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

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

/// Checks credentials against the user store, remembering recent successes.
pub struct Authenticator {
    users: Arc<dyn UserStore>,
    verified: Mutex<HashMap<[u8; 32], (User, Instant)>>,
    /// A hash to verify against when the user does not exist, so timing does not tell.
    decoy_hash: String,
}

impl Authenticator {
    pub fn new(users: Arc<dyn UserStore>) -> Result<Self, ApiError> {
        Ok(Self {
            users,
            verified: Mutex::new(HashMap::new()),
            decoy_hash: hash_password("decoy password that matches nothing")?,
        })
    }

    /// The user these credentials belong to, or `Unauthorized`.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<User, ApiError> {
        let key: [u8; 32] = Sha256::new()
            .chain_update(username.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Some(user) = self.cached(&key) {
            return Ok(user);
        }
        let found = self.users.credentials(username).await?;
        let hash = found
            .as_ref()
            .map_or(self.decoy_hash.clone(), |(_, hash)| hash.clone());
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| ApiError::Internal(format!("password check panicked: {e}")))?;
        match found {
            Some((user, _)) if matches && !user.disabled => {
                let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(key, (user.clone(), Instant::now() + CACHE_TTL));
                Ok(user)
            }
            _ => Err(ApiError::Unauthorized),
        }
    }

    /// Drops every cached credential of `username` (its password, role or status changed).
    pub fn forget(&self, username: &str) {
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (user, _)| user.username != username);
    }

    fn cached(&self, key: &[u8; 32]) -> Option<User> {
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

/// The dashboard checks passwords with the same code as the API (decoy hash included).
#[async_trait::async_trait]
impl Passwords for Authenticator {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<User>, StoreError> {
        match self.authenticate(username, password).await {
            Ok(user) => Ok(Some(user)),
            Err(ApiError::Unauthorized) => Ok(None),
            Err(ApiError::Internal(detail)) => Err(StoreError::Backend(detail)),
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

impl CurrentUser {
    /// `Forbidden` unless this user may change schedulers of `game`.
    pub fn require_editor_of(&self, game: &str) -> Result<(), ApiError> {
        if self.0.can_edit_game(game) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "user {} may not change schedulers of game {game}",
                self.0.username
            )))
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (username, password) = basic_credentials(parts).ok_or(ApiError::Unauthorized)?;
        state
            .auth
            .authenticate(&username, &password)
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
