//! The JSON API: one module per resource, plus authentication, errors and the OpenAPI document.

pub mod allocation;
pub mod audit;
pub mod auth;
pub mod capacity;
pub mod error;
pub mod json;
pub mod openapi;
pub mod openapi_modify;
pub mod operations;
pub mod query;
pub mod rooms;
pub mod schedulers;
pub mod shapes;
pub mod users;
pub mod zeuz;

use std::sync::Arc;

use app::ports::RoomStore;
use app::services::{SchedulerService, UserService};
use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::room_tokens::{RoomTokens, TokenlessSchedulers};

/// What every handler can reach: the ports, chosen by the composition root.
#[derive(Clone)]
pub struct AppState {
    /// The scheduler use cases (reads included: they follow the caller's roles).
    pub schedulers: Arc<SchedulerService>,
    /// The rooms' own calls (pings, events) go to the store directly.
    pub rooms: Arc<dyn RoomStore>,
    pub auth: Arc<auth::Authenticator>,
    pub room_tokens: Arc<RoomTokens>,
    /// Which schedulers accept pings without a token, remembered briefly.
    pub tokenless: Arc<TokenlessSchedulers>,
    /// Where room and player events go (never awaited).
    pub forwarding: Arc<crate::workers::forwarding::Forwarding>,
    /// A scheduler's machines and machine-scaling decisions.
    pub capacity: Arc<app::services::capacity::CapacityService>,
    /// The user use cases (administrators only), shared with the dashboard.
    pub users: Arc<UserService>,
}

/// The management API routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/schedulers",
            get(schedulers::list).post(schedulers::create),
        )
        .route("/schedulers/info", get(schedulers::info))
        .route("/audit", get(audit::list))
        .route("/schedulers/{name}/capacity", get(capacity::get))
        .route("/allocations", post(zeuz::apply))
        .route("/allocations/{name}", get(zeuz::get))
        .route(
            "/schedulers/{name}",
            get(schedulers::get)
                .post(schedulers::new_version)
                .patch(schedulers::patch)
                .put(schedulers::switch_version)
                .delete(schedulers::delete),
        )
        .route("/schedulers/{name}/versions", get(schedulers::versions))
        .route("/schedulers/{name}/add-rooms", post(operations::add_rooms))
        .route(
            "/schedulers/{name}/remove-rooms",
            post(operations::remove_rooms),
        )
        .route("/schedulers/{name}/operations", get(operations::list))
        .route("/schedulers/{name}/operations/{id}", get(operations::get))
        .route(
            "/schedulers/{name}/operations/{id}/cancel",
            post(operations::cancel),
        )
        .route("/schedulers/{name}/rooms", get(rooms::list))
        .route("/schedulers/{name}/regions", get(schedulers::regions))
        .route("/schedulers/{name}/allocations", post(allocation::allocate))
        .route(
            "/schedulers/{name}/allocations/{claim}",
            delete(allocation::release),
        )
        .route(
            "/schedulers/{name}/rooms/{room}/reserve",
            post(allocation::reserve),
        )
        .route(
            "/scheduler/{scheduler}/rooms/allocate",
            post(allocation::maestro_allocate),
        )
        .route(
            "/schedulers/{name}/rooms/history",
            get(schedulers::room_history),
        )
        .route(
            "/schedulers/{name}/autoscaling/decisions",
            get(schedulers::decisions),
        )
        .route("/scheduler/{scheduler}/rooms/{room}/ping", put(rooms::ping))
        .route(
            "/scheduler/{scheduler}/rooms/{room}/status",
            put(rooms::status),
        )
        .route("/scheduler/{scheduler}/rooms/{room}", get(rooms::get_room))
        .route(
            "/scheduler/{scheduler}/rooms/{room}/roomevent",
            post(rooms::room_event),
        )
        .route(
            "/scheduler/{scheduler}/rooms/{room}/playerevent",
            post(rooms::player_event),
        )
        .route(
            "/scheduler/{scheduler}/rooms/{room}/address",
            get(rooms::address),
        )
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{name}",
            get(users::get).patch(users::patch).delete(users::delete),
        )
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::docs_page))
        .with_state(state)
}
