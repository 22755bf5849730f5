//! The management API, black box over HTTP: the real server on SQLite and on PostgreSQL, and on
//! SQLite with the Redis room store.

#[macro_use]
mod common;

use app::domain::user::Role;
use common::{Backend, Reply, TestServer, seed, send};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    create_returns_v1_and_rejects_duplicates,
    list_filters_by_name_and_game,
    get_by_name_and_version,
    info_reports_room_counts_and_autoscaling,
    new_version_bumps_major_or_minor,
    new_version_rejects_game_changes_and_unknown_schedulers,
    patch_changes_only_the_given_fields,
    invalid_patch_stores_nothing,
    versions_list_and_switch,
    switch_version_errors,
    delete_removes_scheduler_and_versions,
    invalid_name,
    invalid_game,
    invalid_rooms_replicas,
    invalid_max_surge,
    invalid_port_range,
    missing_port_range,
    invalid_termination_grace_period,
    no_containers,
    duplicate_container_names,
    duplicate_port_names,
    invalid_quantity,
    requests_above_limits,
    invalid_protocol,
    invalid_environment,
    invalid_forwarder,
    invalid_autoscaling,
    yaml_schedulers_like_the_seed,
    every_error_is_reported_at_once,
    malformed_json_and_wrong_types,
    unauthenticated_requests_get_401,
    viewer_reads_but_cannot_change,
    editor_changes_only_its_games,
    openapi_document_and_docs_page,
    concurrent_authenticated_reads,
    concurrent_changes_never_fail,
    room_pings_answer_success_and_name_refused_transitions,
);

/// `body` with the value at JSON pointer `pointer` replaced (or added to an object).
fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    set(&mut body, pointer, value);
    body
}

fn set(body: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value;
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object {parent} in the body"))
        .insert(key.to_string(), value);
}

fn remove(mut body: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object {parent}"))
        .remove(key);
    body
}

/// The configuration part of a scheduler response: without what the server adds.
fn config_of(scheduler: &Value) -> Value {
    let mut config = scheduler.clone();
    let object = config.as_object_mut().expect("a scheduler object");
    for key in ["version", "state", "createdAt"] {
        object.remove(key);
    }
    if let Some(spec) = config["spec"].as_object_mut() {
        spec.remove("version");
    }
    config
}

