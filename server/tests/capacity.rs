//! The capacity section of a scheduler (zeuz's allocation model) over the API, black box.

#[macro_use]
mod common;

use std::time::Duration;

use app::domain::user::Role;
use common::{Backend, TestServer, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_databases!(
    a_capacity_section_round_trips_in_zeuz_or_baton_spelling,
    a_bad_capacity_section_is_refused_with_its_field_paths,
    zeuz_documents_create_and_update_a_scheduler,
    bad_zeuz_documents_name_zeuz_fields,
    allocations_follow_the_scheduler_rights,
);

/// The seed's `ScalingRules` (less `PayloadDef`) and `MachineMinSpec`, as zeuz writes them.
fn seed_capacity_zeuz() -> Value {
    json!({
        "MaxCloudMachines": 3, "MaxBareMetalMachines": 5,
        "PayloadQuota": {"CpuCores": 1, "MemoryMB": 1024, "StorageGB": 50,
            "IOBandwidthMBps": 200, "InetBandwidthMBps": 10},
        "MinUnreservedPayloads": 4, "MaxUnreservedPayloads": 6,
        "MinFreePayloadCapacity": 4, "MaxFreePayloadCapacity": 8,
        "SafetyLimits": {"CoreMaxUsageThreshold": 0, "CpuRemainingCores": 1,
            "MemoryMBFree": 2048, "StorageGBFree": 100, "IOMBpsFree": 500, "InetMBpsFree": 20},
        "EnableScaling": true, "ManagePayloads": true,
        "MachineMinSpec": {"OS": "linux", "OSVersion": "Ubuntu 16.04*", "CoreCount": 4,
            "CoreMhz": 3000, "MemoryMB": 16384, "StorageGB": 500,
            "IOBandwidthMBps": 3000, "InetBandwidthMBps": 100}
    })
}

/// The same in Baton's camelCase, as the API answers it.
fn seed_capacity_baton() -> Value {
    json!({
        "maxCloudMachines": 3, "maxBareMetalMachines": 5,
        "payloadQuota": {"cpuCores": 1.0, "memoryMB": 1024, "storageGB": 50,
            "ioBandwidthMBps": 200, "inetBandwidthMBps": 10},
        "minUnreservedPayloads": 4, "maxUnreservedPayloads": 6,
        "minFreePayloadCapacity": 4, "maxFreePayloadCapacity": 8,
        "safetyLimits": {"coreMaxUsageThreshold": 0.0, "cpuRemainingCores": 1.0,
            "memoryMBFree": 2048, "storageGBFree": 100, "ioMBpsFree": 500, "inetMBpsFree": 20},
        "enableScaling": true, "managePayloads": true,
        "machineMinSpec": {"os": "linux", "osVersion": "Ubuntu 16.04*", "coreCount": 4,
            "coreMhz": 3000, "memoryMB": 16384, "storageGB": 500,
            "ioBandwidthMBps": 3000, "inetBandwidthMBps": 100}
    })
}

fn with_capacity(name: &str, capacity: Value) -> Value {
    let mut body = seed(name, "zeuz-game");
    body["capacity"] = capacity;
    body
}

async fn a_capacity_section_round_trips_in_zeuz_or_baton_spelling(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    let created = admin
        .post("/schedulers", &with_capacity("zeuz", seed_capacity_zeuz()))
        .await;
    assert_eq!(created.ok()["scheduler"]["capacity"], seed_capacity_baton());

    let read = admin.get("/schedulers/zeuz").await;
    assert_eq!(read.ok()["scheduler"]["capacity"], seed_capacity_baton());

    // The same section in Baton's spelling is the same configuration: nothing to change.
    let again = admin
        .post(
            "/schedulers/zeuz",
            &with_capacity("zeuz", seed_capacity_baton()),
        )
        .await;
    assert!(again.ok().get("operationId").is_none(), "{}", again.text);

    // A scheduler without one answers none.
    admin
        .post("/schedulers", &seed("plain", "zeuz-game"))
        .await
        .ok();
    let plain = admin.get("/schedulers/plain").await;
    assert!(plain.ok()["scheduler"].get("capacity").is_none());
}

async fn a_bad_capacity_section_is_refused_with_its_field_paths(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    let mut bad = seed_capacity_zeuz();
    bad["PayloadQuota"]["CpuCores"] = json!(0);
    bad["SafetyLimits"]["CoreMaxUsageThreshold"] = json!(150);
    bad["MachineMinSpec"]["OSVersion"] = json!("Ubuntu 16.04*; rm -rf /");
    bad["MinFreePayloadCapacity"] = json!(10);
    admin
        .post("/schedulers", &with_capacity("zeuz", bad))
        .await
        .expect_invalid(&[
            "capacity.payloadQuota.cpuCores",
            "capacity.safetyLimits.coreMaxUsageThreshold",
            "capacity.machineMinSpec.osVersion",
            "capacity.maxFreePayloadCapacity",
        ]);
    // A machine of the minimum spec must hold a payload when machines are to be asked for.
    let mut small = seed_capacity_baton();
    small["machineMinSpec"]["coreCount"] = json!(1);
    admin
        .post("/schedulers", &with_capacity("zeuz", small))
        .await
        .expect_invalid(&["capacity.machineMinSpec"]);
    // A value of the wrong type is named where it is.
    let mut typo = seed_capacity_zeuz();
    typo["PayloadQuota"]["MemoryMB"] = json!("lots");
    let reply = admin
        .post("/schedulers", &with_capacity("zeuz", typo))
        .await;
    reply.expect_error(reqwest::StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let field = reply.json["errors"][0]["field"]
        .as_str()
        .unwrap_or_default();
    assert!(
        field.starts_with("capacity.") && field.contains("MemoryMB"),
        "{}",
        reply.text
    );
    // Nothing was stored.
    admin
        .get("/schedulers/zeuz")
        .await
        .expect(reqwest::StatusCode::NOT_FOUND);
}

/// The seed's example `AllocationDef`, with `Name` and `Game`.
fn seed_document(name: &str, game: &str) -> Value {
    let mut rules = seed_capacity_zeuz();
    let min_spec = rules
        .as_object_mut()
        .unwrap()
        .remove("MachineMinSpec")
        .unwrap();
    let object = rules.as_object_mut().unwrap();
    object.insert(
        "PayloadDef".into(),
        json!({"HostOS": "linux", "HostOSMinVersion": "Ubuntu 16.04*",
            "Image": "dockerregistry.zeuz.io:6999/path/to/image:latest", "Cmd": [],
            "Ports": [{"Name": "HTTP", "Port": 80}]}),
    );
    object.insert("UseMetrics".into(), json!(false));
    object.insert("CapEvalTimeFrame".into(), json!(0));
    object.insert("BlockedConditions".into(), Value::Null);
    object.insert("IdleConditions".into(), Value::Null);
    json!({"Name": name, "Game": game, "Regions": SEED_REGIONS,
        "ScalingRules": rules, "MachineMinSpec": min_spec})
}

/// The seed's region ids, unmasked (it prints them as `cRswsCn***`, which is no region name).
const SEED_REGIONS: [&str; 2] = ["cRswsCn", "odemlBg"];

/// A server whose runtimes serve the seed's regions (two local runtimes).
async fn zeuz_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |config| {
        common::use_runtimes_file(
            config,
            "[[runtime]]\nname = \"a\"\nregion = \"cRswsCn\"\nkind = \"local\"\n\
             [[runtime]]\nname = \"b\"\nregion = \"odemlBg\"\nkind = \"local\"\n",
        )
    })
    .await
}

