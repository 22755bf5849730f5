//! Why a room is in error, and how many rooms a scheduler aims for, as the API and the
//! dashboard's scheduler page read them: the real server on the local runtime, its health
//! controller ticking, with each room store.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::rooms::{rooms, wait_for};
use common::{ADMIN_PASSWORD, Backend, TestServer};
use serde_json::{Value, json};

on_room_stores!(rooms_in_error_say_why_and_the_page_shows_the_desired_count);

fn scheduler(name: &str, command: &[&str], autoscaling: Option<Value>, ports: u16) -> Value {
    let mut body = json!({
        "name": name, "game": "reasons", "roomsReplicas": 1,
        "portRange": {"start": ports, "end": ports + 50},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "example", "command": command,
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
    });
    if let Some(autoscaling) = autoscaling {
        body["autoscaling"] = autoscaling;
    }
    body
}

/// The first room in error whose reason contains `words`.
fn failed_with<'a>(rooms: &'a [Value], words: &str) -> Option<&'a Value> {
    rooms.iter().find(|room| {
        room["status"] == "error"
            && room["statusReason"]
                .as_str()
                .is_some_and(|reason| reason.contains(words))
    })
}

/// Calls the scheduler page's `scheduler_rooms` until `done` holds for its answer.
async fn page_rooms(
    browser: &mut Browser<'_>,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let answer = browser
            .call("scheduler_rooms", &[("name", name)])
            .await
            .ok()
            .clone();
        if done(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the page never showed {what}; last: {answer:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rooms_in_error_say_why_and_the_page_shows_the_desired_count(backend: Backend) {
    // Ports of their own per room store (the scenarios run at once).
    let ports = if backend == Backend::Redis {
        44500
    } else {
        44400
    };
    let server = TestServer::start_with(backend, |config| {
        config.health_tick_ms = 200;
        config.autoscaling_period_ms = 500;
    })
    .await;
    let admin = server.admin();
    let missing = "/nonexistent/baton-test-room";
    // Kept at 4 rooms that can take a match (none ever does): the autoscaler wants 4, not the
    // configured 1.
    let unreserved = json!({"enabled": true, "min": 1, "max": 50, "policy": {
        "type": "unreservedRooms", "parameters": {"unreservedRooms": {"min": 4, "max": 6}}}});
    admin
        .post(
            "/schedulers",
            &scheduler("missing", &[missing], Some(unreserved), ports),
        )
        .await
        .ok();
    admin
        .post(
            "/schedulers",
            &scheduler("crashing", &["/bin/sh", "-c", "exit 3"], None, ports + 50),
        )
        .await
        .ok();

    // A command that does not exist: the room is in error, the reason names the command.
    let within = Duration::from_secs(30);
    let seen = wait_for(
        &server,
        "missing",
        "a room in error naming the command",
        within,
        |r| failed_with(r, missing).is_some(),
    )
    .await;
    let reason = failed_with(&seen, missing).unwrap()["statusReason"].clone();
    assert!(
        reason.as_str().unwrap().contains("No such file"),
        "{reason}"
    );
    // A process that exits: in error with its exit status.
    wait_for(
        &server,
        "crashing",
        "a crashed room with its exit status",
        within,
        |r| failed_with(r, "exit status: 3").is_some(),
    )
    .await;
    assert!(
        rooms(&server, "crashing").await.len() <= 3,
        "crashed rooms are replaced, not piled up"
    );

    // The dashboard's scheduler page reads the same.
    let mut browser = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    page_rooms(&mut browser, "missing", "the room in error", |answer| {
        failed_with(answer["rooms"].as_array().unwrap(), missing).is_some()
    })
    .await;

    // The desired count is the autoscaler's decision, beside roomsReplicas.
    let started = Instant::now();
    let decided = loop {
        let decisions = admin
            .get("/schedulers/missing/autoscaling/decisions")
            .await
            .ok()["decisions"]
            .clone();
        if let Some(latest) = decisions.get(0) {
            break latest["to"].as_u64().unwrap();
        }
        assert!(started.elapsed() < within, "no autoscaling decision");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(decided, 4, "from 1 to 4 rooms that can take a match");
    let answer = page_rooms(&mut browser, "missing", "the desired count", |_| true).await;
    assert_eq!(answer["desired"], decided);
    assert_eq!(answer["rooms_replicas"], 1);
    // Without autoscaling, the desired count is roomsReplicas.
    let answer = page_rooms(&mut browser, "crashing", "the desired count", |_| true).await;
    assert_eq!(
        (&answer["desired"], &answer["rooms_replicas"]),
        (&json!(1), &json!(1))
    );
}