/// A submitted scheduler as the API answers it: every field Maestro answers, its defaults
/// filled in where the body leaves them out (`server/tests/maestro.rs` checks them one by one).
fn answered(body: &Value) -> Value {
    fn fill(object: &mut Value, defaults: Value) {
        let object = object.as_object_mut().expect("an object");
        for (key, value) in defaults.as_object().expect("defaults") {
            object.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let mut answer = body.clone();
    fill(
        &mut answer,
        json!({"portRange": null, "maxSurge": "10%", "roomsReplicas": 0, "forwarders": [],
            "annotations": {}, "labels": {}, "matchAllocation": {"maxMatches": 1}}),
    );
    fill(
        &mut answer["spec"],
        json!({"toleration": "", "affinity": "", "restartPolicy": "Never"}),
    );
    for container in answer["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
    {
        fill(
            container,
            json!({"command": [], "environment": [], "ports": [], "imagePullPolicy": "IfNotPresent",
                "requests": {}, "limits": {}}),
        );
        for resources in ["requests", "limits"] {
            fill(&mut container[resources], json!({"memory": "", "cpu": ""}));
        }
        for port in container["ports"].as_array_mut().expect("ports") {
            fill(port, json!({"hostPort": 0, "protocol": "tcp"}));
        }
    }
    for forwarder in answer["forwarders"].as_array_mut().expect("forwarders") {
        fill(
            forwarder,
            json!({"enable": false, "type": "gRPC", "options": {"timeout": 1000, "metadata": {}}}),
        );
    }
    answer
}

async fn create(server: &TestServer, body: &Value) -> Value {
    server.admin().post("/schedulers", body).await.ok()["scheduler"].clone()
}

async fn scheduler_names(server: &TestServer, query: &str) -> Vec<String> {
    let reply = server.admin().get(&format!("/schedulers{query}")).await;
    reply.ok()["schedulers"]
        .as_array()
        .unwrap_or_else(|| panic!("no schedulers list: {}", reply.text))
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// The versions of `name` as (version, isActive), in the order the API lists them.
async fn versions(server: &TestServer, name: &str) -> Vec<(String, bool)> {
    let reply = server
        .admin()
        .get(&format!("/schedulers/{name}/versions"))
        .await;
    reply.ok()["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no versions list: {}", reply.text))
        .iter()
        .map(|v| {
            assert!(v["createdAt"].is_string(), "{v}");
            (
                v["version"].as_str().unwrap().to_string(),
                v["isActive"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(v, a)| (v.to_string(), *a)).collect()
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

// ---- Schedulers ---------------------------------------------------------------------------------

async fn create_returns_v1_and_rejects_duplicates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = seed("my-scheduler", "my-game");
    let reply = server.admin().post("/schedulers", &body).await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(scheduler["version"], "v1");
    assert_eq!(scheduler["state"], "creating");
    assert!(is_rfc3339(&scheduler["createdAt"]), "{scheduler}");
    // Everything submitted comes back as submitted.
    assert_eq!(config_of(scheduler), answered(&body));

    let again = server.admin().post("/schedulers", &body).await;
    again.expect_error(StatusCode::CONFLICT, "ALREADY_EXISTS");
    // Same name, other game: still the same scheduler name.
    let other_game = server
        .admin()
        .post("/schedulers", &seed("my-scheduler", "other-game"))
        .await;
    other_game.expect_error(StatusCode::CONFLICT, "ALREADY_EXISTS");

    // The duplicates changed nothing.
    let stored = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(&stored.ok()["scheduler"], scheduler);
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
    assert_eq!(scheduler_names(&server, "").await, ["my-scheduler"]);
}

async fn list_filters_by_name_and_game(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(scheduler_names(&server, "").await, Vec::<String>::new());
    for (name, game) in [("s-b", "g1"), ("s-a", "g1"), ("s-c", "g2")] {
        create(&server, &seed(name, game)).await;
    }
    assert_eq!(scheduler_names(&server, "").await, ["s-a", "s-b", "s-c"]);
    assert_eq!(scheduler_names(&server, "?game=g1").await, ["s-a", "s-b"]);
    assert_eq!(scheduler_names(&server, "?game=g2").await, ["s-c"]);
    assert_eq!(
        scheduler_names(&server, "?game=g3").await,
        Vec::<String>::new()
    );
    assert_eq!(scheduler_names(&server, "?name=s-b").await, ["s-b"]);
    assert_eq!(
        scheduler_names(&server, "?name=nope").await,
        Vec::<String>::new()
    );
    assert_eq!(scheduler_names(&server, "?name=s-c&game=g2").await, ["s-c"]);
    assert_eq!(
        scheduler_names(&server, "?name=s-c&game=g1").await,
        Vec::<String>::new()
    );

    // Lists hold summaries: no room spec.
    let reply = server.admin().get("/schedulers?name=s-a").await;
    let summary = &reply.ok()["schedulers"][0];
    assert_eq!(
        summary,
        &json!({
            "name": "s-a",
            "game": "g1",
            "state": "creating",
            "version": "v1",
            "portRange": {"start": 20000, "end": 21000},
            "maxSurge": "10%",
            "roomsReplicas": 1,
            "createdAt": summary["createdAt"],
            "matchAllocation": {"maxMatches": 1},
        })
    );
    assert!(is_rfc3339(&summary["createdAt"]));

    // A list follows the active version.
    server
        .admin()
        .patch("/schedulers/s-a", &json!({"roomsReplicas": 4}))
        .await
        .ok();
    let reply = server.admin().get("/schedulers?name=s-a").await;
    let summary = &reply.ok()["schedulers"][0];
    assert_eq!(summary["version"], "v1.1");
    assert_eq!(summary["roomsReplicas"], 4);
}

async fn get_by_name_and_version(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, &seed("my-scheduler", "my-game")).await;

    let reply = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(reply.ok()["scheduler"], created);

    let changed = with(
        seed("my-scheduler", "my-game"),
        "/spec/containers/0/image",
        json!("registry.example.com/game:2.0.0"),
    );
    let v2 = server
        .admin()
        .post("/schedulers/my-scheduler", &changed)
        .await;
    assert_eq!(v2.ok()["scheduler"]["version"], "v2");

    let active = server.admin().get("/schedulers/my-scheduler").await;
    let active = &active.ok()["scheduler"];
    assert_eq!(active["version"], "v2");
    assert_eq!(config_of(active), answered(&changed));
    // The scheduler was created once: versions do not change its creation time.
    assert_eq!(active["createdAt"], created["createdAt"]);

    let old = server
        .admin()
        .get("/schedulers/my-scheduler?version=v1")
        .await;
    let old = &old.ok()["scheduler"];
    assert_eq!(old["version"], "v1");
    assert_eq!(config_of(old), answered(&seed("my-scheduler", "my-game")));

    server
        .admin()
        .get("/schedulers/my-scheduler?version=v9")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    server
        .admin()
        .get("/schedulers/unknown")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    server
        .admin()
        .get("/schedulers/unknown?version=v1")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn info_reports_room_counts_and_autoscaling(backend: Backend) {
    let server = TestServer::start(backend).await;
    let autoscaling = json!({
        "enabled": true,
        "min": 1,
        "max": 10,
        "policy": {"type": "roomOccupancy", "parameters": {"readyTarget": 0.5, "downThreshold": 0.9}}
    });
    let scaled = with(
        with(
            seed("scaled", "game-a"),
            "/autoscaling",
            autoscaling.clone(),
        ),
        "/roomsReplicas",
        json!(3),
    );
    create(&server, &scaled).await;
    create(&server, &seed("fixed", "game-a")).await;
    create(&server, &seed("elsewhere", "game-b")).await;

    let reply = server.admin().get("/schedulers/info?game=game-a").await;
    let schedulers = reply.ok()["schedulers"].as_array().unwrap();
    assert_eq!(schedulers.len(), 2, "{}", reply.text);
    let by_name = |name: &str| {
        schedulers
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {}", reply.text))
    };
    assert_eq!(
        by_name("scaled"),
        &json!({
            "name": "scaled",
            "game": "game-a",
            "state": "creating",
            "roomsReplicas": 3,
            "roomsReady": 0,
            "roomsOccupied": 0,
            "roomsPending": 0,
            "roomsTerminating": 0,
            "autoscaling": {"enabled": true, "min": 1, "max": 10, "cooldown": 0},
            "matchAllocation": {"maxMatches": 1},
            "regions": [{"region": "default", "listed": true, "weight": 1, "reachable": true,
                "desired": 0, "rooms": {"pending": 0, "unready": 0, "ready": 0, "occupied": 0,
                "terminating": 0, "error": 0}}],
        })
    );
    assert_eq!(
        by_name("fixed"),
        &json!({
            "name": "fixed",
            "game": "game-a",
            "state": "creating",
            "roomsReplicas": 1,
            "roomsReady": 0,
            "roomsOccupied": 0,
            "roomsPending": 0,
            "roomsTerminating": 0,
            "autoscaling": null,
            "matchAllocation": {"maxMatches": 1},
            "regions": [{"region": "default", "listed": true, "weight": 1, "reachable": true,
                "desired": 0, "rooms": {"pending": 0, "unready": 0, "ready": 0, "occupied": 0,
                "terminating": 0, "error": 0}}],
        })
    );

    let all = server.admin().get("/schedulers/info").await;
    assert_eq!(all.ok()["schedulers"].as_array().unwrap().len(), 3);
    let none = server.admin().get("/schedulers/info?game=nope").await;
    assert_eq!(none.ok()["schedulers"], json!([]));
}

async fn new_version_bumps_major_or_minor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let v1 = seed("my-scheduler", "my-game");
    let created = create(&server, &v1).await;

    // Only roomsReplicas: the rooms stay, a minor version.
    let replicas = with(v1.clone(), "/roomsReplicas", json!(3));
    let reply = server
        .admin()
        .post("/schedulers/my-scheduler", &replicas)
        .await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(scheduler["version"], "v1.1");
    assert_eq!(scheduler["state"], "pending-sync");
    assert_eq!(scheduler["createdAt"], created["createdAt"]);
    assert_eq!(config_of(scheduler), answered(&replicas));

    // The room spec: a major version.
    let image = with(
        replicas.clone(),
        "/spec/containers/0/image",
        json!("registry.example.com/game:2.0.0"),
    );
    let reply = server
        .admin()
        .post("/schedulers/my-scheduler", &image)
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2");
    assert_eq!(config_of(&reply.json["scheduler"]), answered(&image));

    // Another minor change on v2.
    let surge = with(image.clone(), "/maxSurge", json!("3"));
    let reply = server
        .admin()
        .post("/schedulers/my-scheduler", &surge)
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2.1");

    // The same body again changes nothing.
    let reply = server
        .admin()
        .post("/schedulers/my-scheduler", &surge)
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2.1");
    // The name may be left out of the body: the path names the scheduler.
    let reply = server
        .admin()
        .post("/schedulers/my-scheduler", &remove(surge.clone(), "/name"))
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2.1");

    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[
            ("v1", false),
            ("v1.1", false),
            ("v2", false),
            ("v2.1", true)
        ])
    );
    let active = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(config_of(&active.ok()["scheduler"]), answered(&surge));
}

async fn new_version_rejects_game_changes_and_unknown_schedulers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = seed("my-scheduler", "my-game");
    let created = create(&server, &body).await;

    let other_game = with(body.clone(), "/game", json!("other-game"));
    server
        .admin()
        .post("/schedulers/my-scheduler", &other_game)
        .await
        .expect_invalid(&["game"]);
    let other_name = with(body.clone(), "/name", json!("other-name"));
    server
        .admin()
        .post("/schedulers/my-scheduler", &other_name)
        .await
        .expect_invalid(&["name"]);
    let invalid = with(body.clone(), "/roomsReplicas", json!(-1));
    server
        .admin()
        .post("/schedulers/my-scheduler", &invalid)
        .await
        .expect_invalid(&["roomsReplicas"]);
    server
        .admin()
        .post("/schedulers/unknown", &seed("unknown", "my-game"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    // Nothing was stored.
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
    let stored = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(stored.ok()["scheduler"], created);
    assert_eq!(scheduler_names(&server, "").await, ["my-scheduler"]);
}

async fn patch_changes_only_the_given_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = seed("my-scheduler", "my-game");
    create(&server, &body).await;

    let reply = server
        .admin()
        .patch("/schedulers/my-scheduler", &json!({"roomsReplicas": 5}))
        .await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(scheduler["version"], "v1.1");
    assert_eq!(
        config_of(scheduler),
        answered(&with(body.clone(), "/roomsReplicas", json!(5)))
    );

    // Nested objects merge: only the grace period changes, the containers stay.
    let reply = server
        .admin()
        .patch(
            "/schedulers/my-scheduler",
            &json!({"spec": {"terminationGracePeriod": "50s"}}),
        )
        .await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(scheduler["version"], "v2");
    let expected = with(
        with(body.clone(), "/roomsReplicas", json!(5)),
        "/spec/terminationGracePeriod",
        json!("50s"),
    );
    assert_eq!(config_of(scheduler), answered(&expected));

    // null removes an optional field; arrays are replaced whole.
    let reply = server
        .admin()
        .patch(
            "/schedulers/my-scheduler",
            &json!({"autoscaling": {"min": 1, "max": 5, "policy": {"type": "fixedBuffer", "parameters": {"amount": 2}}}}),
        )
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2.1");
    // Without `enabled`, a policy is off: Maestro's default.
    assert_eq!(reply.json["scheduler"]["autoscaling"]["enabled"], false);
    let reply = server
        .admin()
        .patch("/schedulers/my-scheduler", &json!({"autoscaling": null}))
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2.2");
    assert_eq!(config_of(&reply.json["scheduler"]), answered(&expected));

    // An empty patch changes nothing.
    let reply = server
        .admin()
        .patch("/schedulers/my-scheduler", &json!({}))
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v2.2");

    let active = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(config_of(&active.ok()["scheduler"]), answered(&expected));
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[
            ("v1", false),
            ("v1.1", false),
            ("v2", false),
            ("v2.1", false),
            ("v2.2", true)
        ])
    );

    server
        .admin()
        .patch("/schedulers/unknown", &json!({"roomsReplicas": 5}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn invalid_patch_stores_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, &seed("my-scheduler", "my-game")).await;
    let path = "/schedulers/my-scheduler";

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"roomsReplicas": -1}), vec!["roomsReplicas"]),
        (json!({"maxSurge": "0"}), vec!["maxSurge"]),
        (json!({"roomsReplicas": "x"}), vec!["roomsReplicas"]),
        (json!({"game": "other-game"}), vec!["game"]),
        (json!({"name": "other-name"}), vec!["name"]),
        (
            json!({"spec": {"containers": [{"name": "c", "image": "i", "requests": {"memory": "100MB"}}]}}),
            vec!["spec.containers[0].requests.memory"],
        ),
        (json!({"portRange": null}), vec!["portRange"]),
        (json!([1, 2]), vec!["body"]),
        (json!("roomsReplicas"), vec!["body"]),
    ];
    for (patch, fields) in cases {
        let reply = server.admin().patch(path, &patch).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{patch}: {}",
            reply.text
        );
        reply.expect_invalid(&fields);
    }
    server
        .admin()
        .raw(Method::PATCH, path, "{\"roomsReplicas\": ")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");

    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
    let stored = server.admin().get(path).await;
    assert_eq!(stored.ok()["scheduler"], created);
}

