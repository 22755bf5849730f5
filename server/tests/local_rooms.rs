//! End to end on the local runtime with the example game room: rooms become ready, crashed and
//! silent rooms are replaced, replicas converge up and down, and deleting the scheduler leaves
//! no process behind.

mod common;

use std::time::{Duration, Instant};

use common::rooms::{example_room, ids_with_status, processes_with, rooms, wait_for};
use common::{Backend, TestServer};
use serde_json::{Value, json};

fn ready_exactly(n: usize) -> impl Fn(&[Value]) -> bool {
    move |rooms| rooms.len() == n && ids_with_status(rooms, "ready").len() == n
}

#[tokio::test]
async fn local_rooms_are_kept_alive_scaled_and_cleaned_up() {
    let server =
        TestServer::start_with(Backend::Sqlite, |config| config.health_tick_ms = 200).await;
    let admin = server.admin();
    let name = "local-e2e";
    let body = json!({
        "name": name, "game": "e2e", "roomsReplicas": 3, "maxSurge": "100%",
        "portRange": {"start": 42000, "end": 42100},
        "roomTimeouts": {"ping": "2s", "initialization": "20s", "termination": "5s"},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    admin.post("/schedulers", &body).await.ok();

    // Three replicas become three ready rooms, each with its address.
    let first = wait_for(
        &server,
        name,
        "3 ready rooms",
        Duration::from_secs(30),
        ready_exactly(3),
    )
    .await;
    assert!(first.iter().all(|r| r["address"]["host"] == "127.0.0.1"));
    // Each room knows its machine: this host, named as the local machine adapter names it.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        first.iter().all(|r| r["machine"] == host.trim()),
        "{first:?}"
    );
    let info = admin.get("/schedulers/info?game=e2e").await;
    assert_eq!(info.ok()["schedulers"][0]["roomsReady"], 3);

    // A killed room is replaced.
    let victim = first[0]["id"].as_str().unwrap().to_string();
    let pids = processes_with("MAESTRO_ROOM_ID", &victim);
    assert_eq!(pids.len(), 1, "one process per room");
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    wait_for(
        &server,
        name,
        "the killed room replaced",
        Duration::from_secs(30),
        |rooms| ready_exactly(3)(rooms) && rooms.iter().all(|r| r["id"] != victim.as_str()),
    )
    .await;

    // A room that stops pinging (frozen) is replaced.
    let current = rooms(&server, name).await;
    let silent = current[0]["id"].as_str().unwrap().to_string();
    let pids = processes_with("MAESTRO_ROOM_ID", &silent);
    unsafe { libc::kill(pids[0], libc::SIGSTOP) };
    wait_for(
        &server,
        name,
        "the silent room replaced",
        Duration::from_secs(30),
        |rooms| ready_exactly(3)(rooms) && rooms.iter().all(|r| r["id"] != silent.as_str()),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with("MAESTRO_ROOM_ID", &silent).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        processes_with("MAESTRO_ROOM_ID", &silent).is_empty(),
        "the frozen room was killed"
    );

    // Replicas up to 10 and down to 2 converge.
    admin
        .patch(
            &format!("/schedulers/{name}"),
            &json!({"roomsReplicas": 10}),
        )
        .await
        .ok();
    wait_for(
        &server,
        name,
        "10 ready rooms",
        Duration::from_secs(40),
        ready_exactly(10),
    )
    .await;
    admin
        .patch(&format!("/schedulers/{name}"), &json!({"roomsReplicas": 2}))
        .await
        .ok();
    wait_for(
        &server,
        name,
        "2 ready rooms",
        Duration::from_secs(40),
        ready_exactly(2),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with("MAESTRO_SCHEDULER_NAME", name).len() != 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(processes_with("MAESTRO_SCHEDULER_NAME", name).len(), 2);

    // Deleting the scheduler leaves no process behind.
    admin.delete(&format!("/schedulers/{name}")).await.ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !processes_with("MAESTRO_SCHEDULER_NAME", name).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(processes_with("MAESTRO_SCHEDULER_NAME", name).is_empty());
}

#[tokio::test]
async fn pings_need_the_room_token_unless_the_scheduler_allows_tokenless() {
    let server =
        TestServer::start_with(Backend::Sqlite, |config| config.health_tick_ms = 200).await;
    let admin = server.admin();
    let mut body = json!({
        "name": "tokens", "game": "e2e", "roomsReplicas": 1,
        "portRange": {"start": 42100, "end": 42200},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "example", "command": ["sleep", "60"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    admin.post("/schedulers", &body).await.ok();
    let pending = wait_for(
        &server,
        "tokens",
        "a pending room",
        Duration::from_secs(20),
        |rooms| rooms.len() == 1,
    )
    .await;
    let room = pending[0]["id"].as_str().unwrap().to_string();
    let path = format!("/scheduler/tokens/rooms/{room}/ping");
    let ping = json!({"status": "ready", "timestamp": "12312312313"});
    let anonymous = server.anonymous();
    anonymous
        .put(&path, &ping)
        .await
        .expect_error(reqwest::StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let forged = anonymous
        .request(reqwest::Method::PUT, &path)
        .bearer_auth("00".repeat(32))
        .json(&ping);
    assert_eq!(forged.send().await.unwrap().status(), 401);

    // The address is known once the instance runs.
    let address = admin
        .get(&format!("/scheduler/tokens/rooms/{room}/address"))
        .await;
    assert_eq!(address.ok()["host"], "127.0.0.1");

    body["allowTokenlessPings"] = json!(true);
    admin.post("/schedulers/tokens", &body).await.ok();
    let reply = anonymous.put(&path, &ping).await;
    assert_eq!(reply.ok()["success"], true);
    // An impossible transition is refused and changes nothing.
    anonymous
        .put(&path, &json!({"status": "terminating"}))
        .await
        .ok();
    anonymous
        .put(&path, &json!({"status": "ready"}))
        .await
        .expect_error(reqwest::StatusCode::CONFLICT, "INVALID_STATUS_TRANSITION");
    anonymous
        .put("/scheduler/tokens/rooms/unknown-room/ping", &ping)
        .await
        .expect_error(reqwest::StatusCode::NOT_FOUND, "NOT_FOUND");
    let events = format!("/scheduler/tokens/rooms/{room}/roomevent");
    assert_eq!(
        anonymous
            .post(&events, &json!({"event": "roomReady"}))
            .await
            .ok()["success"],
        true
    );
    let players = format!("/scheduler/tokens/rooms/{room}/playerevent");
    anonymous
        .post(&players, &json!({"event": ""}))
        .await
        .expect_error(reqwest::StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    admin.delete("/schedulers/tokens").await.ok();
}
