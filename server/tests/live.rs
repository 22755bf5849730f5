//! The dashboard's live updates (server-sent events) over HTTP: a signed-in reader gets the
//! current value at once and each change after it (the scheduler list, a scheduler's rooms, one
//! room with its timeline and output, a scheduler's operations); no session (401), another
//! game's scheduler or an unknown one (404 both) are refused before any event; signing out ends
//! the stream. The real server, on SQLite, with each room store.

#[macro_use]
mod common;

use std::time::Duration;

use app::domain::user::Role;
use common::browser::Browser;
use common::rooms::wait_for;
use common::{Backend, TestServer, seed};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};

on_room_stores!(
    readers_get_the_value_then_its_changes,
    others_are_refused_before_any_event,
    signing_out_ends_the_stream,
    the_room_stream_follows_its_status_and_output,
    the_operations_stream_follows_operations,
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

/// A viewer of game `g1` and a `stranger` (a viewer of `g2`).
async fn add_viewers(server: &TestServer) {
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["g1"])
        .await;
    server
        .create_user("stranger", "stranger-password", Role::Viewer, &["g2"])
        .await;
}

async fn server_with_viewers(backend: Backend) -> TestServer {
    let server = TestServer::start(backend).await;
    add_viewers(&server).await;
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
    let response = Events::open(&anonymous, "/api/live/schedulers/s1/rooms/some-room").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = Events::open(&anonymous, "/api/live/schedulers/s1/operations").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Another game's scheduler is answered as an unknown one: its existence is not told.
    let stranger = Browser::signed_in(&server, "stranger", "stranger-password").await;
    for path in [
        "/api/live/schedulers/s1/rooms",
        "/api/live/schedulers/s1/rooms/some-room",
        "/api/live/schedulers/s1/operations",
    ] {
        let response = Events::open(&stranger, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let error: Value = response.json().await.unwrap();
        assert!(error.get("NotFound").is_some(), "{path}: {error}");
    }
    // Their list shows none of another game's schedulers.
    let mut list = Events::start(&stranger, "/api/live/schedulers").await;
    let rows = list
        .next(Duration::from_secs(5))
        .await
        .expect("the current list");
    assert_eq!(rows, json!([]));

    let viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    for path in [
        "/api/live/schedulers/nope/rooms",
        "/api/live/schedulers/nope/rooms/some-room",
        "/api/live/schedulers/nope/operations",
    ] {
        let response = Events::open(&viewer, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn signing_out_ends_the_stream(backend: Backend) {
    let server = server_with_viewers(backend).await;
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let mut rooms = Events::start(&viewer, "/api/live/schedulers/s1/rooms").await;
    rooms
        .next(Duration::from_secs(5))
        .await
        .expect("the current rooms");

    let mut operations = Events::start(&viewer, "/api/live/schedulers/s1/operations").await;
    operations
        .next(Duration::from_secs(5))
        .await
        .expect("the current operations");

    viewer.call("sign_out", &[]).await.ok();
    // Both values carry the server's clock, so one arrives every second until the end.
    for stream in [&mut rooms, &mut operations] {
        let ended = async { while stream.next(Duration::from_secs(5)).await.is_some() {} };
        tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("the stream ends once the session has");
    }
}

/// Whether the room page's timeline holds an entry of `event` (`Created`, `Status`, ...)
/// satisfying `wanted`.
fn has_entry(page: &Value, event: &str, wanted: impl Fn(&Value) -> bool) -> bool {
    page["timeline"]
        .as_array()
        .is_some_and(|entries| entries.iter().any(|e| wanted(&e["event"][event])))
}

/// The room page's value follows its room: the first event holds the room with its timeline and
/// the lines its instance printed; each status it pings shows in a later event.
async fn the_room_stream_follows_its_status_and_output(backend: Backend) {
    // The controller creates the room (and is quick about it).
    let server = TestServer::start_with(backend, |config| config.health_tick_ms = 200).await;
    add_viewers(&server).await;
    let start = match backend {
        Backend::Redis => 44700,
        _ => 44600,
    };
    server
        .admin()
        .post(
            "/schedulers",
            &json!({
                "name": "talky", "game": "g1", "roomsReplicas": 1, "maxSurge": "100%",
                "allowTokenlessPings": true,
                "portRange": {"start": start, "end": start + 99},
                "roomTimeouts": {"ping": "1h", "initialization": "1h", "termination": "5s"},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example",
                    "command": ["/bin/sh", "-c", "echo live room says hello; exec sleep 120"],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    let rooms = wait_for(
        &server,
        "talky",
        "a room",
        Duration::from_secs(30),
        |rooms| rooms.len() == 1,
    )
    .await;
    let id = rooms[0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/live/schedulers/talky/rooms/{id}");

    let viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let mut room = Events::start(&viewer, &path).await;
    let first = room
        .next(Duration::from_secs(5))
        .await
        .expect("the current room");
    assert_eq!(first["room"]["id"], id.as_str(), "{first}");
    assert_eq!(first["room"]["version"], "v1", "{first}");
    assert!(
        has_entry(&first, "Created", |e| e["version"] == "v1"),
        "{first}"
    );
    // What its instance printed (it may take a moment to be written).
    let printed = room
        .until(Duration::from_secs(10), |page| {
            page["logs"]
                .as_array()
                .is_some_and(|lines| lines.iter().any(|l| l == "live room says hello"))
        })
        .await;
    assert_eq!(printed["room"]["id"], id.as_str());

    // The room reports its status through the ping API: each one reaches the open stream.
    let ping = format!("/scheduler/talky/rooms/{id}/ping");
    for status in ["ready", "occupied"] {
        server
            .anonymous()
            .put(
                &ping,
                &json!({"status": status, "timestamp": chrono::Utc::now().timestamp()}),
            )
            .await
            .ok();
        let changed = room
            .until(Duration::from_secs(10), |page| {
                page["room"]["status"] == status
            })
            .await;
        assert!(
            has_entry(&changed, "Status", |e| e["status"] == status),
            "{changed}"
        );
        assert!(changed["room"]["last_ping_at"].is_string(), "{changed}");
    }

    // Another game's reader is refused this room, before any event.
    let stranger = Browser::signed_in(&server, "stranger", "stranger-password").await;
    let response = Events::open(&stranger, &path).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

fn ids(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .map(|rows| rows.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default()
}

/// The operations page's value follows the scheduler's operations: the first event holds the
/// finished creation; an operation started through the API shows in a later event, then
/// among the finished ones once it ended.
async fn the_operations_stream_follows_operations(backend: Backend) {
    let server = server_with_viewers(backend).await;
    let viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let mut operations = Events::start(&viewer, "/api/live/schedulers/s1/operations").await;
    let first = operations
        .next(Duration::from_secs(5))
        .await
        .expect("the current operations");
    assert_eq!(first["can_cancel"], false, "a viewer: {first}");
    assert_eq!(first["running"], json!([]), "{first}");
    assert_eq!(first["pending"], json!([]), "{first}");
    assert_eq!(first["finished_total"], 1, "the creation: {first}");
    let creation = ids(&first["finished"])[0].to_string();

    let queued = server
        .admin()
        .queued()
        .post("/schedulers/s1/add-rooms", &json!({"amount": 1}))
        .await;
    let id = queued.ok()["operationId"].as_str().unwrap().to_string();
    let shown = operations
        .until(Duration::from_secs(10), |view| {
            ["running", "pending", "finished"]
                .iter()
                .any(|stage| ids(&view[*stage]).contains(&id.as_str()))
        })
        .await;
    assert_eq!(shown["can_cancel"], false);
    let ended = operations
        .until(Duration::from_secs(30), |view| {
            ids(&view["finished"]).contains(&id.as_str())
        })
        .await;
    // The newest first, the creation after it.
    assert_eq!(
        ids(&ended["finished"]),
        [id.as_str(), creation.as_str()],
        "{ended}"
    );
    assert_eq!(ended["finished_total"], 2, "{ended}");
    assert_eq!(ended["running"], json!([]), "{ended}");
    assert_eq!(ended["finished"][0]["definition"], "add_rooms", "{ended}");
}