async fn versions_list_and_switch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let v1 = seed("my-scheduler", "my-game");
    create(&server, &v1).await;
    let v2 = with(
        v1.clone(),
        "/spec/containers/0/image",
        json!("registry.example.com/game:2.0.0"),
    );
    server
        .admin()
        .post("/schedulers/my-scheduler", &v2)
        .await
        .ok();
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", false), ("v2", true)])
    );

    let reply = server
        .admin()
        .put("/schedulers/my-scheduler", &json!({"version": "v1"}))
        .await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(scheduler["version"], "v1");
    assert_eq!(config_of(scheduler), answered(&v1));
    let active = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(active.ok()["scheduler"]["version"], "v1");
    assert_eq!(config_of(&active.json["scheduler"]), answered(&v1));
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true), ("v2", false)])
    );
    let listed = server.admin().get("/schedulers?name=my-scheduler").await;
    assert_eq!(listed.ok()["schedulers"][0]["version"], "v1");

    // Switching to the active version changes nothing.
    let reply = server
        .admin()
        .put("/schedulers/my-scheduler", &json!({"version": "v1"}))
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v1");

    // After a rollback, a room change still gets a fresh major, a minor change a fresh minor of v1.
    let v3 = with(v1.clone(), "/spec/terminationGracePeriod", json!("30s"));
    let reply = server.admin().post("/schedulers/my-scheduler", &v3).await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v3");
    server
        .admin()
        .put("/schedulers/my-scheduler", &json!({"version": "v1"}))
        .await
        .ok();
    let reply = server
        .admin()
        .patch("/schedulers/my-scheduler", &json!({"roomsReplicas": 2}))
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v1.1");
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", false), ("v2", false), ("v3", false), ("v1.1", true)])
    );

    // Roll forward.
    let reply = server
        .admin()
        .put("/schedulers/my-scheduler", &json!({"version": "v2"}))
        .await;
    assert_eq!(config_of(&reply.ok()["scheduler"]), answered(&v2));
}