fn not_mapped(reply: &Value) -> Vec<String> {
    reply["notMapped"]
        .as_array()
        .expect("a notMapped list")
        .iter()
        .map(|n| n["field"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn zeuz_documents_create_and_update_a_scheduler(backend: Backend) {
    let server = zeuz_server(backend).await;
    let admin = server.admin();
    let created = admin
        .post(
            "/allocations?wait=10s",
            &seed_document("zeuz-example", "zeuz-game"),
        )
        .await;
    let body = created.ok();
    assert_eq!(body["created"], true);
    assert!(body["operationId"].is_string(), "{}", created.text);
    // With `?wait=`, the answer carries the operation as it ended.
    assert_eq!(body["operation"]["status"], "finished", "{}", created.text);
    assert_eq!(body["operation"]["definitionName"], "create_scheduler");
    assert_eq!(not_mapped(body), ["ScalingRules.PayloadDef.Ports[0].Name"]);
    let allocation = &body["allocation"];
    assert_eq!(allocation["Name"], "zeuz-example");
    assert_eq!(allocation["ScalingRules"]["PayloadQuota"]["MemoryMB"], 1024);
    assert_eq!(allocation["MachineMinSpec"]["OSVersion"], "Ubuntu 16.04*");

    // The scheduler it made: the payload is the room, the quota its requests.
    let scheduler = admin.get("/schedulers/zeuz-example").await;
    let scheduler = &scheduler.ok()["scheduler"];
    assert_eq!(scheduler["game"], "zeuz-game");
    assert_eq!(scheduler["capacity"], seed_capacity_baton());
    let container = &scheduler["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "dockerregistry.zeuz.io:6999/path/to/image:latest"
    );
    assert_eq!(container["ports"][0]["port"], 80);
    assert_eq!(
        container["requests"],
        json!({"cpu": "1000m", "memory": "1024Mi"})
    );
    assert_eq!(
        scheduler["autoscaling"]["policy"]["parameters"]["unreservedRooms"],
        json!({"min": 4, "max": 6})
    );

    // Read back in zeuz's shape.
    let read = admin.get("/allocations/zeuz-example").await;
    let read = read.ok();
    assert_eq!(read, allocation);
    assert_eq!(read["ScalingRules"]["MaxBareMetalMachines"], 5);
    assert_eq!(read["ScalingRules"]["SafetyLimits"]["IOMBpsFree"], 500);
    assert_eq!(
        read["ScalingRules"]["PayloadDef"]["Image"],
        container["image"]
    );
    // zeuz's regions are the scheduler's, weight 1 each, and answered back.
    assert_eq!(read["Regions"], json!(SEED_REGIONS));
    assert_eq!(
        scheduler["regions"],
        json!([{"name": "cRswsCn", "weight": 1}, {"name": "odemlBg", "weight": 1}])
    );

    // The same document again changes nothing; another one is the next version.
    let same = admin
        .post(
            "/allocations?wait=10s",
            &seed_document("zeuz-example", "zeuz-game"),
        )
        .await;
    assert_eq!(same.ok()["created"], false);
    assert!(same.ok().get("operationId").is_none(), "{}", same.text);
    let mut wider = seed_document("zeuz-example", "zeuz-game");
    wider["ScalingRules"]["MaxFreePayloadCapacity"] = json!(12);
    let updated = admin.post("/allocations?wait=10s", &wider).await;
    assert_eq!(updated.ok()["created"], false);
    assert!(updated.ok()["operationId"].is_string(), "{}", updated.text);
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = admin.get("/allocations/zeuz-example").await.ok().clone();
        if seen["ScalingRules"]["MaxFreePayloadCapacity"] == 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen["ScalingRules"]["MaxFreePayloadCapacity"], 12, "{seen}");
    let versions = admin.get("/schedulers/zeuz-example/versions").await;
    assert_eq!(versions.ok()["versions"].as_array().map(Vec::len), Some(2));

    // A scheduler without a capacity section is no allocation.
    admin
        .post("/schedulers", &seed("plain", "zeuz-game"))
        .await
        .ok();
    admin
        .get("/allocations/plain")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn bad_zeuz_documents_name_zeuz_fields(backend: Backend) {
    let server = zeuz_server(backend).await;
    let admin = server.admin();
    let mut bad = seed_document("zeuz-example", "zeuz-game");
    bad["ScalingRules"]["PayloadQuota"]["CpuCores"] = json!(0);
    bad["ScalingRules"]["MaxUnreservedPayloads"] = json!(2);
    bad["ScalingRules"]["PayloadDef"]["Image"] = json!("");
    bad["MachineMinSpec"]["OSVersion"] = json!("16.04 | rm");
    admin.post("/allocations", &bad).await.expect_invalid(&[
        "ScalingRules.PayloadDef.Image",
        "ScalingRules.MaxUnreservedPayloads",
        "ScalingRules.PayloadQuota.CpuCores",
        "MachineMinSpec.OSVersion",
    ]);
    // Regions no runtime serves, or masked ids: refused on zeuz's path, nothing stored.
    let mut elsewhere = seed_document("zeuz-example", "zeuz-game");
    elsewhere["Regions"] = json!(["cRswsCn", "mars"]);
    let refused = admin.post("/allocations", &elsewhere).await;
    refused.expect_invalid(&["Regions[1]"]);
    let message = refused.json["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("mars") && message.contains("odemlBg"),
        "{message}"
    );
    let mut masked = seed_document("zeuz-example", "zeuz-game");
    masked["Regions"] = json!(["cRswsCn***", "odemlBg***"]);
    admin
        .post("/allocations", &masked)
        .await
        .expect_invalid(&["Regions[0]", "Regions[1]"]);
    let mut nameless = seed_document("", "zeuz-game");
    nameless.as_object_mut().unwrap().remove("Name");
    admin
        .post("/allocations", &nameless)
        .await
        .expect_invalid(&["Name"]);
    admin
        .get("/allocations/zeuz-example")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn allocations_follow_the_scheduler_rights(backend: Backend) {
    let server = zeuz_server(backend).await;
    let document = seed_document("zeuz-example", "zeuz-game");
    let anonymous = server.anonymous();
    anonymous
        .post("/allocations", &document)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    server.admin().post("/allocations", &document).await.ok();
    anonymous
        .get("/allocations/zeuz-example")
        .await
        .expect(StatusCode::UNAUTHORIZED);

    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["zeuz-game"])
        .await;
    let viewer = server.user("viewer", "viewer-password");
    viewer.get("/allocations/zeuz-example").await.ok();
    let mut changed = document.clone();
    changed["ScalingRules"]["MaxCloudMachines"] = json!(9);
    viewer
        .post("/allocations", &changed)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");

    server
        .create_user("other", "other-password", Role::Editor, &["other-game"])
        .await;
    let other = server.user("other", "other-password");
    other
        .get("/allocations/zeuz-example")
        .await
        .expect(StatusCode::NOT_FOUND);
    let mut elsewhere = seed_document("their-allocation", "zeuz-game");
    elsewhere["ScalingRules"]["MaxCloudMachines"] = json!(1);
    other
        .post("/allocations", &elsewhere)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    // Nothing changed.
    let read = server.admin().get("/allocations/zeuz-example").await;
    assert_eq!(read.ok()["ScalingRules"]["MaxCloudMachines"], 3);

    // Both paths and the scheduler's section are documented.
    let reply = server.anonymous().get("/openapi.json").await;
    let document = reply.ok();
    assert!(document["paths"]["/allocations"]["post"].is_object());
    assert!(document["paths"]["/allocations/{name}"]["get"].is_object());
    let schemas = &document["components"]["schemas"];
    assert!(schemas["SchedulerConfig"]["properties"]["capacity"].is_object());
    assert!(schemas["Capacity"]["properties"]["payloadQuota"].is_object());
}
