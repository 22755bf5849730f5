//! Allocation over HTTP, black box, with live rooms on the local runtime: Baton's allocation
//! resource (allocate, release, reserve) and Maestro's `rooms/allocate`, who may call them, and
//! the answers when no room is free.

#[macro_use]
mod common;

use std::time::Duration;

use app::domain::user::Role;
use axum::http::StatusCode;
use common::rooms::{example_room, wait_for};
use common::{Backend, TestServer, send};
use reqwest::Method;
use serde_json::{Value, json};

#[path = "allocation/selection.rs"]
mod selection;
use selection::selectors_strategy_and_claim_ttl;

on_both_backends!(
    selectors_strategy_and_claim_ttl,
    allocate_release_and_reserve,
    only_editors_of_the_game_allocate,
    claimed_rooms_survive_scale_down_until_released,
    rooms_see_and_confirm_their_claims_and_the_sweeper_expires_the_rest,
);

const NAME: &str = "alloc";
const GAME: &str = "alloc-game";

/// A scheduler of two rooms of the example game room, pinging often, with a port range of its
/// own per backend and scenario (`slot`: the tests run at once).
async fn server_with_ready_rooms(backend: Backend, slot: u16) -> TestServer {
    let server = TestServer::start_with(backend, |config| config.health_tick_ms = 200).await;
    let start = match backend {
        Backend::Sqlite => 47100,
        Backend::Postgres => 47300,
        Backend::Redis => 47500,
    } + slot * 100;
    server
        .admin()
        .post(
            "/schedulers",
            &json!({
                "name": NAME, "game": GAME, "roomsReplicas": 2, "maxSurge": "100%",
                "portRange": {"start": start, "end": start + 99},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
                    "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    wait_for(
        &server,
        NAME,
        "two ready rooms with an address",
        Duration::from_secs(30),
        |rooms| {
            rooms
                .iter()
                .filter(|r| r["status"] == "ready" && r["address"]["host"].is_string())
                .count()
                == 2
        },
    )
    .await;
    server
        .create_user("matchmaker", "matchmaker-password", Role::Editor, &[GAME])
        .await;
    server
        .create_user("watcher", "watcher-password", Role::Viewer, &[GAME])
        .await;
    server
        .create_user(
            "stranger",
            "stranger-password",
            Role::Editor,
            &["another-game"],
        )
        .await;
    server
}

fn room_id(answer: &Value) -> String {
    answer["roomId"].as_str().expect("a room id").to_string()
}

async fn allocate_release_and_reserve(backend: Backend) {
    let server = server_with_ready_rooms(backend, 0).await;
    let matchmaker = server.user("matchmaker", "matchmaker-password");
    let allocations = format!("/schedulers/{NAME}/allocations");

    // Baton's resource: a room, where it is, the claim and when it expires.
    let reply = matchmaker
        .post(
            &allocations,
            &json!({"metadata": {"matchId": "m1", "players": ["a", "b"]}, "ttl": 30}),
        )
        .await;
    let first = reply.expect(StatusCode::CREATED).clone();
    let first_room = room_id(&first);
    assert!(
        first["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{first}"
    );
    assert_eq!(first["ports"][0]["name"], "game", "{first}");
    assert!(
        first["ports"][0]["port"].as_u64().is_some_and(|p| p > 0),
        "{first}"
    );
    assert_eq!(first["metadata"]["matchId"], "m1");
    let claim = first["claimId"].as_str().expect("a claim id").to_string();
    let expires =
        chrono::DateTime::parse_from_rfc3339(first["expiresAt"].as_str().unwrap()).unwrap();
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(20) && left <= chrono::Duration::seconds(30),
        "{left}"
    );

    // Maestro's path: the other room, then `success: false` with a message (still 200).
    let maestro = format!("/scheduler/{NAME}/rooms/allocate");
    let second = matchmaker.post(&maestro, &json!({})).await.ok().clone();
    assert_eq!(second["success"], true, "{second}");
    assert_ne!(room_id(&second), first_room);
    assert!(
        second["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{second}"
    );
    assert_eq!(second["ports"][0]["protocol"], "udp", "{second}");
    let none = matchmaker.post(&maestro, &json!({})).await.ok().clone();
    assert_eq!(none["success"], false, "{none}");
    assert!(
        none["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{none}"
    );
    matchmaker
        .post(&allocations, &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");

    // A claimed room cannot be reserved; released, it can, at once.
    let reserve = format!("/schedulers/{NAME}/rooms/{first_room}/reserve");
    matchmaker
        .post(&reserve, &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    let released = matchmaker.delete(&format!("{allocations}/{claim}")).await;
    assert_eq!(released.ok()["room"], first_room.as_str());
    matchmaker
        .delete(&format!("{allocations}/{claim}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let reserved = matchmaker
        .post(&reserve, &json!({"metadata": {"matchId": "m2"}}))
        .await;
    let reserved = reserved.expect(StatusCode::CREATED);
    assert_eq!(room_id(reserved), first_room);
    assert_ne!(reserved["claimId"], claim.as_str());

    // Requests are checked; unknown rooms are not found.
    matchmaker
        .post(&allocations, &json!({"ttl": 0}))
        .await
        .expect_invalid(&["ttl"]);
    let big = "x".repeat(5000);
    matchmaker
        .post(&allocations, &json!({"metadata": {"blob": big}}))
        .await
        .expect_invalid(&["metadata"]);
    matchmaker
        .post(
            &format!("/schedulers/{NAME}/rooms/nope/reserve"),
            &json!({}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    // Both rooms are claimed. A scheduler change is seen by the very next allocation: with two
    // matches per room, a ready room with one claim takes another.
    matchmaker
        .post(&allocations, &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    server
        .admin()
        .patch(
            &format!("/schedulers/{NAME}"),
            &json!({"matchAllocation": {"maxMatches": 2}}),
        )
        .await
        .ok();
    matchmaker
        .post(&allocations, &json!({}))
        .await
        .expect(StatusCode::CREATED);
    server
        .admin()
        .delete(&format!("/schedulers/{NAME}"))
        .await
        .ok();
}

async fn only_editors_of_the_game_allocate(backend: Backend) {
    let server = server_with_ready_rooms(backend, 1).await;
    let first_room = {
        let rooms = common::rooms::rooms(&server, NAME).await;
        rooms[0]["id"].as_str().unwrap().to_string()
    };
    let paths = [
        format!("/schedulers/{NAME}/allocations"),
        format!("/scheduler/{NAME}/rooms/allocate"),
        format!("/schedulers/{NAME}/rooms/{first_room}/reserve"),
    ];
    let watcher = server.user("watcher", "watcher-password");
    let stranger = server.user("stranger", "stranger-password");
    for path in &paths {
        watcher
            .post(path, &json!({}))
            .await
            .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        stranger
            .post(path, &json!({}))
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
        server
            .anonymous()
            .post(path, &json!({}))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // Nothing was claimed: an administrator allocates both rooms, then release is checked too.
    let admin = server.admin();
    let claim = admin
        .post(&paths[0], &json!({}))
        .await
        .expect(StatusCode::CREATED)["claimId"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .post(&paths[0], &json!({}))
        .await
        .expect(StatusCode::CREATED);
    let release = format!("{}/{claim}", paths[0]);
    watcher
        .delete(&release)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    stranger
        .delete(&release)
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    admin.delete(&release).await.ok();
    admin.delete(&format!("/schedulers/{NAME}")).await.ok();
}

/// Scale-down removes the unclaimed room and keeps the claimed one until its claim is released.
async fn claimed_rooms_survive_scale_down_until_released(backend: Backend) {
    let server = server_with_ready_rooms(backend, 2).await;
    let admin = server.admin();
    let allocations = format!("/schedulers/{NAME}/allocations");
    let claimed = admin.post(&allocations, &json!({"ttl": 300})).await;
    let claimed = claimed.expect(StatusCode::CREATED).clone();
    let room = room_id(&claimed);
    admin
        .post(
            &format!("/schedulers/{NAME}/remove-rooms"),
            &json!({"amount": 2}),
        )
        .await
        .ok();
    let left = wait_for(
        &server,
        NAME,
        "only the claimed room",
        Duration::from_secs(30),
        |rooms| rooms.len() == 1,
    )
    .await;
    assert_eq!(left[0]["id"], room.as_str());
    // Several ticks later it is still there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rooms = common::rooms::rooms(&server, NAME).await;
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0]["status"], "ready");
    let claim = claimed["claimId"].as_str().unwrap();
    admin.delete(&format!("{allocations}/{claim}")).await.ok();
    wait_for(&server, NAME, "no room", Duration::from_secs(30), |rooms| {
        rooms.is_empty()
    })
    .await;
    admin.delete(&format!("/schedulers/{NAME}")).await.ok();
}

/// A room learns its claims from its pings' answers (and reads them with its own token);
/// reporting `occupied` confirms and closes them; a claim left unconfirmed expires by the
/// controller's sweep, and its room can be allocated again.
async fn rooms_see_and_confirm_their_claims_and_the_sweeper_expires_the_rest(backend: Backend) {
    let server = server_with_ready_rooms(backend, 3).await;
    let admin = server.admin();
    let allocations = format!("/schedulers/{NAME}/allocations");
    let confirmed = admin
        .post(&allocations, &json!({"metadata": {"matchId": "m1"}}))
        .await
        .expect(StatusCode::CREATED)
        .clone();
    let room = room_id(&confirmed);
    let secret = server
        .db
        .store()
        .await
        .setting_or_insert("room_token_secret", || unreachable!("the server made it"))
        .await
        .unwrap();
    let token = server::room_tokens::RoomTokens::new(secret).issue(NAME, &room);
    let own = format!("/scheduler/{NAME}/rooms/{room}");
    let view = send(
        server
            .anonymous()
            .request(Method::GET, &own)
            .bearer_auth(&token),
    )
    .await;
    let view = view.ok();
    assert_eq!(view["room"]["id"], room.as_str());
    assert_eq!(view["claims"][0]["id"], confirmed["claimId"]);
    assert_eq!(view["claims"][0]["metadata"], json!({"matchId": "m1"}));
    server
        .anonymous()
        .get(&own)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // Every ping that does not confirm the claim lists it (also Maestro's older `status`).
    let listed = json!({"success": true, "claims": [{
        "id": confirmed["claimId"], "metadata": {"matchId": "m1"},
        "expiresAt": confirmed["expiresAt"], "createdAt": view["claims"][0]["createdAt"]}]});
    for call in ["ping", "status"] {
        let answer = send(
            server
                .anonymous()
                .request(Method::PUT, &format!("{own}/{call}"))
                .bearer_auth(&token)
                .json(&json!({"status": "ready"})),
        )
        .await;
        assert_eq!(*answer.ok(), listed, "{call}");
    }
    // Pinging occupied confirms it: the answer lists nothing (Maestro's static answer).
    let answer = send(
        server
            .anonymous()
            .request(Method::PUT, &format!("{own}/ping"))
            .bearer_auth(&token)
            .json(&json!({"status": "occupied"})),
    )
    .await;
    answer.ok();
    assert_eq!(answer.text, r#"{"success":true}"#);
    let view = send(
        server
            .anonymous()
            .request(Method::GET, &own)
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(view.ok()["claims"], json!([]), "confirmed and closed");

    // The other room, claimed for one second and never confirmed, is free again soon after.
    let lapsing = admin.post(&allocations, &json!({"ttl": 1})).await;
    let lapsing = room_id(lapsing.expect(StatusCode::CREATED));
    assert_ne!(lapsing, room);
    let started = std::time::Instant::now();
    let reserve = format!("/schedulers/{NAME}/rooms/{lapsing}/reserve");
    loop {
        let reply = admin.post(&reserve, &json!({})).await;
        if reply.status == StatusCode::CREATED {
            break;
        }
        reply.expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the claim never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "expired too soon"
    );
    admin.delete(&format!("/schedulers/{NAME}")).await.ok();
}

/// The autoscaler counts open claims as running matches: with `fixedBuffer` of one room, claiming
/// the only ready room brings a second one up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_count_for_the_autoscaler() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.autoscaling_period_ms = 200;
    })
    .await;
    let admin = server.admin();
    let name = "buffered";
    admin
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": GAME, "roomsReplicas": 1, "maxSurge": "100%",
                "portRange": {"start": 47900, "end": 47999},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
                    "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
                "autoscaling": {"enabled": true, "min": 1, "max": 4,
                    "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 1}}}}
            }),
        )
        .await
        .ok();
    let within = Duration::from_secs(30);
    wait_for(&server, name, "one ready room", within, |rooms| {
        rooms.len() == 1 && rooms[0]["status"] == "ready"
    })
    .await;
    // Nothing changes while nothing is claimed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(common::rooms::rooms(&server, name).await.len(), 1);
    admin
        .post(
            &format!("/schedulers/{name}/allocations"),
            &json!({"ttl": 600}),
        )
        .await
        .expect(StatusCode::CREATED);
    wait_for(&server, name, "a second ready room", within, |rooms| {
        rooms.iter().filter(|r| r["status"] == "ready").count() == 2
    })
    .await;
    admin.delete(&format!("/schedulers/{name}")).await.ok();
}

/// Rooms stored before Baton knew regions (region `""`) run on the default runtime: a selector
/// naming its region (`default` here) finds them after the rooms that carry the name, and the
/// answer names the region they run in. Redis: the test stores such a room beside the server.
#[tokio::test]
async fn rooms_stored_before_regions_are_in_the_default_region() {
    use app::domain::room::{GameRoom, RoomAddress, RoomPort, RoomStatus};
    use app::ports::RoomStore;
    use server::adapters::storage::redis::RedisRoomStore;

    let server = TestServer::start(Backend::Redis).await;
    let admin = server.admin();
    let name = "legacy";
    admin
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": GAME, "roomsReplicas": 0,
                "portRange": {"start": 47800, "end": 47899},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": ["/bin/true"],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    let version = admin.get(&format!("/schedulers/{name}")).await.ok()["scheduler"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let store = RedisRoomStore::connect(
        server.config.redis_url.as_deref().unwrap(),
        &server.config.redis_prefix,
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    for (id, region, host) in [
        ("old-room", "", "10.0.0.1"),
        ("new-room", "default", "10.0.0.2"),
    ] {
        store
            .insert(&GameRoom {
                id: id.into(),
                scheduler: name.into(),
                version: version.clone(),
                status: RoomStatus::Ready,
                status_reason: None,
                created_at: now,
                status_changed_at: now,
                last_ping_at: Some(now),
                running_matches: 0,
                metadata: Default::default(),
                address: Some(RoomAddress {
                    host: host.into(),
                    ports: vec![RoomPort {
                        name: "game".into(),
                        protocol: "udp".into(),
                        port: 7777,
                    }],
                }),
                region: region.into(),
                machine: String::new(),
            })
            .await
            .unwrap();
    }
    let allocations = format!("/schedulers/{name}/allocations");
    // Elsewhere first: no room there, so the default region's own rooms, then the old one.
    let prefer = json!({"selector": {"regions": ["us-east", "default"]}});
    let first = admin.post(&allocations, &prefer).await;
    let first = first.expect(StatusCode::CREATED);
    assert_eq!(
        (room_id(first), &first["region"]),
        ("new-room".to_string(), &json!("default"))
    );
    let second = admin.post(&allocations, &prefer).await;
    let second = second.expect(StatusCode::CREATED);
    assert_eq!(
        (room_id(second), &second["region"], &second["host"]),
        (
            "old-room".to_string(),
            &json!("default"),
            &json!("10.0.0.1")
        ),
        "{second}"
    );
    admin
        .post(&allocations, &prefer)
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    // `""` stands for the same rooms; any region (no selector) finds the old room too.
    admin
        .delete(&format!(
            "{allocations}/{}",
            second["claimId"].as_str().unwrap()
        ))
        .await
        .ok();
    let blank = admin
        .post(&allocations, &json!({"selector": {"regions": [""]}}))
        .await;
    assert_eq!(room_id(blank.expect(StatusCode::CREATED)), "old-room");
    admin
        .delete(&format!(
            "{allocations}/{}",
            blank.json["claimId"].as_str().unwrap()
        ))
        .await
        .ok();
    let any = admin.post(&allocations, &json!({})).await;
    let any = any.expect(StatusCode::CREATED);
    assert_eq!(
        (room_id(any), &any["region"]),
        ("old-room".to_string(), &json!("default"))
    );
    // Its listing answers the region it runs in too.
    let rooms = admin.get(&format!("/schedulers/{name}/rooms")).await;
    assert!(
        rooms.ok()["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["region"] == "default"),
        "{}",
        rooms.text
    );
}