async fn switch_version_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, &seed("my-scheduler", "my-game")).await;
    let path = "/schedulers/my-scheduler";

    server
        .admin()
        .put(path, &json!({"version": "v9"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    server
        .admin()
        .put(path, &json!({}))
        .await
        .expect_invalid(&["version"]);
    server
        .admin()
        .put(path, &json!({"version": ""}))
        .await
        .expect_invalid(&["version"]);
    server
        .admin()
        .put(path, &json!({"version": 1}))
        .await
        .expect_invalid(&["version"]);
    server
        .admin()
        .put("/schedulers/unknown", &json!({"version": "v1"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
    let stored = server.admin().get(path).await;
    assert_eq!(stored.ok()["scheduler"], created);
}

async fn delete_removes_scheduler_and_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    create(&server, &seed("my-scheduler", "my-game")).await;
    create(&server, &seed("kept", "my-game")).await;
    server
        .admin()
        .patch("/schedulers/my-scheduler", &json!({"roomsReplicas": 2}))
        .await
        .ok();

    let reply = server.admin().delete("/schedulers/my-scheduler").await;
    let deleted = &reply.ok()["scheduler"];
    assert_eq!(deleted["name"], "my-scheduler");
    assert_eq!(deleted["version"], "v1.1");

    server
        .admin()
        .get("/schedulers/my-scheduler")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    server
        .admin()
        .get("/schedulers/my-scheduler/versions")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    server
        .admin()
        .delete("/schedulers/my-scheduler")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(scheduler_names(&server, "").await, ["kept"]);
    let info = server.admin().get("/schedulers/info").await;
    assert_eq!(info.ok()["schedulers"].as_array().unwrap().len(), 1);

    // The name is free again, with a fresh history.
    let again = create(&server, &seed("my-scheduler", "my-game")).await;
    assert_eq!(again["version"], "v1");
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
    assert_eq!(versions(&server, "kept").await, owned(&[("v1", true)]));
}

// ---- Validation ---------------------------------------------------------------------------------

/// POSTs `body`, expects a 400 naming exactly `fields`, and checks that nothing was stored.
async fn rejected(server: &TestServer, body: &Value, fields: &[&str]) {
    let reply = server.admin().post("/schedulers", body).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{body}\n=> {}",
        reply.text
    );
    reply.expect_invalid(fields);
    assert_eq!(
        scheduler_names(server, "").await,
        Vec::<String>::new(),
        "an invalid scheduler was stored: {body}"
    );
}

/// POSTs `body` and expects it to be accepted (then deletes it again).
async fn accepted(server: &TestServer, body: &Value) {
    let reply = server.admin().post("/schedulers", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{body}\n=> {}", reply.text);
    let name = body["name"].as_str().unwrap();
    server
        .admin()
        .delete(&format!("/schedulers/{name}"))
        .await
        .ok();
}

fn seed_with(pointer: &str, value: Value) -> Value {
    with(seed("my-scheduler", "my-game"), pointer, value)
}

async fn invalid_name(backend: Backend) {
    let server = TestServer::start(backend).await;
    for name in [
        json!("Bad_Name"),
        json!(""),
        json!("-leading"),
        json!("trailing-"),
        json!("dots.not.allowed"),
        json!("a".repeat(64)),
    ] {
        rejected(&server, &seed_with("/name", name), &["name"]).await;
    }
    rejected(&server, &remove(seed("x", "my-game"), "/name"), &["name"]).await;
    accepted(&server, &seed_with("/name", json!("a".repeat(63)))).await;
}

async fn invalid_game(backend: Backend) {
    let server = TestServer::start(backend).await;
    rejected(&server, &seed_with("/game", json!("")), &["game"]).await;
    rejected(&server, &seed_with("/game", json!("has space")), &["game"]).await;
    rejected(
        &server,
        &seed_with("/game", json!("g".repeat(64))),
        &["game"],
    )
    .await;
    rejected(
        &server,
        &remove(seed("my-scheduler", "g"), "/game"),
        &["game"],
    )
    .await;
    accepted(&server, &seed_with("/game", json!("Game_1.2-x"))).await;
    accepted(&server, &seed_with("/game", json!("g".repeat(63)))).await;
}

async fn invalid_rooms_replicas(backend: Backend) {
    let server = TestServer::start(backend).await;
    rejected(
        &server,
        &seed_with("/roomsReplicas", json!(-1)),
        &["roomsReplicas"],
    )
    .await;
    accepted(&server, &seed_with("/roomsReplicas", json!(0))).await;
}

async fn invalid_max_surge(backend: Backend) {
    let server = TestServer::start(backend).await;
    for surge in ["0", "0%", "101%", "abc", "", "-1", "1.5"] {
        rejected(
            &server,
            &seed_with("/maxSurge", json!(surge)),
            &["maxSurge"],
        )
        .await;
    }
    accepted(&server, &seed_with("/maxSurge", json!("3"))).await;
    accepted(&server, &seed_with("/maxSurge", json!("100%"))).await;
}

async fn invalid_port_range(backend: Backend) {
    let server = TestServer::start(backend).await;
    let range = |start: i64, end: i64| seed_with("/portRange", json!({"start": start, "end": end}));
    rejected(&server, &range(21000, 20000), &["portRange"]).await;
    rejected(&server, &range(20000, 20000), &["portRange"]).await;
    rejected(
        &server,
        &range(0, 70000),
        &["portRange.start", "portRange.end"],
    )
    .await;
    rejected(&server, &range(-5, 100), &["portRange.start"]).await;
    rejected(
        &server,
        &range(70000, 70001),
        &["portRange.start", "portRange.end"],
    )
    .await;
    accepted(&server, &range(1, 65536)).await;
}

async fn missing_port_range(backend: Backend) {
    let server = TestServer::start(backend).await;
    let without = remove(seed("my-scheduler", "my-game"), "/portRange");
    rejected(&server, &without, &["portRange"]).await;
    // A fixed hostPort on every port needs no range.
    accepted(
        &server,
        &with(without, "/spec/containers/0/ports/0/hostPort", json!(7000)),
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/ports/0/hostPort", json!(70000)),
        &["spec.containers[0].ports[0].hostPort"],
    )
    .await;
}

async fn invalid_termination_grace_period(backend: Backend) {
    let server = TestServer::start(backend).await;
    for period in ["soon", "", "10x", "-1s"] {
        rejected(
            &server,
            &seed_with("/spec/terminationGracePeriod", json!(period)),
            &["spec.terminationGracePeriod"],
        )
        .await;
    }
    // A number of seconds is accepted too.
    accepted(
        &server,
        &seed_with("/spec/terminationGracePeriod", json!(30)),
    )
    .await;
    accepted(
        &server,
        &seed_with("/spec/terminationGracePeriod", json!("1m30s")),
    )
    .await;
}

async fn no_containers(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Without containers no port needs a range: the only error is the missing container.
    rejected(
        &server,
        &seed_with("/spec/containers", json!([])),
        &["spec.containers"],
    )
    .await;
    rejected(
        &server,
        &remove(seed("my-scheduler", "my-game"), "/spec"),
        &["spec.containers"],
    )
    .await;
}

async fn duplicate_container_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut second = seed("x", "y")["spec"]["containers"][0].clone();
    second["ports"][0]["name"] = json!("other-port");
    second["ports"][0]["port"] = json!(12346);
    let body = seed_with(
        "/spec/containers",
        json!([seed("x", "y")["spec"]["containers"][0], second]),
    );
    rejected(&server, &body, &["spec.containers[1].name"]).await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/name", json!("Game_Container")),
        &["spec.containers[0].name"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/image", json!(" ")),
        &["spec.containers[0].image"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/imagePullPolicy", json!("Sometimes")),
        &["spec.containers[0].imagePullPolicy"],
    )
    .await;
    second["name"] = json!("sidecar");
    accepted(
        &server,
        &seed_with(
            "/spec/containers",
            json!([seed("x", "y")["spec"]["containers"][0], second]),
        ),
    )
    .await;
}

async fn duplicate_port_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Port names are unique across all containers of a room.
    let mut sidecar = seed("x", "y")["spec"]["containers"][0].clone();
    sidecar["name"] = json!("sidecar");
    sidecar["ports"][0]["port"] = json!(9000);
    let body = seed_with(
        "/spec/containers",
        json!([seed("x", "y")["spec"]["containers"][0], sidecar]),
    );
    rejected(&server, &body, &["spec.containers[1].ports[0].name"]).await;
    // And within one container.
    let body = seed_with(
        "/spec/containers/0/ports",
        json!([
            {"name": "port-name", "protocol": "tcp", "port": 12345},
            {"name": "port-name", "protocol": "udp", "port": 12346}
        ]),
    );
    rejected(&server, &body, &["spec.containers[0].ports[1].name"]).await;
    // The same port twice with one protocol.
    let body = seed_with(
        "/spec/containers/0/ports",
        json!([
            {"name": "game", "protocol": "tcp", "port": 12345},
            {"name": "game-again", "protocol": "TCP", "port": 12345}
        ]),
    );
    rejected(&server, &body, &["spec.containers[0].ports[1].port"]).await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/ports/0/name", json!("1234")),
        &["spec.containers[0].ports[0].name"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/ports/0/port", json!(70000)),
        &["spec.containers[0].ports[0].port"],
    )
    .await;
    // Same number, other protocol: fine.
    accepted(
        &server,
        &seed_with(
            "/spec/containers/0/ports",
            json!([
                {"name": "game", "protocol": "tcp", "port": 12345},
                {"name": "game-udp", "protocol": "udp", "port": 12345}
            ]),
        ),
    )
    .await;
}

async fn invalid_quantity(backend: Backend) {
    let server = TestServer::start(backend).await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/requests/memory", json!("100MB")),
        &["spec.containers[0].requests.memory"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/limits/cpu", json!("lots")),
        &["spec.containers[0].limits.cpu"],
    )
    .await;
    accepted(
        &server,
        &seed_with(
            "/spec/containers/0/requests",
            json!({"memory": "0.1Gi", "cpu": "0.1"}),
        ),
    )
    .await;
}

async fn requests_above_limits(backend: Backend) {
    let server = TestServer::start(backend).await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/requests/cpu", json!("300m")),
        &["spec.containers[0].requests.cpu"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/requests/memory", json!("1Gi")),
        &["spec.containers[0].requests.memory"],
    )
    .await;
    // Equal is fine, and units may differ.
    accepted(
        &server,
        &seed_with(
            "/spec/containers/0/requests",
            json!({"memory": "200Mi", "cpu": "0.2"}),
        ),
    )
    .await;
}

async fn invalid_protocol(backend: Backend) {
    let server = TestServer::start(backend).await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/ports/0/protocol", json!("http")),
        &["spec.containers[0].ports[0].protocol"],
    )
    .await;
    accepted(
        &server,
        &seed_with("/spec/containers/0/ports/0/protocol", json!("UDP")),
    )
    .await;
}

async fn invalid_environment(backend: Backend) {
    let server = TestServer::start(backend).await;
    for name in ["1BAD", "HAS SPACE", ""] {
        rejected(
            &server,
            &seed_with("/spec/containers/0/environment/0/name", json!(name)),
            &["spec.containers[0].environment[0].name"],
        )
        .await;
    }
    rejected(
        &server,
        &seed_with(
            "/spec/containers/0/environment",
            json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        ),
        &["spec.containers[0].environment[1].name"],
    )
    .await;
}

async fn invalid_forwarder(backend: Backend) {
    let server = TestServer::start(backend).await;
    rejected(
        &server,
        &seed_with(
            "/forwarders",
            json!([{"name": "", "enable": true, "type": "kafka", "address": " "}]),
        ),
        &[
            "forwarders[0].name",
            "forwarders[0].type",
            "forwarders[0].address",
        ],
    )
    .await;
    // An http forwarder posts to a URL.
    rejected(
        &server,
        &seed_with(
            "/forwarders",
            json!([{"name": "signed", "enable": true, "type": "http", "address": "fwd:8080"}]),
        ),
        &["forwarders[0].address"],
    )
    .await;
    let forwarder = json!({"name": "events", "enable": true, "type": "gRPC", "address": "fwd:8080",
        "options": {"timeout": 1000, "metadata": {"roomType": "red"}}});
    rejected(
        &server,
        &seed_with("/forwarders", json!([forwarder, forwarder])),
        &["forwarders[1].name"],
    )
    .await;
    let body = seed_with("/forwarders", json!([forwarder]));
    let reply = server.admin().post("/schedulers", &body).await;
    assert_eq!(config_of(&reply.ok()["scheduler"]), answered(&body));
}

async fn invalid_autoscaling(backend: Backend) {
    let server = TestServer::start(backend).await;
    let policy =
        json!({"type": "roomOccupancy", "parameters": {"readyTarget": 0.5, "downThreshold": 0.9}});
    let trigger = |kind: &str| json!({"type": kind, "usage": 70, "threshold": 80, "time": 600});
    let triggers = |kind: &str| json!({"min": 1, "max": 10, "up": {"metricsTrigger": [trigger(kind)], "cooldown": 300}});

    rejected(
        &server,
        &seed_with(
            "/autoscaling",
            json!({"min": 5, "max": 2, "policy": policy}),
        ),
        &["autoscaling.max"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/autoscaling", triggers("gpu")),
        &["autoscaling.up.metricsTrigger[0].type"],
    )
    .await;
    // A cpu trigger needs cpu requests: on every container or on the autoscaling itself.
    let no_requests = remove(
        remove(
            seed("my-scheduler", "my-game"),
            "/spec/containers/0/requests",
        ),
        "/spec/containers/0/limits",
    );
    rejected(
        &server,
        &with(no_requests.clone(), "/autoscaling", triggers("cpu")),
        &["autoscaling.up.metricsTrigger[0].type"],
    )
    .await;
    rejected(
        &server,
        &seed_with(
            "/autoscaling",
            json!({"min": 1, "max": 5, "policy": {"type": "magic"}}),
        ),
        &["autoscaling.policy.type"],
    )
    .await;
    rejected(
        &server,
        &seed_with(
            "/autoscaling",
            json!({"min": 1, "max": 5, "policy": {"type": "roomOccupancy", "parameters": {"readyTarget": 1.5}}}),
        ),
        &["autoscaling.policy.parameters.roomOccupancy.readyTarget"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/autoscaling", json!({"min": 1, "max": 5})),
        &["autoscaling"],
    )
    .await;

    let mut with_requests = triggers("cpu");
    with_requests["requests"] = json!({"cpu": "500m"});
    accepted(
        &server,
        &with(no_requests.clone(), "/autoscaling", with_requests),
    )
    .await;
    accepted(&server, &seed_with("/autoscaling", triggers("cpu"))).await;
    // Maestro v10's nested roomOccupancy parameters.
    accepted(
        &server,
        &seed_with(
            "/autoscaling",
            json!({"min": 1, "max": 0, "policy": {"type": "roomOccupancy",
                "parameters": {"roomOccupancy": {"readyTarget": 0.4, "downThreshold": 0.8}}}}),
        ),
    )
    .await;
}

async fn every_error_is_reported_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut body = seed("Bad_Name", "");
    body["roomsReplicas"] = json!(-1);
    body["maxSurge"] = json!("0");
    body["portRange"] = json!({"start": 3000, "end": 2000});
    body["spec"]["containers"][0]["requests"]["memory"] = json!("100MB");
    let reply = server.admin().post("/schedulers", &body).await;
    reply.expect_invalid(&[
        "name",
        "game",
        "roomsReplicas",
        "maxSurge",
        "portRange",
        "spec.containers[0].requests.memory",
    ]);
    assert_eq!(reply.json["errors"][2]["message"], "must be 0 or more");
    // With one error the message names it.
    let reply = server
        .admin()
        .post("/schedulers", &seed_with("/roomsReplicas", json!(-1)))
        .await;
    assert_eq!(
        reply.json,
        json!({
            "code": "INVALID_ARGUMENT",
            "message": "roomsReplicas: must be 0 or more",
            "errors": [{"field": "roomsReplicas", "message": "must be 0 or more"}]
        })
    );
    assert_eq!(scheduler_names(&server, "").await, Vec::<String>::new());
}

async fn malformed_json_and_wrong_types(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();

    // A positional array would otherwise fill the struct's fields in order.
    let positional = r#"["my-scheduler", "my-game", 1, {"start": 20000, "end": 21000}]"#;
    for text in ["not json", "", "[1]", "42", positional] {
        let reply = admin.raw(Method::POST, "/schedulers", text).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{text:?}: {}",
            reply.text
        );
        reply.expect_invalid(&["body"]);
    }
    // Cut short: still a 400 with the field it stopped in.
    let reply = admin
        .raw(
            Method::POST,
            "/schedulers",
            r#"{"name": "my-scheduler", "game": "#,
        )
        .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");

    rejected(
        &server,
        &seed_with("/roomsReplicas", json!("x")),
        &["roomsReplicas"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers/0/ports/0/port", json!("12345")),
        &["spec.containers[0].ports[0].port"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/portRange", json!("20000-21000")),
        &["portRange"],
    )
    .await;
    rejected(
        &server,
        &seed_with("/spec/containers", json!({"name": "c"})),
        &["spec.containers"],
    )
    .await;

    // The same for new versions.
    create(&server, &seed("my-scheduler", "my-game")).await;
    admin
        .raw(Method::POST, "/schedulers/my-scheduler", "{")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    admin
        .post(
            "/schedulers/my-scheduler",
            &seed_with("/roomsReplicas", json!("x")),
        )
        .await
        .expect_invalid(&["roomsReplicas"]);
    admin
        .raw(Method::PUT, "/schedulers/my-scheduler", "nope")
        .await
        .expect_invalid(&["body"]);
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
}

// ---- Authentication and permissions -------------------------------------------------------------

/// Every management endpoint, with a body where it takes one.
fn endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/schedulers", None),
        (
            Method::POST,
            "/schedulers",
            Some(seed("new-scheduler", "my-game")),
        ),
        (Method::GET, "/schedulers/info", None),
        (Method::GET, "/schedulers/my-scheduler", None),
        (Method::GET, "/schedulers/my-scheduler/regions", None),
        (
            Method::POST,
            "/schedulers/my-scheduler",
            Some(seed_with("/roomsReplicas", json!(7))),
        ),
        (
            Method::PATCH,
            "/schedulers/my-scheduler",
            Some(json!({"roomsReplicas": 7})),
        ),
        (
            Method::PUT,
            "/schedulers/my-scheduler",
            Some(json!({"version": "v1"})),
        ),
        (Method::DELETE, "/schedulers/my-scheduler", None),
        (Method::GET, "/schedulers/my-scheduler/versions", None),
    ]
}

async fn call(api: &common::Api<'_>, method: &Method, path: &str, body: &Option<Value>) -> Reply {
    let request = api.request(method.clone(), path);
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    common::send(request).await
}

/// A 401 that does not invite a browser to ask for (and then keep sending) Basic credentials.
#[track_caller]
fn expect_challenge(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.text
    );
    reply.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(
        reply
            .headers
            .get(WWW_AUTHENTICATE)
            .is_none_or(|challenge| !challenge
                .to_str()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .starts_with("basic")),
        "{what}: {:?}",
        reply.headers.get(WWW_AUTHENTICATE)
    );
}

async fn unauthenticated_requests_get_401(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, &seed("my-scheduler", "my-game")).await;
    server
        .create_user_with("gone", "gone-password", Role::Admin, &[], true)
        .await;

    let anonymous = server.anonymous();
    let wrong_password = server.user("admin", "not-the-password");
    let unknown_user = server.user("nobody", common::ADMIN_PASSWORD);
    let disabled = server.user("gone", "gone-password");
    for (method, path, body) in endpoints() {
        let what = format!("{method} {path}");
        expect_challenge(&call(&anonymous, &method, path, &body).await, &what);
        // Each failed check costs an argon2 run: try the bad credentials on a read and a write.
        if path == "/schedulers" {
            for (who, api) in [
                ("wrong password", &wrong_password),
                ("unknown user", &unknown_user),
                ("disabled user", &disabled),
            ] {
                let reply = call(api, &method, path, &body).await;
                expect_challenge(&reply, &format!("{what} as {who}"));
            }
        }
    }
    for header in [
        "Bearer abc",
        "Basic !!!",
        "Basic YWRtaW4=", // "admin", no colon
        "Basic",
    ] {
        let reply = common::send(
            anonymous
                .request(Method::GET, "/schedulers")
                .header(AUTHORIZATION, header),
        )
        .await;
        expect_challenge(&reply, header);
    }

    // Nothing changed, and the right credentials still work.
    let stored = server.admin().get("/schedulers/my-scheduler").await;
    assert_eq!(stored.ok()["scheduler"], created);
    assert_eq!(scheduler_names(&server, "").await, ["my-scheduler"]);
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
}

