//! The operations page over HTTP, as a browser uses it: it renders for a viewer without the
//! Cancel button, its server function lists the running operation with its progress and the
//! pending ones, a viewer's cancel is refused, an editor cancels a pending and a running
//! operation; a browser opening the API path lands on the page. The real server, on SQLite,
//! with each room store.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use app::domain::user::Role;
use common::browser::Browser;
use common::{Api, Backend, TestServer};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

on_room_stores!(the_operations_page_follows_and_cancels_operations);

/// A scheduler of game `g1` whose rooms run but never ping: a major version's validation room
/// waits, so its operation stays running.
fn silent(name: &str, image: &str) -> Value {
    json!({
        "name": name, "game": "g1", "roomsReplicas": 1,
        "portRange": {"start": 46000, "end": 46100},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": image, "command": ["/bin/sleep", "120"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    })
}

/// Polls operation `id` through the API until `done` holds; answers it.
async fn wait_operation(
    api: &Api<'_>,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let reply = api.get(&format!("/schedulers/ops/operations/{id}")).await;
        let operation = reply.ok()["operation"].clone();
        if done(&operation) {
            return operation;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited for {what}; operation: {operation:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn has_event(operation: &Value, needle: &str) -> bool {
    operation["executionHistory"]
        .as_array()
        .is_some_and(|events| {
            events
                .iter()
                .any(|e| e["event"].as_str().unwrap_or_default().contains(needle))
        })
}

fn ids(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .map(|rows| rows.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default()
}

async fn the_operations_page_follows_and_cancels_operations(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.validation_attempts = 1).await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["g1"])
        .await;
    server
        .create_user("editor", "editor-password", Role::Editor, &["g1"])
        .await;
    let admin = server.admin();
    admin
        .post("/schedulers", &silent("ops", "silent"))
        .await
        .ok();

    // A new major version: its validation room starts and never turns ready; an add-rooms
    // operation waits behind it.
    let queued = admin
        .clone()
        .queued()
        .post("/schedulers/ops", &silent("ops", "silent:2"))
        .await;
    let running_id = queued.ok()["operationId"].as_str().unwrap().to_string();
    let running = wait_operation(&admin, &running_id, "the validation room", |o| {
        o["status"] == "in_progress" && has_event(o, "starting validation room")
    })
    .await;
    // The API's operation carries the progress the page shows.
    let progress = &running["progress"];
    assert_eq!(progress["version"], "v2", "{running:#}");
    assert_eq!(progress["validating"], true, "{running:#}");
    assert_eq!(progress["newRooms"], 1, "the validation room: {running:#}");
    assert_eq!(progress["readyFloor"], 1, "{running:#}");
    let pending = admin
        .clone()
        .queued()
        .post("/schedulers/ops/add-rooms", &json!({"amount": 1}))
        .await;
    let pending_id = pending.ok()["operationId"].as_str().unwrap().to_string();
    let listed = admin.get("/schedulers/ops/operations?stage=active").await;
    assert_eq!(listed.ok()["operations"][0]["progress"]["newRooms"], 1);

    // A viewer reads the page, rendered on the server, without a Cancel button.
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let page = viewer.get("/ui/schedulers/ops/operations").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        format!(r#"data-operation="{running_id}" data-status="in_progress""#),
        format!(r#"data-operation="{pending_id}" data-status="pending""#),
        r#"class="rollout""#.to_string(),
        "Validating v2 with one room".to_string(),
        "starting validation room".to_string(),
    ] {
        assert!(page.text.contains(&needle), "{needle} in {}", page.text);
    }
    assert!(!page.text.contains("cancel_operation"), "{}", page.text);
    // The scheduler page links to it.
    let scheduler_page = viewer.get("/ui/schedulers/ops").await;
    assert!(
        scheduler_page
            .text
            .contains(r#"href="/ui/schedulers/ops/operations""#),
        "{}",
        scheduler_page.text
    );

    // Its server function: the running operation with its progress, the pending one.
    let listed = viewer
        .call("scheduler_operations", &[("name", "ops")])
        .await;
    let view = listed.ok();
    assert_eq!(view["can_cancel"], false);
    assert_eq!(ids(&view["running"]), [running_id.as_str()]);
    assert_eq!(view["running"][0]["progress"]["validating"], true);
    assert_eq!(view["running"][0]["progress"]["newRooms"], 1);
    assert_eq!(ids(&view["pending"]), [pending_id.as_str()]);
    assert_eq!(view["pending"][0]["progress"], Value::Null);
    assert!(
        ids(&view["finished"]).len() == 1,
        "the scheduler's creation: {view:#}"
    );

    // The viewer's cancel is refused, and changes nothing.
    let refused = viewer
        .call("cancel_operation", &[("name", "ops"), ("id", &pending_id)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(refused.json.get("Forbidden").is_some(), "{}", refused.text);
    let still = admin
        .get(&format!("/schedulers/ops/operations/{pending_id}"))
        .await;
    assert_eq!(still.ok()["operation"]["status"], "pending");

    // An editor sees the button and cancels the pending operation at once...
    let mut editor = Browser::signed_in(&server, "editor", "editor-password").await;
    let page = editor.get("/ui/schedulers/ops/operations").await;
    assert!(page.text.contains("cancel_operation"), "{}", page.text);
    let view = editor
        .call("scheduler_operations", &[("name", "ops")])
        .await;
    assert_eq!(view.ok()["can_cancel"], true);
    let canceled = editor
        .call("cancel_operation", &[("name", "ops"), ("id", &pending_id)])
        .await;
    assert_eq!(canceled.ok(), "canceled");
    let ended = admin
        .get(&format!("/schedulers/ops/operations/{pending_id}"))
        .await;
    assert_eq!(ended.ok()["operation"]["status"], "canceled");
    assert!(has_event(&ended.ok()["operation"], "Canceled by editor"));

    // ... and the running one, which stops at its next step and ends canceled.
    let asked = editor
        .call("cancel_operation", &[("name", "ops"), ("id", &running_id)])
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    let ended = wait_operation(&admin, &running_id, "the cancel", |o| {
        o["status"] != "in_progress"
    })
    .await;
    assert_eq!(ended["status"], "canceled", "{ended:#}");
    assert!(
        has_event(&ended, "Canceled before version v2 became active"),
        "{ended:#}"
    );
    assert!(ended.get("progress").is_none(), "{ended:#}");
    let view = editor
        .call("scheduler_operations", &[("name", "ops")])
        .await;
    let view = view.ok();
    assert_eq!(view["running"], json!([]));
    assert_eq!(view["pending"], json!([]));
    // Newest first (by when they were accepted), then the scheduler's creation.
    assert_eq!(
        ids(&view["finished"])[..2],
        [pending_id.as_str(), running_id.as_str()],
        "{view:#}"
    );
    assert_eq!(view["finished"][1]["status"], "canceled");
    assert_eq!(view["finished"][2]["definition"], "create_scheduler");
    let page = editor.get("/ui/schedulers/ops/operations").await;
    assert!(
        page.text.contains(&format!(
            r#"data-operation="{running_id}" data-status="canceled""#
        )),
        "{}",
        page.text
    );
    assert!(
        !page.text.contains("cancel_operation"),
        "nothing left to cancel"
    );
    let scheduler = admin.get("/schedulers/ops").await;
    assert_eq!(scheduler.ok()["scheduler"]["version"], "v1");

    // A browser opening the API's path lands on the page; API clients still get JSON.
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for path in [
        "/schedulers/ops/operations".to_string(),
        format!("/schedulers/ops/operations/{running_id}"),
    ] {
        let request = viewer.client.get(server.url(&path)).header("accept", html);
        let reply = viewer.send(request).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers[LOCATION], "/ui/schedulers/ops/operations");
    }
    let listed = admin.get("/schedulers/ops/operations").await;
    assert_eq!(listed.ok()["total"], 3);
}
