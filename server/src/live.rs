//! Live updates for the dashboard, as server-sent events: the scheduler list with its room
//! counts (`/api/live/schedulers`), a scheduler's rooms with its desired count
//! (`/api/live/schedulers/{name}/rooms`), one room with its timeline and output
//! (`/api/live/schedulers/{name}/rooms/{room}`) and a scheduler's operations
//! (`/api/live/schedulers/{name}/operations`). Each connection gets the current value at once,
//! then every change, read once a second by the very functions the pages' server functions call
//! (`scheduler_rows`, `rooms_now`, `room_now`, `operations_now`). The session is checked again
//! before every read, so updates stop when it ends (sign-out everywhere, a disabled user); a
//! scheduler that cannot be read (unknown, another game's) is answered with its status before
//! any event.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use app::auth::AppError;
use app::auth::server::{Dashboard, session_user, status_of};
use app::domain::user::User;
use app::pages::operations::operations_now;
use app::pages::room::room_now;
use app::pages::scheduler::rooms_now;
use app::pages::schedulers::scheduler_rows;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use serde::Serialize;
use tower_sessions::Session;

/// How often a connection's value is read again.
const EVERY: Duration = Duration::from_secs(1);

pub fn router(dashboard: Dashboard) -> Router {
    Router::new()
        .route("/api/live/schedulers", get(schedulers))
        .route("/api/live/schedulers/{name}/rooms", get(rooms))
        .route("/api/live/schedulers/{name}/rooms/{room}", get(room))
        .route("/api/live/schedulers/{name}/operations", get(operations))
        .with_state(dashboard)
}

async fn schedulers(State(dashboard): State<Dashboard>, session: Session) -> Response {
    pushes(dashboard, session, |dashboard, user| async move {
        scheduler_rows(&dashboard, &user).await
    })
    .await
}

async fn rooms(
    State(dashboard): State<Dashboard>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    pushes(dashboard, session, move |dashboard, user| {
        let name = name.clone();
        async move { rooms_now(&dashboard, &user, &name).await }
    })
    .await
}

async fn room(
    State(dashboard): State<Dashboard>,
    session: Session,
    Path((name, room)): Path<(String, String)>,
) -> Response {
    pushes(dashboard, session, move |dashboard, user| {
        let (name, room) = (name.clone(), room.clone());
        async move { room_now(&dashboard, &user, &name, &room).await }
    })
    .await
}

async fn operations(
    State(dashboard): State<Dashboard>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    pushes(dashboard, session, move |dashboard, user| {
        let name = name.clone();
        async move { operations_now(&dashboard, &user, &name).await }
    })
    .await
}

/// The error as the server functions answer it: its status, the error as JSON.
fn refused(error: &AppError) -> Response {
    (status_of(error), axum::Json(error)).into_response()
}

/// Whether an error is for good (the stream ends) rather than passing (a store that is down).
fn lasting(error: &AppError) -> bool {
    !matches!(error, AppError::Failed(_))
}

/// The events of `read`'s values for the session's user: the first at once, then each change.
async fn pushes<T, F, Fut>(dashboard: Dashboard, session: Session, read: F) -> Response
where
    T: Serialize + Send + 'static,
    F: Fn(Dashboard, User) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    let user = match session_user(&session, dashboard.users.as_ref()).await {
        Ok(Some(user)) => user,
        Ok(None) => return refused(&AppError::Unauthenticated),
        Err(error) => return refused(&error),
    };
    let first = match read(dashboard.clone(), user).await {
        Ok(value) => serde_json::to_string(&value).ok(),
        Err(error) if lasting(&error) => return refused(&error),
        Err(_) => None,
    };
    Sse::new(changes(dashboard, session, read, first))
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct Connection<F> {
    dashboard: Dashboard,
    session: Session,
    read: F,
    /// The value to send before reading again.
    pending: Option<String>,
    /// The last value sent.
    sent: Option<String>,
    ticks: tokio::time::Interval,
}

fn changes<T, F, Fut>(
    dashboard: Dashboard,
    session: Session,
    read: F,
    first: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>>
where
    T: Serialize + Send + 'static,
    F: Fn(Dashboard, User) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let connection = Connection {
        dashboard,
        session,
        read,
        pending: first,
        sent: None,
        ticks,
    };
    futures::stream::unfold(connection, |mut c| async move {
        loop {
            if let Some(text) = c.pending.take() {
                c.sent = Some(text.clone());
                return Some((Ok(Event::default().data(text)), c));
            }
            c.ticks.tick().await;
            let user = match session_user(&c.session, c.dashboard.users.as_ref()).await {
                Ok(Some(user)) => user,
                Ok(None) => return None,
                Err(_) => continue,
            };
            match (c.read)(c.dashboard.clone(), user).await {
                Ok(value) => {
                    let text = serde_json::to_string(&value).ok();
                    if text.is_some() && text != c.sent {
                        c.pending = text;
                    }
                }
                Err(error) if lasting(&error) => return None,
                Err(_) => {}
            }
        }
    })
}
