//! Around every request: a request id (the caller's `x-request-id` when it is sane, else a new
//! one) echoed in the response and carried by a tracing span, so that every log line of the
//! request names it; and the request counted and timed by method, matched route and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::metrics::{HttpLabels, Metrics};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a caller.
const MAX_REQUEST_ID: usize = 128;

/// The caller's request id when it is 1 to 128 characters of letters, digits and `-_.:`.
pub fn sane_request_id(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let sane = !text.is_empty()
        && text.len() <= MAX_REQUEST_ID
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    sane.then_some(text)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`), added with `Router::layer` so
/// that it runs after routing and sees the matched route.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = method_label(request.method());
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::debug!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    metrics.http_request(
        &HttpLabels {
            method: method.to_string(),
            route,
            status,
        },
        elapsed,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_taken() {
        let id = |text: &str| HeaderValue::from_str(text).ok();
        let taken = |text: &str| id(text).and_then(|v| sane_request_id(&v).map(str::to_string));
        assert_eq!(taken("abc-123_x.y:z").as_deref(), Some("abc-123_x.y:z"));
        assert_eq!(
            taken(&"a".repeat(128)).as_deref(),
            Some("a".repeat(128).as_str())
        );
        assert_eq!(taken(&"a".repeat(129)), None);
        assert_eq!(taken(""), None);
        assert_eq!(taken("has space"), None);
        assert_eq!(taken("quote\"d"), None);
        assert_eq!(taken("new\tline"), None);
        assert_eq!(taken("{json}"), None);
    }
}
