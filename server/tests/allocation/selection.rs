//! Selectors, strategy and the scheduler's claim TTL over HTTP, with live rooms: metadata (as
//! the room pinged it), regions with fall-through (rooms on the embedded runtime are in its
//! region, `default`), version and labels across a rolling update (a claimed room of the old version
//! survives it), `distributed`, and bad selectors.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};

use super::common::rooms::{example_room, wait_for};
use super::common::{Backend, TestServer, send};
use super::room_id;

const SELECT: &str = "select";

fn expires_in(answer: &Value) -> chrono::Duration {
    let expires = chrono::DateTime::parse_from_rfc3339(answer["expiresAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    expires - Utc::now()
}

async fn ping_as_room(server: &TestServer, room: &str, body: &Value) {
    let secret = server
        .db
        .store()
        .await
        .setting_or_insert("room_token_secret", || unreachable!("the server made it"))
        .await
        .unwrap();
    let token = server::room_tokens::RoomTokens::new(secret).issue(SELECT, room);
    send(
        server
            .anonymous()
            .request(
                Method::PUT,
                &format!("/scheduler/{SELECT}/rooms/{room}/ping"),
            )
            .bearer_auth(&token)
            .json(body),
    )
    .await
    .ok();
}

pub(super) async fn selectors_strategy_and_claim_ttl(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.health_tick_ms = 200).await;
    let start = match backend {
        Backend::Sqlite => 48100,
        Backend::Postgres => 48200,
        Backend::Redis => 48300,
    };
    let admin = server.admin();
    let scheduler = json!({
        "name": SELECT, "game": "select-game", "roomsReplicas": 2, "maxSurge": "100%",
        "portRange": {"start": start, "end": start + 99},
        "labels": {"mode": "casual"},
        "matchAllocation": {"maxMatches": 2},
        "allocation": {"strategy": "distributed", "claimTtl": "45s"},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    admin.post("/schedulers", &scheduler).await.ok();
    let shown = admin.get(&format!("/schedulers/{SELECT}")).await;
    assert_eq!(
        shown.ok()["scheduler"]["allocation"],
        json!({"strategy": "distributed", "claimTtl": "45s"})
    );
    let within = Duration::from_secs(30);
    let rooms = wait_for(&server, SELECT, "two ready rooms", within, |rooms| {
        rooms
            .iter()
            .filter(|r| r["status"] == "ready" && r["address"]["host"].is_string())
            .count()
            == 2
    })
    .await;
    let ids: Vec<String> = rooms
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let allocations = format!("/schedulers/{SELECT}/allocations");
    let release = |answer: &Value| format!("{allocations}/{}", answer["claimId"].as_str().unwrap());

    // Metadata as the room pinged it (the example room's own pings leave it as it is).
    ping_as_room(
        &server,
        &ids[1],
        &json!({"status": "ready", "metadata": {"map": "dust", "size": 5}}),
    )
    .await;
    let dust = admin
        .post(
            &allocations,
            &json!({"selector": {"metadata": {"map": "dust", "size": 5.0}}}),
        )
        .await
        .expect(StatusCode::CREATED)
        .clone();
    assert_eq!(room_id(&dust), ids[1]);
    // The scheduler's claim TTL: expires at now + 45 s; a request's own TTL wins.
    let left = expires_in(&dust);
    assert!(
        left > chrono::Duration::seconds(40) && left <= chrono::Duration::seconds(45),
        "{left}"
    );
    assert_eq!(dust["region"], "default", "{dust}");
    assert!(dust["host"].as_str().is_some_and(|h| !h.is_empty()));
    admin.delete(&release(&dust)).await.ok();
    admin
        .post(
            &allocations,
            &json!({"selector": {"metadata": {"map": "nuke"}}}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");

    // Regions: none of the rooms is in eu-west; the next preference (the default) has them.
    admin
        .post(&allocations, &json!({"selector": {"regions": ["eu-west"]}}))
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    let fell = admin
        .post(
            &allocations,
            &json!({"selector": {"regions": ["eu-west", "default"]}, "ttl": 600}),
        )
        .await
        .expect(StatusCode::CREATED)
        .clone();
    assert!(expires_in(&fell) > chrono::Duration::seconds(590));
    let kept = room_id(&fell);

    // Distributed: the next claim goes to the other, idle room, not to the half-full one.
    let spread = admin
        .post(&allocations, &json!({}))
        .await
        .expect(StatusCode::CREATED)
        .clone();
    assert_ne!(room_id(&spread), kept);
    admin.delete(&release(&spread)).await.ok();

    // A new major version (new labels) rolls out; the claimed v1 room stays, with room for one
    // more match.
    let mut v2 = scheduler.clone();
    v2["labels"] = json!({"mode": "ranked"});
    admin.post(&format!("/schedulers/{SELECT}"), &v2).await.ok();
    wait_for(
        &server,
        SELECT,
        "the claimed v1 room and two v2 rooms",
        Duration::from_secs(60),
        |rooms| {
            let ready = |version: &str| {
                rooms
                    .iter()
                    .filter(|r| r["status"] == "ready" && r["version"] == version)
                    .count()
            };
            ready("v1") == 1 && ready("v2") == 2 && rooms.len() == 3
        },
    )
    .await;
    let ranked = json!({"selector": {"labels": {"mode": "ranked"}}});
    let v2_room = room_id(
        admin
            .post(&allocations, &ranked)
            .await
            .expect(StatusCode::CREATED),
    );
    assert_ne!(v2_room, kept);
    let casual = json!({"selector": {"labels": {"mode": "casual"}}});
    assert_eq!(
        room_id(
            admin
                .post(&allocations, &casual)
                .await
                .expect(StatusCode::CREATED)
        ),
        kept
    );
    // The v1 room is full now (two matches): neither its version nor its labels find a room.
    for selector in [
        json!({"version": "v1"}),
        json!({"labels": {"mode": "casual"}}),
    ] {
        admin
            .post(&allocations, &json!({ "selector": selector }))
            .await
            .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    }
    let by_version = json!({"selector": {"version": "v2"}});
    let other = room_id(
        admin
            .post(&allocations, &by_version)
            .await
            .expect(StatusCode::CREATED),
    );
    assert_ne!(other, v2_room, "distributed: the idle v2 room");
    admin
        .post(
            &allocations,
            &json!({"selector": {"labels": {"mode": "none"}}}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");

    // Bad selectors: 400 naming the field, nothing claimed.
    for (body, field) in [
        (json!({"selector": {"version": "v9"}}), "selector.version"),
        (
            json!({"selector": {"regions": "eu-west"}}),
            "selector.regions",
        ),
        (
            json!({"selector": {"regions": ["eu", "eu"]}}),
            "selector.regions[1]",
        ),
        (json!({"selector": {"zone": "a"}}), "selector.zone"),
        (json!({"selector": {"version": ""}}), "selector.version"),
    ] {
        admin
            .post(&allocations, &body)
            .await
            .expect_invalid(&[field]);
    }
    admin
        .post(
            &format!("/schedulers/{SELECT}/rooms/{kept}/reserve"),
            &json!({"selector": {"version": "v1"}}),
        )
        .await
        .expect_invalid(&["selector"]);
    // Each v2 room still has room for exactly one more match.
    for _ in 0..2 {
        admin
            .post(&allocations, &by_version)
            .await
            .expect(StatusCode::CREATED);
    }
    admin
        .post(&allocations, &by_version)
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");

    // A bad policy is refused with its field.
    let mut bad = scheduler.clone();
    bad["allocation"] = json!({"strategy": "spread", "claimTtl": "2h"});
    admin
        .post(&format!("/schedulers/{SELECT}"), &bad)
        .await
        .expect_invalid(&["allocation.strategy", "allocation.claimTtl"]);
    admin.delete(&format!("/schedulers/{SELECT}")).await.ok();
}