async fn viewer_reads_but_cannot_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let created = create(&server, &seed("my-scheduler", "my-game")).await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["my-game"])
        .await;
    let viewer = server.user("viewer", "viewer-password");

    for (method, path, body) in endpoints() {
        let reply = call(&viewer, &method, path, &body).await;
        if method == Method::GET {
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{method} {path}: {}",
                reply.text
            );
        } else {
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                reply.text
            );
            reply.expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        }
    }
    let reply = viewer.get("/schedulers/my-scheduler").await;
    assert_eq!(reply.ok()["scheduler"], created);

    // Nothing changed.
    assert_eq!(scheduler_names(&server, "").await, ["my-scheduler"]);
    assert_eq!(
        versions(&server, "my-scheduler").await,
        owned(&[("v1", true)])
    );
}

async fn editor_changes_only_its_games(backend: Backend) {
    // Rooms run on the local runtime: g1's editors need an administrator's grant.
    let server = TestServer::start_with(backend, |config| {
        config.local_runtime_editor_games = vec!["g1".into()];
    })
    .await;
    server
        .create_user("editor", "editor-password", Role::Editor, &["g1"])
        .await;
    let editor = server.user("editor", "editor-password");
    create(&server, &seed("theirs", "g2")).await;

    // Its own game: everything.
    editor.post("/schedulers", &seed("mine", "g1")).await.ok();
    editor
        .patch("/schedulers/mine", &json!({"roomsReplicas": 2}))
        .await
        .ok();
    editor
        .post(
            "/schedulers/mine",
            &with(seed("mine", "g1"), "/roomsReplicas", json!(3)),
        )
        .await
        .ok();
    editor
        .put("/schedulers/mine", &json!({"version": "v1"}))
        .await
        .ok();
    assert_eq!(
        versions(&server, "mine").await,
        owned(&[("v1", true), ("v1.1", false), ("v1.2", false)])
    );

    // Another game: not even visible (as if it did not exist), so not changeable.
    editor
        .post("/schedulers", &seed("not-mine", "g2"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    editor
        .get("/schedulers/theirs")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    editor
        .get("/schedulers/theirs/versions")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    for reply in [
        editor
            .patch("/schedulers/theirs", &json!({"roomsReplicas": 2}))
            .await,
        editor
            .post(
                "/schedulers/theirs",
                &with(seed("theirs", "g2"), "/roomsReplicas", json!(3)),
            )
            .await,
        editor
            .put("/schedulers/theirs", &json!({"version": "v1"}))
            .await,
        editor.delete("/schedulers/theirs").await,
    ] {
        reply.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // Moving its scheduler to another game is not possible either way.
    editor
        .patch("/schedulers/mine", &json!({"game": "g2"}))
        .await
        .expect_invalid(&["game"]);

    assert_eq!(scheduler_names(&server, "").await, ["mine", "theirs"]);
    assert_eq!(versions(&server, "theirs").await, owned(&[("v1", true)]));

    editor.delete("/schedulers/mine").await.ok();
    assert_eq!(scheduler_names(&server, "").await, ["theirs"]);
}

// ---- Documentation ------------------------------------------------------------------------------

async fn openapi_document_and_docs_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let reply = server.anonymous().get("/openapi.json").await;
    let document = reply.ok();
    assert!(document["openapi"].is_string(), "{}", reply.text);
    let paths = document["paths"].as_object().expect("paths");
    let expected: [(&str, &[&str]); 17] = [
        ("/schedulers", &["get", "post"]),
        ("/schedulers/{name}/regions", &["get"]),
        ("/schedulers/info", &["get"]),
        (
            "/schedulers/{name}",
            &["get", "post", "patch", "put", "delete"],
        ),
        ("/schedulers/{name}/versions", &["get"]),
        ("/schedulers/{name}/rooms", &["get"]),
        ("/schedulers/{name}/rooms/history", &["get"]),
        ("/schedulers/{name}/autoscaling/decisions", &["get"]),
        ("/schedulers/{name}/capacity", &["get"]),
        ("/schedulers/{name}/add-rooms", &["post"]),
        ("/schedulers/{name}/remove-rooms", &["post"]),
        ("/schedulers/{name}/operations", &["get"]),
        ("/schedulers/{name}/operations/{id}", &["get"]),
        ("/schedulers/{name}/operations/{id}/cancel", &["post"]),
        ("/schedulers/{name}/allocations", &["post"]),
        ("/schedulers/{name}/allocations/{claim}", &["delete"]),
        ("/schedulers/{name}/rooms/{room}/reserve", &["post"]),
    ];
    for (path, methods) in expected {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()));
        for method in methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} not documented"
            );
        }
    }
    // Every /schedulers path the router serves is documented, and nothing else under it.
    let mut documented: Vec<&str> = paths
        .keys()
        .map(String::as_str)
        .filter(|p| *p == "/schedulers" || p.starts_with("/schedulers/"))
        .collect();
    documented.sort_unstable();
    let mut wanted: Vec<&str> = expected.iter().map(|(p, _)| *p).collect();
    wanted.sort_unstable();
    assert_eq!(documented, wanted);
    assert!(
        document["components"]["securitySchemes"]["basic"].is_object(),
        "{}",
        reply.text
    );
    // Allocation: the selector, the room's region, the scheduler's policy.
    let schemas = &document["components"]["schemas"];
    for (schema, property) in [
        ("AllocationRequest", "selector"),
        ("RoomSelector", "version"),
        ("RoomSelector", "labels"),
        ("RoomSelector", "metadata"),
        ("RoomSelector", "regions"),
        ("AllocationResponse", "region"),
        ("SchedulerConfig", "allocation"),
        ("AllocationPolicy", "strategy"),
        ("AllocationPolicy", "claimTtl"),
        ("OperationDocument", "progress"),
        ("RolloutProgress", "oldRooms"),
        ("RolloutProgress", "readyFloor"),
    ] {
        assert!(
            schemas[schema]["properties"][property].is_object(),
            "{schema}.{property} not documented"
        );
    }

    let docs = server.anonymous().get("/docs").await;
    docs.expect(StatusCode::OK);
    let content_type = docs.headers[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(docs.text.contains("<html"), "{}", docs.text);
    for (path, _) in expected {
        assert!(docs.text.contains(path), "{path} missing from /docs");
    }
}

