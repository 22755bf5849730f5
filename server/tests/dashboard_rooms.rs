//! The room page and the allocation page, server side, as a browser uses them: a live room of the
//! example game room on the local runtime, its page rendered on the server (timeline, address,
//! last ping, claims, output with its secrets hidden), and a room allocated by hand by an editor
//! (a viewer is refused), and the allocations and refusals per second the allocation page
//! charts (`dashboard_rooms/allocation_rate.rs`). The real server, on SQLite, with each room
//! store.

#[macro_use]
mod common;

use std::time::Duration;

use app::domain::user::Role;
use common::browser::Browser;
use common::rooms::{example_room, processes_with, wait_for};
use common::{Backend, Reply, TestServer, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[path = "dashboard_rooms/allocation_rate.rs"]
mod allocation_rate;
use allocation_rate::the_allocation_page_counts_allocations_and_refusals;

on_room_stores!(
    the_room_page_shows_a_live_room_and_hides_its_secrets,
    editors_allocate_by_hand_and_viewers_may_not,
    the_allocation_page_counts_allocations_and_refusals,
);

const GAME: &str = "rooms-game";
const SECRET: &str = "the-secret-value";

/// A server whose controller keeps one room of the example game room alive, with a viewer and
/// an editor of its game. The room prints its token and a secret variable first (through a
/// shell), so the page has something to hide. Answers the room's id.
async fn server_with_a_room(backend: Backend, name: &str) -> (TestServer, String) {
    let server = TestServer::start_with(backend, |config| config.health_tick_ms = 200).await;
    // A port range of its own per backend and scenario (they run at once).
    let start = match backend {
        Backend::Redis => 49400,
        _ => 49100,
    } + match name {
        n if n.starts_with("alloc-rate") => 200,
        n if n.starts_with("alloc") => 100,
        _ => 0,
    };
    let script = "echo \"token $BATON_ROOM_TOKEN key $API_KEY\"; exec \"$0\"";
    server
        .admin()
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": GAME, "roomsReplicas": 1, "maxSurge": "100%",
                "portRange": {"start": start, "end": start + 99},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example",
                    "command": ["/bin/sh", "-c", script, example_room().to_string_lossy()],
                    "environment": [
                        {"name": "EXAMPLE_PING_SECONDS", "value": "0.3"},
                        {"name": "API_KEY", "value": SECRET, "secret": true}
                    ],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    let rooms = wait_for(
        &server,
        name,
        "a ready room with an address",
        Duration::from_secs(30),
        |rooms| {
            rooms.len() == 1 && rooms[0]["status"] == "ready" && rooms[0]["address"].is_object()
        },
    )
    .await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &[GAME])
        .await;
    server
        .create_user("editor", "editor-password", Role::Editor, &[GAME])
        .await;
    let id = rooms[0]["id"].as_str().unwrap().to_string();
    (server, id)
}

/// The room's token, as its process got it.
fn token_of(room: &str) -> String {
    let pids = processes_with("MAESTRO_ROOM_ID", room);
    assert_eq!(pids.len(), 1, "one process for room {room}");
    let environ = std::fs::read(format!("/proc/{}/environ", pids[0])).unwrap();
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("BATON_ROOM_TOKEN="))
        .expect("the room has a token")
        .to_string()
}

#[track_caller]
fn assert_refused(reply: &Reply, status: StatusCode, kind: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.text);
    let found = match &reply.json {
        Value::String(unit) => unit.as_str(),
        Value::Object(map) => map.keys().next().map_or("", String::as_str),
        _ => "",
    };
    assert_eq!(found, kind, "body: {}", reply.text);
}

