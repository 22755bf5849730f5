//! The scheduler form's fields, as the dashboard sends them: through the save server function
//! into the stored scheduler (`GET /schedulers/{name}`), each bad value answered with its field
//! path, and the edit page rendering each field with its value. The real server, on SQLite,
//! with each room store.

#[macro_use]
mod common;

use common::browser::Browser;
use common::{ADMIN_PASSWORD, Backend, Reply, TestServer, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_room_stores!(
    every_field_of_the_form_round_trips_through_the_save_function,
    a_bad_value_in_a_form_field_is_answered_at_its_path,
    the_edit_page_shows_every_field_with_its_value,
    a_capacity_section_is_saved_read_back_and_switched_off,
    a_bad_capacity_field_is_answered_at_its_path_and_not_stored,
    the_edit_page_shows_the_capacity_section_with_its_values,
);

/// A capacity section with every field the form edits set (camelCase, as the form sends it;
/// fractions written as such, as the API answers them).
fn every_capacity_field() -> Value {
    json!({
        "payloadQuota": {"cpuCores": 0.5, "memoryMB": 1024, "storageGB": 50,
            "ioBandwidthMBps": 200, "inetBandwidthMBps": 10},
        "safetyLimits": {"coreMaxUsageThreshold": 75.5, "cpuRemainingCores": 1.5,
            "memoryMBFree": 2048, "storageGBFree": 100, "ioMBpsFree": 500, "inetMBpsFree": 20},
        "machineMinSpec": {"os": "linux", "osVersion": "Ubuntu 16.04*", "coreCount": 4,
            "coreMhz": 3000, "memoryMB": 16384, "storageGB": 500,
            "ioBandwidthMBps": 3000, "inetBandwidthMBps": 100},
        "maxCloudMachines": 3, "maxBareMetalMachines": 5,
        "minFreePayloadCapacity": 4, "maxFreePayloadCapacity": 8,
        "enableScaling": true, "managePayloads": true,
        "minUnreservedPayloads": 2, "maxUnreservedPayloads": 6
    })
}

/// The seed with every field the form and its JSON view edit beyond the seed's.
fn full(name: &str) -> Value {
    let mut config = seed(name, "g1");
    config["labels"] = json!({"team": "blue", "app.kubernetes.io/part-of": "arena"});
    config["annotations"] = json!({"example.com/owner": "games@example.com"});
    config["roomTimeouts"] = json!({"initialization": "2m", "ping": "45s", "termination": "20s"});
    config["matchAllocation"] = json!({"maxMatches": 3});
    config["allowTokenlessPings"] = json!(true);
    config["forwarders"] = json!([
        {"name": "matchmaker", "enable": true, "type": "http",
         "address": "http://127.0.0.1:9/events",
         "options": {"timeout": 250, "metadata": {"roomType": "red", "tier": "3"}}},
        {"name": "legacy", "enable": false, "type": "gRPC", "address": "forwarder:8080",
         "options": {"timeout": 1000, "metadata": {}}}
    ]);
    config["regions"] = json!([{"name": "default", "weight": 2}]);
    config["capacity"] = json!({"payloadQuota": {"cpuCores": 0.5, "memoryMB": 256},
        "minUnreservedPayloads": 1, "maxUnreservedPayloads": 3});
    config
}

async fn save(browser: &mut Browser<'_>, config: &Value, create: bool) -> Reply {
    browser
        .call_json(
            "save_scheduler",
            &json!({"config": config, "create": create}),
        )
        .await
}

async fn stored(server: &TestServer, name: &str) -> Value {
    server
        .admin()
        .get(&format!("/schedulers/{name}"))
        .await
        .ok()["scheduler"]
        .clone()
}

#[track_caller]
fn assert_fields(reply: &Reply, expected: &[&str]) {
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "body: {}",
        reply.text
    );
    let fields: Vec<&str> = reply.json["Invalid"]
        .as_array()
        .unwrap_or_else(|| panic!("not Invalid: {}", reply.text))
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(fields, expected, "body: {}", reply.text);
}

