//! The dashboard's server side: the Leptos pages and server functions with the ports in their
//! context, sessions kept in the SQL database (renewed by every signed-in request, ended after
//! an idle window or at sign-out) and the sign-in redirect.

use std::sync::Arc;
use std::time::Duration;

use app::auth::server::{Dashboard, session_user};
use app::ports::UserStore;
use app::{App, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::task::JoinHandle;
use tower_http::compression::CompressionLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time;
use tower_sessions::{ExpiredDeletion, Expiry, Session, SessionManagerLayer};

use crate::adapters::storage::sql::SqlStore;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "baton_session";

/// How session cookies are set.
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// The cookie is `Secure` (sent over HTTPS only).
    pub secure_cookies: bool,
    /// A session ends this long after its last signed-in request (each one renews it).
    pub idle: Duration,
}

/// The pages (under `/ui`), their server functions (under `/api`) and the built assets, all
/// compressed when the browser accepts gzip.
pub fn router(
    options: LeptosOptions,
    dashboard: Dashboard,
    sessions: SqlStore,
    settings: SessionSettings,
) -> Router {
    let users = dashboard.users.clone();
    let live = dashboard.clone();
    let context = move || provide_context(dashboard.clone());
    let home = || async { Redirect::to("/ui/schedulers") };
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookies)
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(settings.idle).unwrap_or(time::Duration::hours(12)),
        ));
    Router::new()
        .route("/", get(home))
        .route("/ui", get(home))
        .leptos_routes_with_context(&options, generate_route_list(App), context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context, shell,
        ))
        .with_state(options)
        .merge(crate::live::router(live))
        .layer(middleware::from_fn_with_state(users, require_sign_in))
        .layer(session_layer)
        // Pages, server-function answers and the WASM files, gzipped for browsers that ask.
        .layer(CompressionLayer::new())
}

/// Deletes expired sessions every hour.
pub fn spawn_session_cleanup(sessions: SqlStore) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(err) = sessions.delete_expired().await {
                tracing::warn!(%err, "deleting expired sessions failed");
            }
        }
    })
}

/// Pages need a signed-in user: others go to the sign-in page (and back after it).
async fn require_sign_in(
    State(users): State<Arc<dyn UserStore>>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if request.method() == Method::GET && (path == "/ui" || path.starts_with("/ui/")) {
        let signed_in = matches!(session_user(&session, users.as_ref()).await, Ok(Some(_)));
        if path == "/ui/sign-in" {
            if signed_in {
                return Redirect::to("/ui/schedulers").into_response();
            }
        } else if !signed_in {
            let target = request.uri().path_and_query().map_or(path, |p| p.as_str());
            return Redirect::to(&format!("/ui/sign-in?next={}", encode(target))).into_response();
        }
    }
    next.run(request).await
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_the_return_path() {
        assert_eq!(encode("/ui/schedulers/a-b"), "/ui/schedulers/a-b");
        assert_eq!(encode("/ui/x?a=1&b=2"), "/ui/x%3Fa%3D1%26b%3D2");
    }
}
