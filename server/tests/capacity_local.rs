//! Placement on the local runtime honours a scheduler's capacity section, black box, with the
//! example game room: rooms this host cannot hold (counted by what Baton's rooms reserve, not
//! by the host's measured load) stay pending with the reason in the rooms API and the
//! dashboard, and start once capacity frees; the capacity API and the dashboard show the host.

mod common;

use std::time::Duration;

use common::rooms::{example_room, ids_with_status, processes_with, wait_for};
use common::{ADMIN_PASSWORD, Backend, TestServer};
use serde_json::{Value, json};

/// This host's memory in MB, as `/proc/meminfo` says (`MemTotal`).
fn host_memory_mb() -> i64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: i64 = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap();
    kb * 1024 / (1024 * 1024)
}

fn waiting(rooms: &[Value]) -> Vec<&Value> {
    rooms
        .iter()
        .filter(|r| r["status"] == "pending" && r.get("statusReason").is_some())
        .collect()
}

/// Signs in to the dashboard and calls its `scheduler_capacity` and `scheduler_rooms` server
/// functions, as the scheduler page does.
async fn dashboard(server: &TestServer, name: &str) -> (Value, Value) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = client
        .post(server.url("/api/sign_in"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    let cookie = signed
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let mut answers = Vec::new();
    for endpoint in ["scheduler_capacity", "scheduler_rooms"] {
        let reply = client
            .post(server.url(&format!("/api/{endpoint}")))
            .header(reqwest::header::COOKIE, &cookie)
            .form(&[("name", name)])
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_success(),
            "{endpoint}: {}",
            reply.status()
        );
        answers.push(reply.json::<Value>().await.unwrap());
    }
    let rooms = answers.pop().unwrap();
    (answers.pop().unwrap(), rooms)
}

#[tokio::test]
async fn rooms_this_host_cannot_hold_wait_with_the_reason_and_start_when_capacity_frees() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.machine_scaling.machine_scaling_period_ms = 200;
    })
    .await;
    let admin = server.admin();
    let name = "big-rooms";
    // Each room reserves two thirds of this host's memory: one fits, the 2nd and 3rd wait.
    // (Measured, the host's own use would not matter either way: rooms are counted by what
    // they reserve.)
    let quota_mb = host_memory_mb() * 2 / 3;
    let body = json!({
        "name": name, "game": "capacity", "roomsReplicas": 3, "maxSurge": "100%",
        "portRange": {"start": 43000, "end": 43100},
        "roomTimeouts": {"ping": "5s", "initialization": "2s", "termination": "5s"},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
        "capacity": {
            "PayloadQuota": {"CpuCores": 0.001, "MemoryMB": quota_mb},
            "MachineMinSpec": {"OS": "linux", "CoreCount": 1},
            "MinFreePayloadCapacity": 0, "MaxFreePayloadCapacity": 10
        }
    });
    admin.post("/schedulers", &body).await.ok();

    let seen = wait_for(
        &server,
        name,
        "1 ready room and 2 waiting",
        Duration::from_secs(30),
        |rooms| {
            rooms.len() == 3
                && ids_with_status(rooms, "ready").len() == 1
                && waiting(rooms).len() == 2
        },
    )
    .await;
    for room in waiting(&seen) {
        let reason = room["statusReason"].as_str().unwrap();
        assert!(
            reason.contains("safety limits") && reason.contains("MemoryMB"),
            "{reason}"
        );
        assert!(
            room.get("address").is_none(),
            "a waiting room has no process"
        );
        assert!(processes_with("MAESTRO_ROOM_ID", room["id"].as_str().unwrap()).is_empty());
    }
    // Well past the initialization timeout (2 s): the same rooms still wait, none replaced.
    let waiting_ids: Vec<String> = waiting(&seen)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = common::rooms::rooms(&server, name).await;
    let mut still: Vec<String> = waiting(&later)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    still.sort();
    let mut expected = waiting_ids.clone();
    expected.sort();
    assert_eq!(still, expected);

    // The capacity API shows this host: one payload of capacity, taken.
    let capacity = admin.get(&format!("/schedulers/{name}/capacity")).await;
    let capacity = capacity.ok();
    let machines = capacity["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 1, "{capacity}");
    assert_eq!(machines[0]["payloadCapacity"], 1);
    assert_eq!(machines[0]["freePayloadCapacity"], 0);
    assert_eq!(machines[0]["payloads"], 1);
    assert_eq!(machines[0]["inUse"]["memoryMB"], quota_mb);
    assert_eq!(capacity["freePayloadCapacity"], 0);

    // The dashboard shows the same, and the waiting rooms' reason.
    let (panel, rooms) = dashboard(&server, name).await;
    assert_eq!(panel["free"], 0, "{panel}");
    assert_eq!(panel["machines"][0]["payload_capacity"], 1, "{panel}");
    let reasons: Vec<&Value> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("statusReason").is_some())
        .collect();
    assert_eq!(reasons.len(), 2, "{rooms}");

    // Capacity frees (the running room dies): a waiting room starts and turns ready.
    let running = ids_with_status(&seen, "ready").remove(0);
    for pid in processes_with("MAESTRO_ROOM_ID", &running) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let after = wait_for(
        &server,
        name,
        "a waiting room ready",
        Duration::from_secs(30),
        |rooms| {
            ids_with_status(rooms, "ready")
                .iter()
                .any(|id| waiting_ids.contains(id))
        },
    )
    .await;
    let ready = ids_with_status(&after, "ready");
    assert_eq!(ready.len(), 1, "still one room at a time");
    let started = after.iter().find(|r| r["id"] == ready[0].as_str()).unwrap();
    assert!(started.get("statusReason").is_none(), "{started}");
    assert!(after.iter().all(|r| r["id"] != running.as_str()));
    admin.delete(&format!("/schedulers/{name}")).await.ok();
}
