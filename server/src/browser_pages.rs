//! A browser that opens an API path (it asks for `text/html`) lands on the dashboard page of the
//! same resource instead of a Basic-auth prompt. API clients (JSON, `*/*`) are not affected.

use axum::extract::Request;
use axum::http::header::{ACCEPT, LOCATION};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Sends page requests for API resources to their dashboard page (303 See Other).
pub async fn redirect_to_pages(request: Request, next: Next) -> Response {
    if *request.method() == Method::GET
        && wants_html(&request)
        && let Some(page) = page_for(request.uri().path())
    {
        return (StatusCode::SEE_OTHER, [(LOCATION, page)]).into_response();
    }
    next.run(request).await
}

/// Whether the client asks for HTML by name (browsers do on navigation; `*/*` is not enough).
fn wants_html(request: &Request) -> bool {
    request
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| media.split(';').next().unwrap_or("").trim() == "text/html")
}

/// The dashboard page that shows the resource at an API path, if one does.
pub fn page_for(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let scheduler = |name: &str| Some(format!("/ui/schedulers/{name}"));
    match segments.as_slice() {
        ["schedulers"] | ["schedulers", "info"] => Some("/ui/schedulers".to_string()),
        ["schedulers", name, "operations", ..] if !name.is_empty() => {
            Some(format!("/ui/schedulers/{name}/operations"))
        }
        ["schedulers", name, "capacity"] if !name.is_empty() => {
            Some(format!("/ui/schedulers/{name}/capacity"))
        }
        ["schedulers", name, ..] | ["scheduler", name, ..] | ["allocations", name]
            if !name.is_empty() =>
        {
            scheduler(name)
        }
        ["users", ..] => Some("/ui/users".to_string()),
        ["audit"] => Some("/ui/audit".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_map_to_the_page_of_the_same_resource() {
        for (path, page) in [
            ("/schedulers", Some("/ui/schedulers")),
            ("/schedulers/", Some("/ui/schedulers")),
            ("/schedulers/info", Some("/ui/schedulers")),
            ("/schedulers/demo", Some("/ui/schedulers/demo")),
            ("/schedulers/demo/versions", Some("/ui/schedulers/demo")),
            (
                "/schedulers/demo/operations",
                Some("/ui/schedulers/demo/operations"),
            ),
            (
                "/schedulers/demo/operations/abc",
                Some("/ui/schedulers/demo/operations"),
            ),
            ("/schedulers/demo/add-rooms", Some("/ui/schedulers/demo")),
            (
                "/schedulers/demo/capacity",
                Some("/ui/schedulers/demo/capacity"),
            ),
            ("/scheduler/demo/rooms", Some("/ui/schedulers/demo")),
            ("/allocations/demo", Some("/ui/schedulers/demo")),
            ("/users", Some("/ui/users")),
            ("/users/ann", Some("/ui/users")),
            ("/audit", Some("/ui/audit")),
            ("/ui/schedulers", None),
            ("/openapi.json", None),
            ("/metrics", None),
            ("/", None),
            ("/allocations", None),
        ] {
            assert_eq!(page_for(path).as_deref(), page, "{path}");
        }
    }
}