async fn concurrent_authenticated_reads(backend: Backend) {
    let server = TestServer::start(backend).await;
    create(&server, &seed("my-scheduler", "my-game")).await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["my-game"])
        .await;
    // The first request of each user verifies its password; the others find it in the cache.
    server.admin().get("/schedulers").await.ok();
    server
        .user("viewer", "viewer-password")
        .get("/schedulers")
        .await
        .ok();

    let paths = [
        "/schedulers",
        "/schedulers/my-scheduler",
        "/schedulers/my-scheduler/versions",
        "/schedulers/info",
    ];
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..20 {
        let api = if i % 2 == 0 {
            server.admin()
        } else {
            server.user("viewer", "viewer-password")
        };
        let path = paths[i % paths.len()];
        let request = api.request(Method::GET, path);
        requests.spawn(async move { (path, common::send(request).await) });
    }
    let mut done = 0;
    while let Some(result) = requests.join_next().await {
        let (path, reply) = result.expect("a request task");
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        done += 1;
    }
    assert_eq!(done, 20);
}

async fn concurrent_changes_never_fail(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.admin().get("/schedulers").await.ok();

    // Distinct schedulers created at once: every one is stored.
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..10 {
        let request = server
            .admin()
            .request(Method::POST, "/schedulers")
            .json(&seed(&format!("s-{i}"), "my-game"));
        requests.spawn(common::send(request));
    }
    while let Some(result) = requests.join_next().await {
        result.expect("a request task").ok();
    }
    assert_eq!(scheduler_names(&server, "").await.len(), 10);

    // Racing changes of one scheduler: one wins each version; the others are told to retry,
    // either because their version number was taken or because the winner's operation still
    // runs (naming it).
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..8 {
        let request = server
            .admin()
            .request(Method::PATCH, "/schedulers/s-0")
            .json(&json!({"roomsReplicas": 10 + i}));
        requests.spawn(common::send(request));
    }
    let mut won = Vec::new();
    while let Some(result) = requests.join_next().await {
        let reply = result.expect("a request task");
        match (reply.status, reply.json["code"].as_str()) {
            (StatusCode::OK, _) => won.push(reply.json["scheduler"]["version"].clone()),
            (StatusCode::CONFLICT, Some("ALREADY_EXISTS")) => {}
            (StatusCode::CONFLICT, Some("FAILED_PRECONDITION")) => {
                assert!(reply.json["operationId"].is_string(), "{}", reply.text)
            }
            (other, _) => panic!("a racing change got {other}: {}", reply.text),
        }
    }
    let stored = versions(&server, "s-0").await;
    // Each success stored one distinct version (minor versions are active at once); nothing
    // else was stored.
    assert_eq!(stored.len(), 1 + won.len(), "{stored:?} after {won:?}");
    assert!(!won.is_empty());
}

