//! The OpenAPI document, generated from the handlers and domain types, and a page that reads it.

use axum::Json;
use axum::response::Html;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::openapi_modify::Tighten;
use super::{allocation, audit, capacity, operations, rooms, schedulers, users, zeuz};

#[derive(OpenApi)]
#[openapi(
    info(title = "Baton", description = "Game-room orchestrator. Management paths follow Maestro v10."),
    paths(
        schedulers::list,
        schedulers::create,
        schedulers::get,
        schedulers::new_version,
        schedulers::patch,
        schedulers::versions,
        schedulers::switch_version,
        schedulers::delete,
        schedulers::info,
        schedulers::regions,
        schedulers::decisions,
        schedulers::room_history,
        capacity::get,
        operations::list,
        operations::get,
        operations::cancel,
        operations::add_rooms,
        operations::remove_rooms,
        rooms::list,
        rooms::ping,
        rooms::status,
        rooms::get_room,
        rooms::room_event,
        rooms::player_event,
        rooms::address,
        allocation::maestro_allocate,
        allocation::allocate,
        allocation::reserve,
        allocation::release,
        zeuz::apply,
        zeuz::get,
        users::list,
        users::get,
        users::create,
        users::patch,
        users::delete,
        audit::list,
        crate::observability::probes::healthz,
        crate::observability::probes::readyz,
        crate::observability::endpoint::guarded,
    ),
    modifiers(&BasicAuth, &Tighten),
    security(("basic" = [])),
)]
pub struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "room_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain HTML reference built from the same document (no scripts, nothing fetched from elsewhere).
pub async fn docs_page() -> Html<String> {
    let doc = ApiDoc::openapi();
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let summary = operation.summary.as_deref().unwrap_or_default();
            let statuses: Vec<&str> = operation
                .responses
                .responses
                .keys()
                .map(String::as_str)
                .collect();
            rows.push_str(&format!(
                "<tr><td class=\"method\">{method}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                escape(path),
                escape(summary),
                statuses.join(", ")
            ));
        }
    }
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Baton API</title>\
         <link rel=\"stylesheet\" href=\"/pkg/baton.css\"></head><body><main>\
         <h1>Baton API</h1><p>All endpoints take HTTP Basic credentials. The machine-readable \
         document is at <a href=\"/openapi.json\">/openapi.json</a>.</p>\
         <table class=\"api\"><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Statuses</th></tr></thead>\
         <tbody>{rows}</tbody></table></main></body></html>"
    ))
}