/// Polls the room page's server function until the room's output shows `line`.
async fn wait_for_output(browser: &mut Browser<'_>, name: &str, room: &str, line: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let reply = browser
            .call("room_detail", &[("name", name), ("room", room)])
            .await;
        let page = reply.ok().clone();
        let logs = page["logs"].as_array().cloned().unwrap_or_default();
        if logs
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains(line)))
        {
            return page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no output line with {line:?}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn the_room_page_shows_a_live_room_and_hides_its_secrets(backend: Backend) {
    let name = "room-page";
    let (server, room) = server_with_a_room(backend, name).await;
    let token = token_of(&room);
    assert!(token.len() >= 32, "{token}");
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;

    // The server function: the room, its timeline, its output with the secrets hidden.
    let up = format!("room {room} of {name} up, pinging");
    let page = wait_for_output(&mut viewer, name, &room, &up).await;
    assert_eq!(page["room"]["id"], room.as_str());
    assert_eq!(page["room"]["status"], "ready");
    assert_eq!(page["room"]["host"], "127.0.0.1");
    assert!(page["room"]["last_ping_at"].is_string(), "{page}");
    let events: Vec<&str> = page["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match &e["event"] {
            Value::Object(map) => map.keys().next().unwrap().as_str(),
            Value::String(unit) => unit.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(events, ["Created", "Status"], "{page}");
    assert_eq!(page["timeline"][1]["event"]["Status"]["status"], "ready");
    let logs: Vec<&str> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        logs.contains(&"token (hidden) key (hidden)"),
        "the line that printed the secrets, hidden: {logs:?}"
    );

    // The page, rendered on the server: timeline, address, last ping, output; no secret.
    let html = viewer
        .get(&format!("/ui/schedulers/{name}/rooms/{room}"))
        .await;
    assert_eq!(html.status, StatusCode::OK);
    for expected in [
        r#"data-event="created""#.to_string(),
        r#"data-event="ready""#.to_string(),
        r#"data-testid="room-logs""#.to_string(),
        up.clone(),
        "token (hidden) key (hidden)".to_string(),
        r#"data-testid="room-host">127.0.0.1"#.to_string(),
        "game 49".to_string(),
        r#"data-testid="last-ping">"#.to_string(),
    ] {
        assert!(html.text.contains(&expected), "{expected} in {}", html.text);
    }
    assert!(
        !html.text.contains(&token),
        "the token shows: {}",
        html.text
    );
    assert!(
        !html.text.contains(SECRET),
        "the secret shows: {}",
        html.text
    );
    // The scheduler page links to it.
    let scheduler_page = viewer.get(&format!("/ui/schedulers/{name}")).await;
    assert!(
        scheduler_page
            .text
            .contains(&format!(r#"href="/ui/schedulers/{name}/rooms/{room}""#)),
        "{}",
        scheduler_page.text
    );

    // A room not in the store: no room, nothing printed; another game's scheduler: not found.
    let gone = viewer
        .call("room_detail", &[("name", name), ("room", "no-such-room")])
        .await;
    assert_eq!(gone.ok()["room"], Value::Null);
    assert_eq!(gone.ok()["logs"], json!([]));
    let html = viewer
        .get(&format!("/ui/schedulers/{name}/rooms/no-such-room"))
        .await;
    assert!(
        html.text.contains(r#"data-testid="room-gone""#),
        "{}",
        html.text
    );
    let mut other = seed("other", "other-game");
    other["roomsReplicas"] = json!(0);
    server.admin().post("/schedulers", &other).await.ok();
    let reply = viewer
        .call("room_detail", &[("name", "other"), ("room", &room)])
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "NotFound");
    let reply = Browser::new(&server)
        .call("room_detail", &[("name", name), ("room", &room)])
        .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "Unauthenticated");
}

async fn editors_allocate_by_hand_and_viewers_may_not(backend: Backend) {
    let name = "alloc-page";
    let (server, room) = server_with_a_room(backend, name).await;

    // A viewer reads the (empty) list, sees no button, and the server function refuses them.
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    assert_eq!(
        viewer.call("can_allocate", &[("name", name)]).await.ok(),
        &json!(false)
    );
    let list = viewer
        .call("scheduler_allocations", &[("name", name)])
        .await;
    assert_eq!(list.ok()["rooms"], json!([]));
    let html = viewer
        .get(&format!("/ui/schedulers/{name}/allocation"))
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.text.contains("Allocated rooms"), "{}", html.text);
    assert!(!html.text.contains("Allocate a room"), "{}", html.text);
    let reply = viewer
        .call("allocate_room", &[("name", name), ("metadata", "")])
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");

    // The editor sees the button and allocates the room, with match metadata.
    let mut editor = Browser::signed_in(&server, "editor", "editor-password").await;
    assert_eq!(
        editor.call("can_allocate", &[("name", name)]).await.ok(),
        &json!(true)
    );
    let html = editor
        .get(&format!("/ui/schedulers/{name}/allocation"))
        .await;
    assert!(html.text.contains("Allocate a room"), "{}", html.text);
    let reply = editor
        .call(
            "allocate_room",
            &[("name", name), ("metadata", "{not json")],
        )
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "Invalid");
    let reply = editor
        .call(
            "allocate_room",
            &[("name", name), ("metadata", r#"{"match": "m1"}"#)],
        )
        .await;
    let got = reply.ok().clone();
    let claim = got["claim"]["id"].as_str().unwrap().to_string();
    assert_eq!(got["claim"]["room"], room.as_str());
    assert_eq!(got["claim"]["metadata"], r#"{"match":"m1"}"#);
    assert!(
        got["address"].as_str().unwrap().starts_with("127.0.0.1:49"),
        "{got}"
    );
    // Listed, for the viewer too, on the list, the allocation page and the room page.
    let list = viewer
        .call("scheduler_allocations", &[("name", name)])
        .await;
    assert_eq!(list.ok()["rooms"][0]["id"], room.as_str());
    assert_eq!(list.ok()["rooms"][0]["claims"][0]["id"], claim.as_str());
    let html = viewer
        .get(&format!("/ui/schedulers/{name}/allocation"))
        .await;
    assert!(
        html.text.contains(&format!(r#"data-claim="{claim}""#)),
        "{}",
        html.text
    );
    let page = viewer
        .call("room_detail", &[("name", name), ("room", &room)])
        .await;
    assert_eq!(page.ok()["claims"][0]["id"], claim.as_str());
    let html = viewer
        .get(&format!("/ui/schedulers/{name}/rooms/{room}"))
        .await;
    assert!(
        html.text.contains(r#"data-event="claimed""#),
        "{}",
        html.text
    );
    assert!(
        html.text.contains(&format!(r#"data-claim="{claim}""#)),
        "{}",
        html.text
    );

    // Another game's scheduler is not found, whichever the call.
    let mut other = seed("other", "other-game");
    other["roomsReplicas"] = json!(0);
    server.admin().post("/schedulers", &other).await.ok();
    for endpoint in ["can_allocate", "scheduler_allocations", "allocate_room"] {
        let reply = editor
            .call(endpoint, &[("name", "other"), ("metadata", "")])
            .await;
        assert_refused(&reply, StatusCode::NOT_FOUND, "NotFound");
    }

    // Its one room taken, the next allocation finds none free.
    let reply = editor
        .call("allocate_room", &[("name", name), ("metadata", "")])
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, "Conflict");
}
