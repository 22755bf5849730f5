//! Operations end to end: Maestro's operations API (list, read, cancel), the queue rule, cancel
//! of a pending and of a running operation, a major version refused when its validation room
//! crashes, and a rolling update that never shrinks the ready pool.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use app::domain::user::Role;
use common::rooms::{example_room, ids_with_status, processes_with, rooms, wait_for};
use common::{Api, Backend, TestServer, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    operations_are_listed_and_read_in_maestros_shapes,
    a_running_operation_blocks_versions_and_cancels_with_rollback,
);

/// Polls operation `id` until `done` holds; answers it.
async fn wait_operation(
    api: &Api<'_>,
    scheduler: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let reply = api
            .get(&format!("/schedulers/{scheduler}/operations/{id}"))
            .await;
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

fn events(operation: &Value) -> Vec<String> {
    operation["executionHistory"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["event"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn has_event(operation: &Value, needle: &str) -> bool {
    events(operation).iter().any(|e| e.contains(needle))
}

async fn operations_are_listed_and_read_in_maestros_shapes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    let created = admin
        .clone()
        .queued()
        .post("/schedulers", &seed("ops", "g1"))
        .await;
    let id = created.ok()["operationId"].as_str().unwrap().to_string();
    // The scheduler is readable as soon as its create is accepted.
    assert_eq!(
        admin.get("/schedulers/ops").await.ok()["scheduler"]["name"],
        "ops"
    );

    let operation = wait_operation(&admin, "ops", &id, "the create to finish", |o| {
        o["status"] == "finished"
    })
    .await;
    assert_eq!(operation["id"], id.as_str());
    assert_eq!(operation["definitionName"], "create_scheduler");
    assert_eq!(operation["schedulerName"], "ops");
    assert!(operation["createdAt"].is_string());
    assert_eq!(
        operation["lease"],
        Value::Null,
        "a final operation has no lease"
    );
    assert_eq!(operation["input"], json!({}));
    let history = events(&operation);
    assert_eq!(history.first().map(String::as_str), Some("Accepted"));
    assert!(
        history.iter().any(|e| e.starts_with("Started by")),
        "{history:?}"
    );
    assert!(operation["executionHistory"][0]["createdAt"].is_string());

    // Room counts: each is an operation, and a minor version.
    let added = admin
        .post("/schedulers/ops/add-rooms", &json!({"amount": 2}))
        .await;
    assert_eq!(added.ok()["operation"]["status"], "finished");
    assert_eq!(added.ok()["operation"]["definitionName"], "add_rooms");
    assert_eq!(added.ok()["operation"]["input"], json!({"amount": 2}));
    assert_eq!(added.ok()["scheduler"]["roomsReplicas"], 3);
    assert_eq!(added.ok()["scheduler"]["version"], "v1.1");
    let removed = admin
        .post("/schedulers/ops/remove-rooms", &json!({"amount": 1}))
        .await;
    assert_eq!(removed.ok()["scheduler"]["roomsReplicas"], 2);
    admin
        .post("/schedulers/ops/add-rooms", &json!({"amount": 0}))
        .await
        .expect_invalid(&["amount"]);
    admin
        .post(
            "/schedulers/ops/add-rooms",
            &json!({"amount": 1, "extra": true}),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    admin
        .post("/schedulers/ops/remove-rooms", &json!({}))
        .await
        .expect_invalid(&["amount"]);

    // The list: newest first by default, paged, filtered by stage, ordered on request.
    let list = admin.get("/schedulers/ops/operations").await;
    let list = list.ok();
    assert_eq!(list["total"], 3);
    assert_eq!(list["page"], 1);
    assert_eq!(list["pageSize"], 20);
    let names: Vec<&str> = list["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["definitionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["remove_rooms", "add_rooms", "create_scheduler"]);
    let item = &list["operations"][2];
    assert_eq!(item["id"], id.as_str());
    for field in [
        "id",
        "status",
        "definitionName",
        "lease",
        "schedulerName",
        "createdAt",
    ] {
        assert!(item.get(field).is_some(), "{field} missing in {item}");
    }
    assert!(
        item.get("executionHistory").is_none(),
        "the list has no history"
    );
    let page = admin
        .get("/schedulers/ops/operations?page=2&perPage=1")
        .await;
    assert_eq!(page.ok()["total"], 3);
    assert_eq!(page.ok()["pageSize"], 1);
    assert_eq!(page.ok()["operations"][0]["definitionName"], "add_rooms");
    let oldest = admin
        .get("/schedulers/ops/operations?orderBy=createdAt%20asc&perPage=1")
        .await;
    assert_eq!(
        oldest.ok()["operations"][0]["definitionName"],
        "create_scheduler"
    );
    let finals = admin.get("/schedulers/ops/operations?stage=final").await;
    assert_eq!(finals.ok()["total"], 3);
    let pending = admin.get("/schedulers/ops/operations?stage=pending").await;
    assert_eq!(pending.ok()["total"], 0);
    assert_eq!(pending.ok()["operations"], json!([]));
    admin
        .get("/schedulers/ops/operations?stage=later")
        .await
        .expect_invalid(&["stage"]);
    admin
        .get("/schedulers/ops/operations?perPage=0")
        .await
        .expect_invalid(&["perPage"]);
    admin
        .get("/schedulers/ops/operations?page=0")
        .await
        .expect_invalid(&["page"]);
    admin
        .get("/schedulers/ops/operations?orderBy=status")
        .await
        .expect_invalid(&["orderBy"]);

    // Unknown ids, and ids of another scheduler, are not found.
    admin.post("/schedulers", &seed("other", "g1")).await.ok();
    admin
        .get("/schedulers/ops/operations/no-such-id")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    admin
        .get(&format!("/schedulers/other/operations/{id}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    // Reads follow roles; canceling is an editor's right.
    server
        .create_user("stranger", "stranger-password", Role::Viewer, &["g2"])
        .await;
    server
        .create_user("watcher", "watcher-password", Role::Viewer, &["g1"])
        .await;
    let stranger = server.user("stranger", "stranger-password");
    stranger
        .get("/schedulers/ops/operations")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    stranger
        .get(&format!("/schedulers/ops/operations/{id}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let watcher = server.user("watcher", "watcher-password");
    assert_eq!(
        watcher.get("/schedulers/ops/operations").await.ok()["total"],
        3
    );
    watcher
        .post(
            &format!("/schedulers/ops/operations/{id}/cancel"),
            &json!({}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    watcher
        .post("/schedulers/ops/add-rooms", &json!({"amount": 1}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    server
        .anonymous()
        .get("/schedulers/ops/operations")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Canceling a finished operation changes nothing.
    let canceled = admin
        .post(
            &format!("/schedulers/ops/operations/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(canceled.ok()["operation"]["status"], "finished");
}

/// A scheduler whose rooms run but never ping: a major version's validation room waits.
fn silent(name: &str) -> Value {
    json!({
        "name": name, "game": "g1", "roomsReplicas": 1,
        "portRange": {"start": 43000, "end": 43100},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "silent", "command": ["/bin/sleep", "120"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    })
}

async fn a_running_operation_blocks_versions_and_cancels_with_rollback(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.validation_attempts = 1).await;
    let admin = server.admin();
    admin.post("/schedulers", &silent("busy")).await.ok();

    // A new major version: its validation room starts, and never turns ready.
    let mut v2 = silent("busy");
    v2["spec"]["containers"][0]["image"] = json!("silent:2");
    let queued = admin.clone().queued().post("/schedulers/busy", &v2).await;
    assert_eq!(
        queued.ok()["scheduler"]["version"],
        "v1",
        "v2 is not active yet"
    );
    let running_id = queued.ok()["operationId"].as_str().unwrap().to_string();
    let running = wait_operation(&admin, "busy", &running_id, "the validation room", |o| {
        o["status"] == "in_progress" && has_event(o, "starting validation room")
    })
    .await;
    assert!(running["lease"]["ttl"].is_string(), "{running:#}");
    let validation = rooms(&server, "busy").await;
    assert_eq!(validation.len(), 1, "{validation:?}");
    assert_eq!(validation[0]["version"], "v2");
    let validation_id = validation[0]["id"].as_str().unwrap().to_string();

    // Another version, or a switch, is refused with the running operation's id.
    let mut v3 = silent("busy");
    v3["spec"]["containers"][0]["image"] = json!("silent:3");
    let refused = admin.post("/schedulers/busy", &v3).await;
    refused.expect_error(StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert_eq!(refused.json["operationId"], running_id.as_str());
    let refused = admin
        .put("/schedulers/busy", &json!({"version": "v2"}))
        .await;
    refused.expect_error(StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert_eq!(refused.json["operationId"], running_id.as_str());
    // The active version again is no change at all: no operation.
    let same = admin
        .put("/schedulers/busy", &json!({"version": "v1"}))
        .await;
    assert!(same.ok().get("operationId").is_none());
    admin
        .patch(
            "/schedulers/busy",
            &json!({"spec": {"terminationGracePeriod": "2s"}}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "FAILED_PRECONDITION");
    let versions = admin.get("/schedulers/busy/versions").await;
    assert_eq!(
        versions.ok()["versions"].as_array().unwrap().len(),
        2,
        "a refused change stores no version"
    );

    // Room counts queue behind it; a pending operation is canceled at once.
    let pending = admin
        .clone()
        .queued()
        .post("/schedulers/busy/add-rooms", &json!({"amount": 1}))
        .await;
    let pending_id = pending.ok()["operationId"].as_str().unwrap().to_string();
    let listed = admin.get("/schedulers/busy/operations?stage=pending").await;
    assert_eq!(listed.ok()["operations"][0]["id"], pending_id.as_str());
    let canceled = admin
        .post(
            &format!("/schedulers/busy/operations/{pending_id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(canceled.ok()["operation"]["status"], "canceled");
    assert!(has_event(&canceled.ok()["operation"], "Canceled by admin"));

    // The running one stops at its next step, rolls back and ends canceled.
    admin
        .post(
            &format!("/schedulers/busy/operations/{running_id}/cancel"),
            &json!({}),
        )
        .await
        .ok();
    let ended = wait_operation(&admin, "busy", &running_id, "the cancel", |o| {
        o["status"] != "in_progress"
    })
    .await;
    assert_eq!(ended["status"], "canceled", "{ended:#}");
    assert!(has_event(
        &ended,
        "Canceled before version v2 became active"
    ));
    let scheduler = admin.get("/schedulers/busy").await;
    assert_eq!(scheduler.ok()["scheduler"]["version"], "v1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with("MAESTRO_ROOM_ID", &validation_id).is_empty() {
        assert!(Instant::now() < deadline, "the validation room was stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing is running any more: a new version is accepted again.
    let accepted = admin.clone().queued().post("/schedulers/busy", &v3).await;
    assert!(accepted.ok()["operationId"].is_string());
}

/// Polls the scheduler's rooms and operation `id` until the operation ends; answers it, the
/// fewest ready rooms seen and the most rooms seen that were not terminating.
async fn follow(
    server: &TestServer,
    scheduler: &str,
    id: &str,
    within: Duration,
) -> (Value, usize, usize) {
    let started = Instant::now();
    let (mut lowest_ready, mut most_live) = (usize::MAX, 0);
    loop {
        let current = rooms(server, scheduler).await;
        lowest_ready = lowest_ready.min(ids_with_status(&current, "ready").len());
        most_live = most_live.max(
            current
                .iter()
                .filter(|r| r["status"] != "terminating")
                .count(),
        );
        let operation = server
            .admin()
            .get(&format!("/schedulers/{scheduler}/operations/{id}"))
            .await
            .ok()["operation"]
            .clone();
        if operation["status"] != "in_progress" && operation["status"] != "pending" {
            return (operation, lowest_ready, most_live);
        }
        assert!(started.elapsed() < within, "{operation:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The example room, pinging often, `replicas` of them.
fn live(name: &str, replicas: u32, surge: &str, ports: (u16, u16)) -> Value {
    json!({
        "name": name, "game": "g1", "roomsReplicas": replicas, "maxSurge": surge,
        "portRange": {"start": ports.0, "end": ports.1},
        "roomTimeouts": {"ping": "5s", "initialization": "20s", "termination": "5s"},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_major_version_whose_validation_room_crashes_is_refused() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.validation_attempts = 2;
    })
    .await;
    let admin = server.admin();
    admin
        .post("/schedulers", &live("crashy", 2, "50%", (44000, 44100)))
        .await
        .ok();
    let ready = |rooms: &[Value]| {
        rooms.len() == 2
            && ids_with_status(rooms, "ready").len() == 2
            && rooms.iter().all(|r| r["version"] == "v1")
    };
    wait_for(
        &server,
        "crashy",
        "2 ready rooms",
        Duration::from_secs(30),
        ready,
    )
    .await;

    let mut broken = live("crashy", 2, "50%", (44000, 44100));
    broken["spec"]["containers"][0]["command"] =
        json!(["/bin/sh", "-c", "echo 'cannot load map de_dust'; exit 3"]);
    let queued = admin
        .clone()
        .queued()
        .post("/schedulers/crashy", &broken)
        .await;
    let id = queued.ok()["operationId"].as_str().unwrap().to_string();
    let (ended, lowest_ready, _) = follow(&server, "crashy", &id, Duration::from_secs(60)).await;
    assert_eq!(ended["status"], "error", "{ended:#}");
    assert!(has_event(&ended, "cannot load map de_dust"), "{ended:#}");
    assert!(has_event(&ended, "exit"), "the exit reason: {ended:#}");
    assert!(has_event(&ended, "attempt 2 of 2"), "{ended:#}");
    assert!(has_event(&ended, "v1 keeps serving"), "{ended:#}");
    assert_eq!(lowest_ready, 2, "the old version kept serving throughout");
    let scheduler = admin.get("/schedulers/crashy").await;
    assert_eq!(scheduler.ok()["scheduler"]["version"], "v1");
    wait_for(
        &server,
        "crashy",
        "v1 rooms only",
        Duration::from_secs(20),
        ready,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_of_20_rooms_with_max_surge_25_percent_keeps_the_ready_pool() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.validation_attempts = 2;
    })
    .await;
    let admin = server.admin();
    admin
        .post("/schedulers", &live("pool", 20, "25%", (45000, 45100)))
        .await
        .ok();
    let all_ready = |version: &'static str| {
        move |rooms: &[Value]| {
            rooms.len() == 20
                && ids_with_status(rooms, "ready").len() == 20
                && rooms.iter().all(|r| r["version"] == version)
        }
    };
    wait_for(
        &server,
        "pool",
        "20 ready rooms",
        Duration::from_secs(60),
        all_ready("v1"),
    )
    .await;

    let mut v2 = live("pool", 20, "25%", (45000, 45100));
    v2["spec"]["containers"][0]["environment"][0]["value"] = json!("0.25");
    let queued = admin.clone().queued().post("/schedulers/pool", &v2).await;
    let id = queued.ok()["operationId"].as_str().unwrap().to_string();
    let started = Instant::now();
    let (ended, lowest_ready, most_rooms) =
        follow(&server, "pool", &id, Duration::from_secs(120)).await;
    assert_eq!(ended["status"], "finished", "{ended:#}");
    assert!(has_event(&ended, "Validation room"), "{ended:#}");
    assert!(
        has_event(&ended, "Rolling update to v2 finished"),
        "{ended:#}"
    );
    println!(
        "rollout of 20 rooms, maxSurge 25%: {:.1} s, lowest ready count {lowest_ready}, most live rooms {most_rooms}",
        started.elapsed().as_secs_f64()
    );
    assert!(lowest_ready >= 20, "ready rooms fell to {lowest_ready}");
    // 20 wanted, plus the validation room and one wave of 25% (5 rooms).
    assert!(most_rooms <= 26, "at most one wave over: {most_rooms}");
    wait_for(
        &server,
        "pool",
        "20 ready v2 rooms",
        Duration::from_secs(30),
        all_ready("v2"),
    )
    .await;
}
