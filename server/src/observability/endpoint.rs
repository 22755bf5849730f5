//! `GET /metrics`: on the main port to an admin's Basic credentials or to the configured bearer
//! token (never open there), or open on a separate internal listener (`--metrics-listen`).

use std::sync::Arc;

use app::domain::user::Role;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::metrics::Metrics;
use crate::api::AppState;
use crate::api::auth::CurrentUser;
use crate::api::error::ApiError;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn exposition(metrics: &Metrics) -> Response {
    ([(CONTENT_TYPE, TEXT_FORMAT)], metrics.render()).into_response()
}

/// The open endpoint, for the internal listener.
pub fn open_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move { exposition(&m) }),
        )
        .with_state(metrics)
}

#[derive(Clone)]
pub struct Guarded {
    metrics: Arc<Metrics>,
    /// SHA-256 of the bearer token, when one is configured (compared as digests).
    token: Option<[u8; 32]>,
    app: AppState,
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The guarded endpoint, for the main port.
pub fn guarded_router(metrics: Arc<Metrics>, token: Option<&str>, app: AppState) -> Router {
    let state = Guarded {
        metrics,
        token: token.filter(|t| !t.is_empty()).map(digest),
        app,
    };
    Router::new()
        .route("/metrics", get(guarded))
        .with_state(state)
}

/// The Prometheus text format (0.0.4). Served here unless `--metrics-listen` gives it a listener
/// of its own; an administrator's Basic credentials or `Authorization: Bearer` with
/// `--metrics-token`.
#[utoipa::path(get, path = "/metrics", tag = "observability",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "No credentials, wrong ones or a wrong token"),
        (status = 403, description = "Not an administrator")))]
pub async fn guarded(State(state): State<Guarded>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| digest(token.trim()));
    if let (Some(expected), Some(given)) = (state.token, bearer) {
        if expected == given {
            return exposition(&state.metrics);
        }
        return ApiError::Unauthorized.into_response();
    }
    match CurrentUser::from_request_parts(&mut parts, &state.app).await {
        Ok(CurrentUser(user)) if user.role == Role::Admin => exposition(&state.metrics),
        Ok(_) => ApiError::Forbidden("only administrators read the metrics".into()).into_response(),
        Err(err) => err.into_response(),
    }
}