async fn every_field_of_the_form_round_trips_through_the_save_function(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let config = full("full");
    assert_eq!(save(&mut admin, &config, true).await.ok(), "v1");
    let got = stored(&server, "full").await;
    for key in [
        "labels",
        "annotations",
        "roomTimeouts",
        "matchAllocation",
        "allowTokenlessPings",
        "forwarders",
        "regions",
    ] {
        assert_eq!(got[key], config[key], "{key} in {got}");
    }
    assert_eq!(got["capacity"]["payloadQuota"]["cpuCores"], 0.5, "{got}");
    assert_eq!(got["capacity"]["maxUnreservedPayloads"], 3, "{got}");

    // A new version as the form sends it after an edit: a label removed, one added, a
    // forwarder's metadata and type changed, a timeout cleared, tokenless pings off.
    let mut edited = got.clone();
    for key in ["state", "version", "createdAt"] {
        edited.as_object_mut().unwrap().remove(key);
    }
    edited["labels"] = json!({"team": "red", "tier": "gold"});
    edited["forwarders"][1]["type"] = json!("http");
    edited["forwarders"][1]["address"] = json!("https://example.com/hook");
    edited["forwarders"][0]["options"]["metadata"] = json!({"roomType": "blue"});
    edited["roomTimeouts"] = json!({"ping": "1m"});
    edited["allowTokenlessPings"] = json!(false);
    edited["matchAllocation"]["maxMatches"] = json!(1);
    let version = save(&mut admin, &edited, false).await;
    assert!(
        version.ok().as_str().unwrap().starts_with('v'),
        "{}",
        version.text
    );
    let got = stored(&server, "full").await;
    assert_eq!(got["labels"], json!({"team": "red", "tier": "gold"}));
    assert_eq!(got["forwarders"][1]["type"], "http");
    assert_eq!(got["forwarders"][1]["address"], "https://example.com/hook");
    assert_eq!(
        got["forwarders"][0]["options"]["metadata"],
        json!({"roomType": "blue"})
    );
    assert_eq!(got["roomTimeouts"], json!({"ping": "1m"}));
    // Off is the default, which is left out of the answer.
    assert_ne!(got["allowTokenlessPings"], json!(true), "{got}");
    assert_eq!(got["matchAllocation"]["maxMatches"], 1);
    assert_eq!(got["capacity"], stored_capacity(&config), "{got}");
}

/// What the API answers for `config`'s capacity: the section as sent, zeros filled in.
fn stored_capacity(config: &Value) -> Value {
    let capacity: app::domain::capacity::Capacity =
        serde_json::from_value(config["capacity"].clone()).unwrap();
    serde_json::to_value(capacity).unwrap()
}

async fn a_bad_value_in_a_form_field_is_answered_at_its_path(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("labels", json!({"bad key": "x"}), "labels.bad key"),
        ("labels", json!({"team": "x".repeat(64)}), "labels.team"),
        ("annotations", json!({"/owner": "x"}), "annotations./owner"),
        ("roomTimeouts", json!({"ping": "soon"}), "roomTimeouts.ping"),
        (
            "matchAllocation",
            json!({"maxMatches": 0}),
            "matchAllocation.maxMatches",
        ),
        (
            "forwarders",
            json!([{"name": "f", "type": "kafka", "address": "a:1"}]),
            "forwarders[0].type",
        ),
        (
            "forwarders",
            json!([{"name": "f", "type": "http", "address": "mm:8080"}]),
            "forwarders[0].address",
        ),
        (
            "forwarders",
            json!([{"name": "", "type": "gRPC", "address": "a:1"}]),
            "forwarders[0].name",
        ),
        (
            "regions",
            json!([{"name": "default", "weight": 0}]),
            "regions[0].weight",
        ),
        (
            "capacity",
            json!({"payloadQuota": {"cpuCores": 0, "memoryMB": 256}}),
            "capacity.payloadQuota.cpuCores",
        ),
    ];
    for (key, value, field) in cases {
        let mut config = full("bad");
        config[key] = value;
        let reply = save(&mut admin, &config, true).await;
        assert_fields(&reply, &[field]);
    }
    // Nothing of it was stored.
    let reply = server.admin().get("/schedulers/bad").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);

    // The same for a new version of a stored scheduler.
    assert_eq!(save(&mut admin, &full("ok"), true).await.ok(), "v1");
    let mut config = full("ok");
    config["roomTimeouts"] = json!({"initialization": "0s"});
    config["labels"] = json!({"-team": "x"});
    let reply = save(&mut admin, &config, false).await;
    assert_fields(&reply, &["labels.-team", "roomTimeouts.initialization"]);
}

