//! The dashboard's live updates (server-sent events) over HTTP: a signed-in reader gets the
//! current value at once and each change after it; no session (401), another game's scheduler or
//! an unknown one (404 both) are refused before any event; signing out ends the stream. The real server, on
//! SQLite, with each room store.

#[macro_use]
mod common;

use std::time::Duration;

use app::domain::user::Role;
use common::browser::Browser;
use common::{Backend, TestServer, seed};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};

on_room_stores!(
    readers_get_the_value_then_its_changes,
    others_are_refused_before_any_event,
    signing_out_ends_the_stream,
);

/// An open event stream: reads `data:` lines as JSON values.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(browser: &Browser<'_>, path: &str) -> reqwest::Response {
        let mut request = browser.client.get(browser.server.url(path));
        if let Some(cookie) = &browser.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    async fn start(browser: &Browser<'_>, path: &str) -> Self {
        let response = Self::open(browser, path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let kind = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(kind, "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's data, `None` when the stream ended, within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let event: String = self.buffer.drain(..end + 2).collect();
                    let data: Vec<&str> = event
                        .lines()
                        .filter_map(|line| line.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    if data.is_empty() {
                        continue; // a keep-alive comment
                    }
                    return Some(serde_json::from_str(&data.join("\n")).unwrap());
                }
                match self.response.chunk().await.unwrap() {
                    Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                    None => return None,
                }
            }
        })
        .await
        .expect("an event or the end of the stream in time")
    }

    /// The first event whose data satisfies `wanted`, within `wait`.
    async fn until(&mut self, wait: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await.expect("the stream goes on");
            if wanted(&event) {
                return event;
            }
        }
    }
}

async fn server_with_viewers(backend: Backend) -> TestServer {
    let server = TestServer::start(backend).await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["g1"])
        .await;
    server
        .create_user("stranger", "stranger-password", Role::Viewer, &["g2"])
        .await;
    server
        .admin()
        .post("/schedulers", &seed("s1", "g1"))
        .await
        .ok();
    server
}

async fn readers_get_the_value_then_its_changes(backend: Backend) {
    let server = server_with_viewers(backend).await;
    let viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;

    let mut rooms = Events::start(&viewer, "/api/live/schedulers/s1/rooms").await;
    let first = rooms
        .next(Duration::from_secs(5))
        .await
        .expect("the current rooms");
    assert_eq!(first["rooms_replicas"], 1, "{first}");
    let mut list = Events::start(&viewer, "/api/live/schedulers").await;
    let rows = list
        .next(Duration::from_secs(5))
        .await
        .expect("the current list");
    assert_eq!(rows[0]["name"], "s1", "{rows}");
    assert_eq!(rows[0]["replicas"], 1, "{rows}");

    // A change made elsewhere reaches both streams without asking.
    server
        .admin()
        .patch("/schedulers/s1", &json!({"roomsReplicas": 3}))
        .await
        .ok();
    let changed = rooms
        .until(Duration::from_secs(10), |now| now["rooms_replicas"] == 3)
        .await;
    assert_eq!(changed["rooms_replicas"], 3);
    let rows = list
        .until(Duration::from_secs(10), |rows| rows[0]["replicas"] == 3)
        .await;
    assert_eq!(rows[0]["name"], "s1");
}

async fn others_are_refused_before_any_event(backend: Backend) {
    let server = server_with_viewers(backend).await;
    let anonymous = Browser::new(&server);
    let response = Events::open(&anonymous, "/api/live/schedulers/s1/rooms").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = Events::open(&anonymous, "/api/live/schedulers").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Another game's scheduler is answered as an unknown one: its existence is not told.
    let stranger = Browser::signed_in(&server, "stranger", "stranger-password").await;
    let response = Events::open(&stranger, "/api/live/schedulers/s1/rooms").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Their list shows none of another game's schedulers.
    let mut list = Events::start(&stranger, "/api/live/schedulers").await;
    let rows = list
        .next(Duration::from_secs(5))
        .await
        .expect("the current list");
    assert_eq!(rows, json!([]));

    let viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let response = Events::open(&viewer, "/api/live/schedulers/nope/rooms").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn signing_out_ends_the_stream(backend: Backend) {
    let server = server_with_viewers(backend).await;
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let mut rooms = Events::start(&viewer, "/api/live/schedulers/s1/rooms").await;
    rooms
        .next(Duration::from_secs(5))
        .await
        .expect("the current rooms");

    viewer.call("sign_out", &[]).await.ok();
    // Rooms values carry the server's clock, so one arrives every second until the end.
    let ended = async { while rooms.next(Duration::from_secs(5)).await.is_some() {} };
    tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .expect("the stream ends once the session has");
}
