//! Who is signed in: the dashboard's error type, the current user, and (server only) sessions
//! and the checks every server function goes through first.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::domain::user::User;
use crate::domain::validation::FieldError;

/// What a dashboard server function can refuse or fail with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// No session, or it ended: its user signed out (in any browser), was disabled or
    /// deleted, or changed password; or it was idle longer than the inactivity window.
    #[error("Sign in to continue.")]
    Unauthenticated,
    /// The same answer whether the user exists or not.
    #[error("Wrong username or password.")]
    BadCredentials,
    #[error("Too many failed sign-ins from your address. Wait a minute and try again.")]
    TooManyAttempts,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Every field at fault, as `SchedulerConfig::validate` reports them.
    #[error("Some fields need attention.")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Failed(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Failed(value.to_string())
    }
}

impl AppError {
    /// One field at fault.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_string(),
            message: message.to_string(),
        }])
    }
}

/// The signed-in user, or `None`.
#[server(endpoint = "current_user", output = crate::codec::JsonText)]
pub async fn current_user() -> Result<Option<User>, AppError> {
    server::current().await
}

/// Where to go after signing in: only paths of the dashboard itself (no other site).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/ui")
                && !path.contains("//")
                && !path.contains('\\')
                && path != "/ui/sign-in" =>
        {
            path.to_string()
        }
        _ => "/ui/schedulers".to_string(),
    }
}

#[cfg(feature = "ssr")]
pub mod server {
    //! Sessions, roles and the sign-in rate limit (server only).

    use std::net::SocketAddr;
    use std::sync::Arc;

    use axum::extract::ConnectInfo;
    use axum::http::StatusCode;
    use axum::http::header::ACCEPT;
    use axum::http::request::Parts;
    use leptos::prelude::*;
    use serde::{Deserialize, Serialize};
    use tower_sessions::Session;

    use super::AppError;
    use crate::domain::user::User;
    use crate::ports::{Account, Passwords, StoreError, UserStore};
    use crate::services::capacity::CapacityService;
    use crate::services::room_detail::RoomService;
    use crate::services::{SchedulerService, ServiceError, UserService};

    /// What the dashboard's server functions reach, provided as context by the server.
    #[derive(Clone)]
    pub struct Dashboard {
        /// The scheduler use cases, shared with the JSON API.
        pub schedulers: Arc<SchedulerService>,
        /// A scheduler's machines and machine-scaling decisions, shared with the JSON API.
        pub capacity: Arc<CapacityService>,
        /// One room with its output (the runtimes'), for the room page.
        pub rooms: Arc<RoomService>,
        pub users: Arc<dyn UserStore>,
        /// Password checks, shared with the API (throttled per client address and user).
        pub passwords: Arc<dyn Passwords>,
        /// The user use cases (administrators only), shared with the JSON API.
        pub accounts: Arc<UserService>,
    }

    impl From<ServiceError> for AppError {
        fn from(err: ServiceError) -> Self {
            match err {
                ServiceError::Invalid(errors) => Self::Invalid(errors),
                ServiceError::Forbidden(message) => Self::Forbidden(message),
                ServiceError::NotFound(message) => Self::NotFound(message),
                ServiceError::Conflict(message) => Self::Conflict(message),
                ServiceError::Busy(busy) => Self::Conflict(busy.to_string()),
                ServiceError::Precondition(message) => Self::Conflict(message),
                ServiceError::Backend(detail) => {
                    leptos::logging::error!("dashboard storage failed: {detail}");
                    Self::Failed("Storage failed; try again.".into())
                }
                ServiceError::Unavailable { store, detail } => {
                    leptos::logging::warn!("dashboard: {store} is unavailable: {detail}");
                    Self::Failed(format!(
                        "{store} is unavailable; try again in a few seconds."
                    ))
                }
            }
        }
    }

    /// Store errors map as the use cases map them (one rule: `ServiceError::from`).
    impl From<StoreError> for AppError {
        fn from(err: StoreError) -> Self {
            ServiceError::from(err).into()
        }
    }