/// The seed's autoscaling example, as a whole scheduler file in YAML.
const SEED_YAML: &str = r#"
name: yaml-scheduler
game: yaml-game
roomsReplicas: 100
portRange: {start: 40000, end: 42000}
maxSurge: 10%
spec:
  terminationGracePeriod: 100s
  containers:
    - name: game
      image: example/game-room:1.0
      command: ["./room"]
      ports:
        - {name: game, protocol: udp, port: 7777}
autoscaling:
  requests:
    memory: 1Gi
    cpu: 1000m
  min: 100                  # minimum amount of GRUs
  max: 1000
  up:
    metricsTrigger:         # the first that matches scales
      - type: room
        threshold: 80
        usage: 70
        time: 600
      - type: mem
        threshold: 80
        usage: 70
        time: 600
    cooldown: 300
  down:
    metricsTrigger:
      - type: cpu
        threshold: 80
        usage: 50
        time: 900
    cooldown: 300
"#;

async fn post_yaml(server: &TestServer, body: &str) -> Reply {
    send(
        server
            .admin()
            .request(Method::POST, "/schedulers")
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(body.to_string()),
    )
    .await
}

async fn yaml_schedulers_like_the_seed(backend: Backend) {
    let server = TestServer::start(backend).await;
    post_yaml(&server, SEED_YAML).await.ok();
    let stored = server.admin().get("/schedulers/yaml-scheduler").await;
    let autoscaling = &stored.ok()["scheduler"]["autoscaling"];
    assert_eq!(autoscaling["min"], 100);
    assert_eq!(autoscaling["requests"]["memory"], "1Gi");
    assert_eq!(autoscaling["up"]["metricsTrigger"][1]["type"], "mem");
    assert_eq!(autoscaling["up"]["metricsTrigger"][0]["time"], 600);
    assert_eq!(autoscaling["down"]["metricsTrigger"][0]["usage"], 50);
    assert_eq!(autoscaling["down"]["cooldown"], 300);

    // Without the requests, the mem and cpu triggers are refused at their fields.
    let no_requests = SEED_YAML
        .replace("name: yaml-scheduler", "name: yaml-two")
        .replace("  requests:\n    memory: 1Gi\n    cpu: 1000m\n", "");
    post_yaml(&server, &no_requests).await.expect_invalid(&[
        "autoscaling.up.metricsTrigger[1].type",
        "autoscaling.down.metricsTrigger[0].type",
    ]);
    // A wrong type is reported at its path; broken YAML and a list are refused; nothing is stored.
    post_yaml(
        &server,
        &SEED_YAML.replace("roomsReplicas: 100", "roomsReplicas: many"),
    )
    .await
    .expect_invalid(&["roomsReplicas"]);
    post_yaml(&server, "name: [unclosed")
        .await
        .expect_invalid(&["body"]);
    post_yaml(&server, "- a\n- b\n")
        .await
        .expect_invalid(&["body"]);
    let list = server.admin().get("/schedulers?game=yaml-game").await;
    assert_eq!(list.ok()["schedulers"].as_array().map(Vec::len), Some(1));

    // zeuz's unreserved-payload rule as a policy, in zeuz's names, is answered in Baton's; a
    // minimum above the maximum is refused at the maximum.
    let (head, _) = SEED_YAML.split_once("autoscaling:\n").unwrap();
    let zeuz = format!(
        "{}autoscaling:\n  enabled: true\n  min: 1\n  max: 50\n  policy:\n    type: unreservedRooms\n    parameters:\n      unreservedRooms: {{MinUnreservedPayloads: 4, MaxUnreservedPayloads: 6}}\n",
        head.replace("name: yaml-scheduler", "name: yaml-zeuz")
            .replace("roomsReplicas: 100", "roomsReplicas: 2")
    );
    let reply = post_yaml(&server, &zeuz).await;
    assert_eq!(
        reply.ok()["scheduler"]["autoscaling"]["policy"],
        json!({"type": "unreservedRooms", "parameters": {"unreservedRooms": {"min": 4, "max": 6}}})
    );
    post_yaml(
        &server,
        &zeuz
            .replace("name: yaml-zeuz", "name: yaml-zeuz-two")
            .replace("MinUnreservedPayloads: 4", "MinUnreservedPayloads: 8"),
    )
    .await
    .expect_invalid(&["autoscaling.policy.parameters.unreservedRooms.max"]);
}