async fn the_edit_page_shows_every_field_with_its_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    assert_eq!(save(&mut admin, &full("shown"), true).await.ok(), "v1");
    let page = admin.get("/ui/schedulers/shown/edit").await;
    assert_eq!(page.status, StatusCode::OK);
    for expected in [
        // Labels in key order, each row a key and a value.
        r#"name="labels[0].key" value="app.kubernetes.io/part-of""#,
        r#"name="labels[1].key" value="team""#,
        r#"name="labels[1].value" value="blue""#,
        r#"name="annotations[0].key" value="example.com/owner""#,
        r#"name="roomTimeouts.initialization" value="2m""#,
        r#"name="roomTimeouts.ping" value="45s""#,
        r#"name="matchAllocation.maxMatches" value="3""#,
        r#"name="allowTokenlessPings" checked"#,
        r#"name="regions[0].name" value="default""#,
        r#"name="regions[0].weight" value="2""#,
        r#"name="forwarders[0].address" value="http://127.0.0.1:9/events""#,
        r#"<option value="http" selected"#,
        r#"name="forwarders[0].options.metadata[0].key" value="roomType""#,
        r#"name="forwarders[0].options.metadata[1].value" value="3""#,
        r#"<textarea name="json""#,
    ] {
        assert!(page.text.contains(expected), "{expected} in {}", page.text);
    }
    // The JSON view holds the whole scheduler, capacity included.
    assert!(
        page.text.contains("&quot;maxUnreservedPayloads&quot;: 3")
            || page.text.contains("\"maxUnreservedPayloads\": 3"),
        "{}",
        page.text
    );
}

async fn a_capacity_section_is_saved_read_back_and_switched_off(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let mut config = full("cap");
    config["capacity"] = every_capacity_field();
    assert_eq!(save(&mut admin, &config, true).await.ok(), "v1");
    let got = stored(&server, "cap").await;
    assert_eq!(got["capacity"], every_capacity_field(), "{got}");

    // A field changed in the form, then the section switched off: the form sends none.
    let mut edited = config.clone();
    edited["capacity"]["safetyLimits"]["cpuRemainingCores"] = json!(0.25);
    edited["capacity"]["maxCloudMachines"] = json!(7);
    let version = save(&mut admin, &edited, false).await;
    assert!(version.ok().as_str().is_some(), "{}", version.text);
    let got = stored(&server, "cap").await;
    assert_eq!(got["capacity"]["safetyLimits"]["cpuRemainingCores"], 0.25);
    assert_eq!(got["capacity"]["maxCloudMachines"], 7);
    assert_eq!(got["capacity"]["payloadQuota"]["cpuCores"], 0.5);
    edited.as_object_mut().unwrap().remove("capacity");
    let version = save(&mut admin, &edited, false).await;
    assert!(version.ok().as_str().is_some(), "{}", version.text);
    let got = stored(&server, "cap").await;
    assert!(got.get("capacity").is_none_or(Value::is_null), "{got}");
}

