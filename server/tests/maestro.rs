//! Maestro v10 compatibility, black box over HTTP: documents that rely on Maestro's defaults are
//! accepted with those defaults, every response answers every field of Maestro's shapes, PATCH
//! is a JSON merge patch (RFC 7386), and the scheduler's state tells rooms that keep crashing.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::rooms::{example_room, ids_with_status, wait_for};
use common::{Backend, TestServer, seed};
use serde_json::{Value, json};

on_both_backends!(
    maestro_documents_are_accepted_with_maestros_defaults,
    responses_answer_every_field_of_maestros_shapes,
    patch_is_a_json_merge_patch,
);

/// A scheduler as Maestro v10's documentation writes one, leaving out every field Maestro makes
/// optional or gives a default: `enabled`, `downThreshold`, `cooldown`, `matchAllocation`,
/// `restartPolicy`, a forwarder's `enable` and `options`; `hostPort: 0` and a timeout in a
/// string, as Maestro answers them.
fn maestro_document(name: &str) -> Value {
    json!({
        "name": name,
        "game": "maestro-game",
        "maxSurge": "30%",
        "portRange": {"start": 40000, "end": 60000},
        "annotations": {"imageregistry": "https://dockerhub.com/"},
        "spec": {
            "terminationGracePeriod": "100s",
            "containers": [{
                "name": "alpine",
                "image": "alpine",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", "sleep 1"],
                "environment": [
                    {"name": "env-var-name", "value": "env-var-value"},
                    {"name": "env-var-field-ref", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
                ],
                "requests": {"memory": "20Mi", "cpu": "100m"},
                "limits": {"memory": "200Mi", "cpu": "200m"},
                "ports": [{"name": "port-name", "protocol": "tcp", "port": 12345, "hostPort": 0}]
            }],
            "toleration": "maestro",
            "affinity": "maestro-dedicated"
        },
        "forwarders": [
            {"name": "test", "type": "gRPC", "address": "forwarder.example.com:8080"},
            {"name": "timed", "enable": true, "type": "gRPC", "address": "forwarder.example.com:8080",
             "options": {"timeout": "1000", "metadata": {}}}
        ],
        "autoscaling": {
            "min": 1,
            "max": -1,
            "policy": {"type": "roomOccupancy", "parameters": {"roomOccupancy": {"readyTarget": 0.5}}}
        }
    })
}

async fn maestro_documents_are_accepted_with_maestros_defaults(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    let created = admin
        .post("/schedulers", &maestro_document("maestro-defaults"))
        .await;
    let scheduler = &created.ok()["scheduler"];
    assert_eq!(
        scheduler["autoscaling"],
        json!({
            "enabled": false,
            "min": 1,
            "max": -1,
            "cooldown": 0,
            "policy": {"type": "roomOccupancy",
                "parameters": {"roomOccupancy": {"readyTarget": 0.5, "downThreshold": 0.99}}}
        })
    );
    assert_eq!(scheduler["matchAllocation"], json!({"maxMatches": 1}));
    assert_eq!(scheduler["spec"]["restartPolicy"], "Never");
    assert_eq!(
        scheduler["spec"]["containers"][0]["ports"][0]["hostPort"],
        0
    );
    assert_eq!(
        scheduler["forwarders"],
        json!([
            {"name": "test", "enable": false, "type": "gRPC", "address": "forwarder.example.com:8080",
             "options": {"timeout": 1000, "metadata": {}}},
            {"name": "timed", "enable": true, "type": "gRPC", "address": "forwarder.example.com:8080",
             "options": {"timeout": 1000, "metadata": {}}}
        ])
    );
    let stored = admin.get("/schedulers/maestro-defaults").await;
    assert_eq!(&stored.ok()["scheduler"], scheduler);

    // The case: Baton's flat parameters without downThreshold; and fixedBuffer in
    // Maestro's form, without `enabled`.
    let mut flat = seed("flat-occupancy", "maestro-game");
    flat["autoscaling"] = json!({"enabled": true, "min": 1, "max": 10,
        "policy": {"type": "roomOccupancy", "parameters": {"readyTarget": 0.3}}});
    let reply = admin.post("/schedulers", &flat).await;
    assert_eq!(
        reply.ok()["scheduler"]["autoscaling"]["policy"]["parameters"],
        json!({"roomOccupancy": {"readyTarget": 0.3, "downThreshold": 0.99}})
    );
    let mut buffered = seed("fixed-buffer", "maestro-game");
    buffered["autoscaling"] = json!({"min": 2, "max": 20,
        "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 3}}}});
    let reply = admin.post("/schedulers", &buffered).await;
    assert_eq!(
        reply.ok()["scheduler"]["autoscaling"],
        json!({"enabled": false, "min": 2, "max": 20, "cooldown": 0,
            "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 3}}}})
    );
    // zeuz's unreserved-payload rule: free rooms between min and max.
    let mut unreserved = seed("unreserved-rooms", "maestro-game");
    unreserved["autoscaling"] = json!({"enabled": true, "min": 1, "max": 20,
        "policy": {"type": "unreservedRooms", "parameters": {"unreservedRooms": {"min": 2, "max": 5}}}});
    let reply = admin.post("/schedulers", &unreserved).await;
    assert_eq!(
        reply.ok()["scheduler"]["autoscaling"],
        json!({"enabled": true, "min": 1, "max": 20, "cooldown": 0,
            "policy": {"type": "unreservedRooms", "parameters": {"unreservedRooms": {"min": 2, "max": 5}}}})
    );
    unreserved["name"] = json!("unreserved-rooms-two");
    unreserved["autoscaling"]["policy"]["parameters"] = json!({"unreservedRooms": {"max": -1}});
    admin
        .post("/schedulers", &unreserved)
        .await
        .expect_invalid(&[
            "autoscaling.policy.parameters.unreservedRooms.min",
            "autoscaling.policy.parameters.unreservedRooms.max",
        ]);

    // A scheduler as GET answers it, posted back as a new version, changes nothing.
    let reply = admin
        .post("/schedulers/maestro-defaults", &stored.json["scheduler"])
        .await;
    assert_eq!(reply.ok()["scheduler"]["version"], "v1");

    // Maestro's per-port host port ranges are refused by name, not ignored.
    let mut per_port = maestro_document("per-port");
    per_port.as_object_mut().unwrap().remove("portRange");
    per_port["spec"]["containers"][0]["ports"][0]["hostPortRange"] =
        json!({"start": 40000, "end": 41000});
    admin
        .post("/schedulers", &per_port)
        .await
        .expect_invalid(&["spec.containers[0].ports[0].hostPortRange"]);
}

/// Checks that `object` has exactly these keys.
#[track_caller]
fn assert_keys(object: &Value, keys: &[&str]) {
    let mut found: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    found.sort_unstable();
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(found, expected, "in {object}");
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

/// The seed scheduler as every response answers it at `version`.
fn answered_seed(name: &str, version: &str, state: &str, created_at: &Value) -> Value {
    json!({
        "name": name,
        "game": "shapes",
        "state": state,
        "version": version,
        "portRange": {"start": 20000, "end": 21000},
        "createdAt": created_at,
        "maxSurge": "10%",
        "roomsReplicas": 1,
        "spec": {
            "version": version,
            "terminationGracePeriod": "100s",
            "containers": [{
                "name": "game-container",
                "image": "registry.example.com/game:1.0.0",
                "imagePullPolicy": "IfNotPresent",
                "command": [],
                "environment": [{"name": "EXAMPLE_NAME", "value": "EXAMPLE_VALUE"}],
                "requests": {"memory": "100Mi", "cpu": "100m"},
                "limits": {"memory": "200Mi", "cpu": "200m"},
                "ports": [{"name": "port-name", "protocol": "tcp", "port": 12345, "hostPort": 0}]
            }],
            "toleration": "",
            "affinity": "",
            "restartPolicy": "Never"
        },
        "forwarders": [],
        "annotations": {},
        "labels": {},
        "matchAllocation": {"maxMatches": 1}
    })
}

#[track_caller]
fn assert_operation_id(reply: &Value) {
    assert!(
        reply["operationId"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "no operationId in {reply}"
    );
}

async fn responses_answer_every_field_of_maestros_shapes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();

    // POST /schedulers: Maestro's {scheduler}, and the operation that brings its rooms up;
    // with `?wait=` (the harness's default), the operation as it ended too.
    let queued = admin
        .clone()
        .queued()
        .post("/schedulers", &seed("queued", "elsewhere"))
        .await;
    assert_keys(queued.ok(), &["operationId", "scheduler"]);
    let created = admin.post("/schedulers", &seed("shaped", "shapes")).await;
    assert_keys(created.ok(), &["operationId", "operation", "scheduler"]);
    assert_eq!(created.json["operation"]["status"], "finished");
    let created_at = created.json["scheduler"]["createdAt"].clone();
    assert!(is_rfc3339(&created_at), "{created_at}");
    assert_eq!(
        created.json["scheduler"],
        answered_seed("shaped", "v1", "creating", &created_at)
    );

    // GET /schedulers/{name}: the active version in spec.version, as Maestro's clients read it.
    let got = admin.get("/schedulers/shaped").await;
    assert_keys(got.ok(), &["scheduler"]);
    assert_eq!(
        got.json["scheduler"],
        answered_seed("shaped", "v1", "creating", &created_at)
    );

    // POST, PATCH and PUT /schedulers/{name}: {operationId, scheduler}.
    let mut v2 = seed("shaped", "shapes");
    v2["spec"]["toleration"] = json!("pool");
    let posted = admin.post("/schedulers/shaped", &v2).await;
    assert_keys(posted.ok(), &["operationId", "operation", "scheduler"]);
    assert_operation_id(&posted.json);
    assert_eq!(posted.json["scheduler"]["version"], "v2");
    assert_eq!(posted.json["scheduler"]["spec"]["version"], "v2");
    assert_eq!(posted.json["scheduler"]["spec"]["toleration"], "pool");
    let patched = admin
        .patch("/schedulers/shaped", &json!({"roomsReplicas": 2}))
        .await;
    assert_keys(patched.ok(), &["operationId", "operation", "scheduler"]);
    assert_operation_id(&patched.json);
    assert_eq!(patched.json["scheduler"]["spec"]["version"], "v2.1");
    assert_ne!(patched.json["operationId"], posted.json["operationId"]);
    let switched = admin
        .put("/schedulers/shaped", &json!({"version": "v1"}))
        .await;
    assert_keys(switched.ok(), &["operationId", "operation", "scheduler"]);
    assert_operation_id(&switched.json);
    let mut expected = answered_seed("shaped", "v1", "pending-sync", &created_at);
    expected["createdAt"] = switched.json["scheduler"]["createdAt"].clone();
    assert_eq!(switched.json["scheduler"], expected);
    let got = admin.get("/schedulers/shaped?version=v2").await;
    assert_eq!(got.ok()["scheduler"]["spec"]["version"], "v2");

    // GET /schedulers: Maestro's list item (no spec), with the match allocation.
    let mut fixed_ports = seed("fixed-ports", "shapes");
    fixed_ports.as_object_mut().unwrap().remove("portRange");
    fixed_ports["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(7000);
    let fixed = admin.post("/schedulers", &fixed_ports).await;
    assert_eq!(fixed.ok()["scheduler"]["portRange"], Value::Null);
    assert_keys(
        &fixed.json["scheduler"],
        &[
            "name",
            "game",
            "state",
            "version",
            "portRange",
            "createdAt",
            "maxSurge",
            "roomsReplicas",
            "spec",
            "forwarders",
            "annotations",
            "labels",
            "matchAllocation",
        ],
    );
    let list = admin.get("/schedulers?game=shapes").await;
    let items = list.ok()["schedulers"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{}", list.text);
    for item in &items {
        assert_keys(
            item,
            &[
                "name",
                "game",
                "state",
                "version",
                "portRange",
                "createdAt",
                "maxSurge",
                "roomsReplicas",
                "matchAllocation",
            ],
        );
        assert!(is_rfc3339(&item["createdAt"]));
        assert_eq!(item["matchAllocation"], json!({"maxMatches": 1}));
    }
    let shaped = items.iter().find(|i| i["name"] == "shaped").unwrap();
    assert_eq!(shaped["version"], "v1");
    assert_eq!(shaped["state"], "pending-sync");
    assert_eq!(shaped["portRange"], json!({"start": 20000, "end": 21000}));
    assert_eq!(shaped["maxSurge"], "10%");
    assert_eq!(shaped["roomsReplicas"], 1);
    let fixed_item = items.iter().find(|i| i["name"] == "fixed-ports").unwrap();
    assert_eq!(fixed_item["portRange"], Value::Null);

    // GET /schedulers/{name}/versions.
    let versions = admin.get("/schedulers/shaped/versions").await;
    assert_keys(versions.ok(), &["versions"]);
    for version in versions.json["versions"].as_array().unwrap() {
        assert_keys(version, &["version", "isActive", "createdAt"]);
        assert!(is_rfc3339(&version["createdAt"]));
    }

    // GET /schedulers/info: Maestro's autoscaling info, null without autoscaling.
    admin
        .patch(
            "/schedulers/fixed-ports",
            &json!({"autoscaling": {"enabled": true, "min": 1, "max": 4, "cooldown": 30,
                "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 1}}}}}),
        )
        .await
        .ok();
    let info = admin.get("/schedulers/info?game=shapes").await;
    let infos = info.ok()["schedulers"].as_array().unwrap();
    let by_name = |name: &str| infos.iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(
        by_name("shaped"),
        json!({"name": "shaped", "game": "shapes", "state": "pending-sync", "roomsReplicas": 1,
            "roomsReady": 0, "roomsOccupied": 0, "roomsPending": 0, "roomsTerminating": 0,
            "autoscaling": null, "matchAllocation": {"maxMatches": 1},
            // Baton's addition: rooms and health per region.
            "regions": [{"region": "default", "listed": true, "weight": 1, "reachable": true,
                "desired": 0, "rooms": {"pending": 0, "unready": 0, "ready": 0, "occupied": 0,
                "terminating": 0, "error": 0}}]})
    );
    assert_eq!(
        by_name("fixed-ports")["autoscaling"],
        json!({"enabled": true, "min": 1, "max": 4, "cooldown": 30})
    );

    // DELETE answers an operation id too.
    let deleted = admin.delete("/schedulers/shaped").await;
    assert_keys(deleted.ok(), &["operationId", "operation", "scheduler"]);
    assert_operation_id(&deleted.json);
}

async fn patch_is_a_json_merge_patch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    admin
        .post("/schedulers", &seed("merged", "merge"))
        .await
        .ok();

    // A patch object for an absent key is merged into {}: its nulls remove, never stay.
    let reply = admin
        .patch(
            "/schedulers/merged",
            &json!({
                "autoscaling": {"enabled": null, "min": 1, "max": 5, "cooldown": null,
                    "policy": {"type": "fixedBuffer",
                        "parameters": {"fixedBuffer": {"amount": 2}, "roomOccupancy": null}}},
                "spec": {"toleration": "pool", "affinity": null},
                "labels": {"team": "a", "gone": null}
            }),
        )
        .await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(
        scheduler["autoscaling"],
        json!({"enabled": false, "min": 1, "max": 5, "cooldown": 0,
            "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 2}}}})
    );
    assert_eq!(scheduler["spec"]["toleration"], "pool");
    assert_eq!(scheduler["labels"], json!({"team": "a"}));

    // null in a nested object removes that key only; the default applies again.
    let reply = admin
        .patch(
            "/schedulers/merged",
            &json!({"spec": {"toleration": null}, "labels": {"team": null}}),
        )
        .await;
    let scheduler = &reply.ok()["scheduler"];
    assert_eq!(scheduler["spec"]["toleration"], "");
    assert_eq!(scheduler["labels"], json!({}));
    assert_eq!(scheduler["spec"]["containers"][0]["name"], "game-container");
}

/// Rooms whose process exits at once put the scheduler `on-error`; once its rooms start fine
/// (same version), it is back in sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_rooms_put_the_scheduler_on_error_until_one_is_ready() {
    let server =
        TestServer::start_with(Backend::Sqlite, |config| config.health_tick_ms = 200).await;
    let admin = server.admin();
    let flag = std::env::temp_dir().join(format!("baton-start-{}", uuid::Uuid::new_v4()));
    let name = "crashing";
    let script = "test -f \"$START_FLAG\" && exec \"$ROOM\"; exit 1";
    admin
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": "crash", "roomsReplicas": 1, "maxSurge": "100%",
                "portRange": {"start": 42500, "end": 42600},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": ["sh", "-c", script],
                    "environment": [
                        {"name": "START_FLAG", "value": flag.to_string_lossy()},
                        {"name": "ROOM", "value": example_room().to_string_lossy()},
                        {"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}
                    ],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();

    let state = || async {
        admin.get(&format!("/schedulers/{name}")).await.ok()["scheduler"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let wait_state = |wanted: &'static str| {
        let state = &state;
        async move {
            let started = Instant::now();
            loop {
                let now = state().await;
                if now == wanted {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "waited 30s for {wanted}, the scheduler is {now}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_state("on-error").await;
    let info = admin.get("/schedulers/info?game=crash").await;
    assert_eq!(info.ok()["schedulers"][0]["state"], "on-error");
    let list = admin.get("/schedulers?game=crash").await;
    assert_eq!(list.ok()["schedulers"][0]["state"], "on-error");
    // It stays so while rooms keep crashing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(state().await, "on-error");

    std::fs::write(&flag, b"").unwrap();
    wait_for(
        &server,
        name,
        "a ready room",
        Duration::from_secs(30),
        |rooms| ids_with_status(rooms, "ready").len() == 1,
    )
    .await;
    wait_state("in-sync").await;
    let scheduler = admin.get(&format!("/schedulers/{name}")).await;
    assert_eq!(scheduler.ok()["scheduler"]["version"], "v1");

    admin.delete(&format!("/schedulers/{name}")).await.ok();
    let _ = std::fs::remove_file(&flag);
}