/// The rooms API as a game room sees it: a room created by the health controller pings with its
/// token; success is Maestro's `{"success": true}`; an impossible change is a 409
/// `INVALID_STATUS_TRANSITION` naming both statuses and changing nothing; a status only the
/// orchestrator sets is an invalid `status`.
async fn room_pings_answer_success_and_name_refused_transitions(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.health_tick_ms = 200).await;
    let admin = server.admin();
    let name = "pinging";
    admin
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": "rooms", "roomsReplicas": 1,
                "portRange": {"start": 42300, "end": 42400},
                "spec": {"terminationGracePeriod": "2s", "containers": [{
                    "name": "game", "image": "example", "command": ["sleep", "30"],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    let rooms = common::rooms::wait_for(
        &server,
        name,
        "a room",
        std::time::Duration::from_secs(20),
        |rooms| rooms.len() == 1,
    )
    .await;
    let room = rooms[0]["id"].as_str().unwrap().to_string();
    let secret = server
        .db
        .store()
        .await
        .setting_or_insert("room_token_secret", || unreachable!("the server made it"))
        .await
        .unwrap();
    let tokens = server::room_tokens::RoomTokens::new(secret);
    let token = tokens.issue(name, &room);
    let path = format!("/scheduler/{name}/rooms/{room}/ping");
    let ping = |body: Value| {
        send(
            server
                .anonymous()
                .request(Method::PUT, &path)
                .bearer_auth(&token)
                .json(&body),
        )
    };
    let status = || async {
        common::rooms::rooms(&server, name).await[0]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };

    for reported in ["ready", "occupied", "ready", "terminating"] {
        let reply = ping(json!({"status": reported, "timestamp": "12312312313"})).await;
        assert_eq!(reply.ok(), &json!({"success": true}), "{reported}");
        assert_eq!(reply.headers["content-type"], "application/json");
        assert_eq!(status().await, reported);
    }

    let refused = ping(json!({"status": "ready"})).await;
    refused.expect_error(StatusCode::CONFLICT, "INVALID_STATUS_TRANSITION");
    assert_eq!(
        refused.json["message"],
        "the room is terminating and cannot report ready: \
         a terminating room may only report terminating or terminated"
    );
    assert_eq!(status().await, "terminating");

    // Statuses only the orchestrator sets, whatever the room's status.
    for reported in ["pending", "error"] {
        ping(json!({"status": reported}))
            .await
            .expect_invalid(&["status"]);
    }
    assert_eq!(status().await, "terminating");
    ping(json!({"status": "terminated"})).await.ok();

    // Another room's token, or none (tokenless pings are off): 401; an unknown room: 404.
    send(
        server
            .anonymous()
            .request(Method::PUT, &path)
            .bearer_auth(server::room_tokens::RoomTokens::new("other").issue(name, &room))
            .json(&json!({"status": "terminated"})),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    server
        .anonymous()
        .put(&path, &json!({"status": "terminated"}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let unknown_token = tokens.issue(name, "no-such-room");
    send(
        server
            .anonymous()
            .request(
                Method::PUT,
                &format!("/scheduler/{name}/rooms/no-such-room/ping"),
            )
            .bearer_auth(unknown_token)
            .json(&json!({"status": "ready"})),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    admin.delete(&format!("/schedulers/{name}")).await.ok();
}
