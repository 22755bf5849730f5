//! End to end on the local runtime with the example game room: occupying rooms through the ping
//! API makes the scheduler grow, up to its max; releasing them makes it shrink, down to its min;
//! every change is readable as a decision with its reason.

mod common;

use std::time::Duration;

use common::rooms::{example_room, ids_with_status, wait_for};
use common::{Backend, TestServer};
use serde_json::{Value, json};

/// Reports `status` for every listed room, as the room itself would (tokenless scheduler).
async fn ping_all(server: &TestServer, scheduler: &str, ids: &[String], status: &str) {
    for id in ids {
        server
            .anonymous()
            .put(
                &format!("/scheduler/{scheduler}/rooms/{id}/ping"),
                &json!({"status": status, "timestamp": chrono::Utc::now().timestamp()}),
            )
            .await
            .ok();
    }
}

fn live(rooms: &[Value]) -> usize {
    ids_with_status(rooms, "ready").len() + ids_with_status(rooms, "occupied").len()
}

#[tokio::test]
async fn occupied_rooms_grow_the_scheduler_and_released_rooms_shrink_it() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.autoscaling_period_ms = 500;
    })
    .await;
    let admin = server.admin();
    let name = "autoscaled";
    // Up when every point of the last second is above 50% occupied; down when every point is
    // below 30%; between 2 and 6 rooms. Rooms ping once and stay as the test sets them.
    let body = json!({
        "name": name, "game": "e2e", "roomsReplicas": 2, "maxSurge": "100%",
        "allowTokenlessPings": true,
        "portRange": {"start": 43000, "end": 43100},
        "roomTimeouts": {"ping": "1h", "initialization": "20s"},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "3600"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
        "autoscaling": {"min": 2, "max": 6,
            "up": {"metricsTrigger": [{"type": "room", "usage": 50, "threshold": 100, "time": 1}], "cooldown": 0},
            "down": {"metricsTrigger": [{"type": "room", "usage": 30, "threshold": 100, "time": 1}], "cooldown": 0}}
    });
    admin.post("/schedulers", &body).await.ok();
    let within = Duration::from_secs(30);
    let first = wait_for(&server, name, "2 ready rooms", within, |r| {
        ids_with_status(r, "ready").len() == 2
    })
    .await;

    // Both rooms occupied (100% > 50%): delta = (2*100 - 50*2)/50 = +2 -> 4 rooms.
    ping_all(&server, name, &ids_with_status(&first, "ready"), "occupied").await;
    let grown = wait_for(&server, name, "4 rooms, 2 ready", within, |r| {
        live(r) == 4 && ids_with_status(r, "ready").len() == 2
    })
    .await;

    // The two new ones occupied too (4 of 4): +4 wanted, capped at max 6.
    ping_all(&server, name, &ids_with_status(&grown, "ready"), "occupied").await;
    let full = wait_for(&server, name, "6 rooms at max", within, |r| {
        live(r) == 6 && ids_with_status(r, "ready").len() == 2
    })
    .await;
    assert_eq!(full.len(), 6, "never above max");

    // Every room released (0% < 30%): down to min 2.
    ping_all(&server, name, &ids_with_status(&full, "occupied"), "ready").await;
    wait_for(&server, name, "back to 2 rooms", within, |r| {
        r.len() == 2 && ids_with_status(r, "ready").len() == 2
    })
    .await;

    // The decisions explain each change, newest first.
    let decisions = admin
        .get(&format!("/schedulers/{name}/autoscaling/decisions"))
        .await;
    let decisions = decisions.ok()["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let changes: Vec<(u64, u64)> = decisions
        .iter()
        .rev()
        .map(|d| {
            (
                d["from"].as_u64().unwrap_or(0),
                d["to"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(changes, vec![(2, 4), (4, 6), (6, 2)], "{decisions:#?}");
    let [down, at_max, up] = [&decisions[0], &decisions[1], &decisions[2]];
    assert_eq!(up["reason"]["kind"], "trigger");
    assert_eq!(up["reason"]["direction"], "up");
    assert_eq!(up["reason"]["trigger"]["type"], "room");
    assert_eq!(up["wanted"], 4);
    assert_eq!(at_max["wanted"], 8);
    assert_eq!(at_max["capped"], "max");
    assert_eq!(down["reason"]["direction"], "down");
    assert_eq!(down["capped"], "min");
    assert!(
        down["reason"]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty() && p.iter().all(|v| v.as_f64() < Some(30.0))),
        "{down:#?}"
    );

    // The room history saw it all: up to 4 occupied and 6 rooms in all, then back to 2 ready
    // (the controller records the latest counts at its next tick).
    let at = |s: &Value, status: &str| s["counts"][status].as_u64().unwrap_or(0);
    let started = std::time::Instant::now();
    let samples = loop {
        let history = admin
            .get(&format!("/schedulers/{name}/rooms/history?minutes=15"))
            .await;
        let samples = history.ok()["samples"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let settled = samples
            .last()
            .is_some_and(|s| at(s, "ready") == 2 && at(s, "occupied") == 0);
        if settled || started.elapsed() > within {
            break samples;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        samples.iter().map(|s| at(s, "occupied")).max(),
        Some(4),
        "{samples:?}"
    );
    assert!(
        samples
            .iter()
            .any(|s| at(s, "occupied") + at(s, "ready") == 6),
        "{samples:?}"
    );
    assert!(
        samples
            .last()
            .is_some_and(|s| at(s, "ready") == 2 && at(s, "occupied") == 0)
    );
    admin
        .get(&format!("/schedulers/{name}/rooms/history?minutes=0"))
        .await
        .expect_invalid(&["minutes"]);

    // Decisions of an unknown scheduler: 404; without credentials: 401.
    admin
        .get("/schedulers/nobody/autoscaling/decisions")
        .await
        .expect(reqwest::StatusCode::NOT_FOUND);
    server
        .anonymous()
        .get(&format!("/schedulers/{name}/autoscaling/decisions"))
        .await
        .expect(reqwest::StatusCode::UNAUTHORIZED);
    admin.delete(&format!("/schedulers/{name}")).await.ok();
}

/// A cpu trigger on the local runtime: a room that burns a whole core against a 100m request
/// runs at about 1000% of its request, so the scheduler grows to its max.
#[tokio::test]
async fn a_busy_room_grows_the_scheduler_by_its_cpu_usage() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.autoscaling_period_ms = 500;
    })
    .await;
    let admin = server.admin();
    let name = "cpu-autoscaled";
    let body = json!({
        "name": name, "game": "e2e", "roomsReplicas": 1, "maxSurge": "100%",
        "portRange": {"start": 43100, "end": 43200},
        // The busy room never pings: keep it while it starts.
        "roomTimeouts": {"initialization": "1h"},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "busy", "command": ["sh", "-c", "while :; do :; done"],
            "requests": {"cpu": "100m", "memory": "10Mi"},
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
        "autoscaling": {"min": 1, "max": 2,
            "up": {"metricsTrigger": [{"type": "cpu", "usage": 50, "threshold": 100, "time": 1}], "cooldown": 0}}
    });
    admin.post("/schedulers", &body).await.ok();
    wait_for(&server, name, "2 rooms", Duration::from_secs(30), |r| {
        r.len() == 2
    })
    .await;
    let decisions = admin
        .get(&format!("/schedulers/{name}/autoscaling/decisions"))
        .await;
    let up = &decisions.ok()["decisions"][0];
    assert_eq!(up["reason"]["trigger"]["type"], "cpu", "{up:#}");
    assert_eq!((up["from"].as_u64(), up["to"].as_u64()), (Some(1), Some(2)));
    assert_eq!(up["capped"], "max");
    // Usage well above the 50% target: the room burns far more than its 100m request.
    assert!(
        up["utilization"].as_f64().is_some_and(|u| u > 100.0),
        "{up:#}"
    );
    assert!(
        up["load"]["cpu"]["requested"]
            .as_f64()
            .is_some_and(|r| r > 0.0),
        "{up:#}"
    );
    admin.delete(&format!("/schedulers/{name}")).await.ok();
}
