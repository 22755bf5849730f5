//! Refuses state-changing requests that a page of another site sent: the JSON API and the
//! dashboard alike. Browsers name the sending page's origin in `Origin`; API clients that are
//! not browsers send none and are not affected.

use axum::extract::Request;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses state-changing requests sent by another site (the `Origin` a browser adds names a
/// different host). The session cookie is also `SameSite=Lax`.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD)
        && let Some(origin) = request.headers().get(ORIGIN)
    {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        let same = match (origin.to_str(), host) {
            (Ok(origin), Some(host)) => origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
            _ => false,
        };
        if !same {
            return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
    }
    next.run(request).await
}