    /// The ports, as the server provided them.
    pub fn dashboard() -> Result<Dashboard, AppError> {
        use_context::<Dashboard>()
            .ok_or_else(|| AppError::Failed("the dashboard has no storage in context".into()))
    }

    /// Sets the HTTP status that goes with `err` (for API-style callers; a plain form post keeps
    /// its redirect) and returns it.
    /// The HTTP status an error is answered with.
    pub fn status_of(err: &AppError) -> StatusCode {
        match err {
            AppError::Unauthenticated | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn reject(err: AppError) -> AppError {
        let status = status_of(&err);
        let form_post = use_context::<Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if !form_post && let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
        err
    }

    const SESSION_KEY: &str = "user";

    /// What a session remembers: who, which password (a new password ends old sessions) and
    /// the user's session epoch when it started (signing out, anywhere, moves it on).
    #[derive(Serialize, Deserialize)]
    struct SignedIn {
        username: String,
        password: String,
        /// Sessions stored before epochs are of epoch 0, the epoch every user starts with.
        #[serde(default)]
        epoch: i64,
    }

    /// The salt of a PHC password hash: it changes with every new password and is not secret.
    fn password_tag(hash: &str) -> String {
        hash.split('$').nth(4).unwrap_or(hash).to_string()
    }

    /// The user signed in on `session`, if it still exists, is enabled, kept its password and
    /// did not sign out since. A session in use is renewed: it ends only after a whole
    /// inactivity window (`Expiry::OnInactivity`) without a signed-in request.
    pub async fn session_user(
        session: &Session,
        users: &dyn UserStore,
    ) -> Result<Option<User>, AppError> {
        let Ok(Some(signed_in)) = session.get::<SignedIn>(SESSION_KEY).await else {
            return Ok(None);
        };
        let Some(account) = users.account(&signed_in.username).await? else {
            return Ok(None);
        };
        if account.user.disabled
            || password_tag(&account.password_hash) != signed_in.password
            || account.session_epoch != signed_in.epoch
        {
            return Ok(None);
        }
        // Saved again (with a new expiry) when the response goes out.
        session.set_expiry(session.expiry());
        Ok(Some(account.user))
    }

    /// Starts a fresh session (a new id: no fixation) for `account`.
    pub async fn start_session(session: &Session, account: &Account) -> Result<(), AppError> {
        let failed = |e: tower_sessions::session::Error| AppError::Failed(e.to_string());
        session.cycle_id().await.map_err(failed)?;
        session
            .insert(
                SESSION_KEY,
                SignedIn {
                    username: account.user.username.clone(),
                    password: password_tag(&account.password_hash),
                    epoch: account.session_epoch,
                },
            )
            .await
            .map_err(failed)
    }

    /// This request's session.
    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>()
            .await
            .map_err(|e| AppError::Failed(format!("no session layer: {e}")))
    }

    /// The user signed in on this request, or `None`.
    pub async fn current() -> Result<Option<User>, AppError> {
        let dashboard = dashboard()?;
        session_user(&session().await?, dashboard.users.as_ref()).await
    }

    /// The signed-in user, or `Unauthenticated`.
    pub async fn require_user() -> Result<User, AppError> {
        current()
            .await?
            .ok_or_else(|| reject(AppError::Unauthenticated))
    }

    /// The address the request came from, as the listener saw it.
    pub async fn client_ip() -> String {
        match leptos_axum::extract::<ConnectInfo<SocketAddr>>().await {
            Ok(ConnectInfo(addr)) => addr.ip().to_string(),
            Err(_) => "unknown".to_string(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn password_tags_are_the_salt() {
            assert_eq!(
                password_tag("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
                "c2FsdA"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(safe_next(Some("/ui/users")), "/ui/users");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/ui/sign-in",
            "/docs",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/schedulers", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/schedulers");
    }
}