async fn a_bad_capacity_field_is_answered_at_its_path_and_not_stored(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/payloadQuota/memoryMB",
            json!(0),
            "capacity.payloadQuota.memoryMB",
        ),
        (
            "/safetyLimits/coreMaxUsageThreshold",
            json!(100.5),
            "capacity.safetyLimits.coreMaxUsageThreshold",
        ),
        (
            "/safetyLimits/cpuRemainingCores",
            json!(-0.5),
            "capacity.safetyLimits.cpuRemainingCores",
        ),
        (
            "/machineMinSpec/osVersion",
            json!("Ubuntu 16.04*; rm"),
            "capacity.machineMinSpec.osVersion",
        ),
        (
            "/machineMinSpec/os",
            json!("linux 64"),
            "capacity.machineMinSpec.os",
        ),
        (
            "/maxBareMetalMachines",
            json!(-1),
            "capacity.maxBareMetalMachines",
        ),
        (
            "/maxFreePayloadCapacity",
            json!(3),
            "capacity.maxFreePayloadCapacity",
        ),
        (
            "/maxUnreservedPayloads",
            json!(1),
            "capacity.maxUnreservedPayloads",
        ),
        // With scaling on, a machine of the minimum spec must hold one payload.
        (
            "/machineMinSpec/coreCount",
            json!(1),
            "capacity.machineMinSpec",
        ),
    ];
    assert_eq!(save(&mut admin, &full("kept"), true).await.ok(), "v1");
    let before = stored(&server, "kept").await;
    for (pointer, value, field) in cases {
        let mut capacity = every_capacity_field();
        *capacity.pointer_mut(pointer).unwrap() = value;
        let mut config = full("refused");
        config["capacity"] = capacity.clone();
        let reply = save(&mut admin, &config, true).await;
        assert_fields(&reply, &[field]);
        let reply = server.admin().get("/schedulers/refused").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
        // A new version of a stored scheduler is refused the same way, and nothing changes.
        let mut config = full("kept");
        config["capacity"] = capacity;
        let reply = save(&mut admin, &config, false).await;
        assert_fields(&reply, &[field]);
        assert_eq!(stored(&server, "kept").await, before);
    }
}

async fn the_edit_page_shows_the_capacity_section_with_its_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let mut config = full("with");
    config["capacity"] = every_capacity_field();
    assert_eq!(save(&mut admin, &config, true).await.ok(), "v1");
    let page = admin.get("/ui/schedulers/with/edit").await;
    assert_eq!(page.status, StatusCode::OK);
    for expected in [
        r#"name="capacity" checked"#,
        r#"name="capacity.payloadQuota.cpuCores" value="0.5""#,
        r#"name="capacity.payloadQuota.memoryMB" value="1024""#,
        r#"name="capacity.safetyLimits.coreMaxUsageThreshold" value="75.5""#,
        r#"name="capacity.safetyLimits.cpuRemainingCores" value="1.5""#,
        r#"name="capacity.safetyLimits.inetMBpsFree" value="20""#,
        r#"name="capacity.machineMinSpec.os" value="linux""#,
        r#"name="capacity.machineMinSpec.osVersion" value="Ubuntu 16.04*""#,
        r#"name="capacity.machineMinSpec.coreMhz" value="3000""#,
        r#"name="capacity.maxCloudMachines" value="3""#,
        r#"name="capacity.maxBareMetalMachines" value="5""#,
        r#"name="capacity.minFreePayloadCapacity" value="4""#,
        r#"name="capacity.maxFreePayloadCapacity" value="8""#,
        r#"name="capacity.enableScaling" checked"#,
        r#"name="capacity.managePayloads" checked"#,
        r#"name="capacity.minUnreservedPayloads" value="2""#,
        r#"name="capacity.maxUnreservedPayloads" value="6""#,
    ] {
        assert!(page.text.contains(expected), "{expected} in {}", page.text);
    }
    // Each input inside its label, after the label's text.
    for (label, name) in [
        ("Cores per payload", "capacity.payloadQuota.cpuCores"),
        (
            "Minimum spec: OS version",
            "capacity.machineMinSpec.osVersion",
        ),
        ("Enable machine scaling", "capacity.enableScaling"),
    ] {
        let input = page.text.find(&format!("name=\"{name}\"")).unwrap();
        let before = &page.text[..input];
        let opened = before.rfind("<label").unwrap();
        assert!(
            before[opened..].contains(label)
                || page.text[input..]
                    .split("</label>")
                    .next()
                    .unwrap()
                    .contains(label),
            "{label} labels {name}"
        );
    }

    // Without a capacity section the form has none, switched off.
    let mut config = full("without");
    config.as_object_mut().unwrap().remove("capacity");
    assert_eq!(save(&mut admin, &config, true).await.ok(), "v1");
    let page = admin.get("/ui/schedulers/without/edit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(r#"name="capacity""#), "{}", page.text);
    assert!(!page.text.contains(r#"name="capacity" checked"#));
    assert!(page.text.contains("No capacity section."));
    assert!(!page.text.contains("name=\"capacity.payloadQuota"));
}
