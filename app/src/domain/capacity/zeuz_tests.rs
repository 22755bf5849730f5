//! zeuz's allocation document onto a scheduler and back.

use serde_json::{Value, json};

use super::test_support::seed_zeuz;
use super::zeuz::*;
use crate::domain::region::SchedulerRegion;
use crate::domain::scheduler::SchedulerConfig;

/// The seed's example `AllocationDef`, with `Name` and `Game`.
pub(crate) fn seed_document() -> Value {
    let mut rules = seed_zeuz();
    let min_spec = rules
        .as_object_mut()
        .unwrap()
        .remove("MachineMinSpec")
        .unwrap();
    let rules_object = rules.as_object_mut().unwrap();
    rules_object.insert(
        "PayloadDef".into(),
        json!({
            "HostOS": "linux",
            "HostOSMinVersion": "Ubuntu 16.04*",
            "Image": "dockerregistry.zeuz.io:6999/path/to/image:latest",
            "Cmd": [],
            "Ports": [{"Name": "HTTP", "Port": 80}]
        }),
    );
    for (key, value) in [
        ("UseMetrics", json!(false)),
        ("CapEvalTimeFrame", json!(0)),
        ("BlockedConditions", Value::Null),
        ("IdleConditions", Value::Null),
    ] {
        rules_object.insert(key.into(), value);
    }
    json!({
        "Name": "zeuz-example",
        "Game": "zeuz-game",
        "Regions": ["cRswsCn***", "odemlBg***"],
        "ScalingRules": rules,
        "MachineMinSpec": min_spec,
    })
}

fn seed_def() -> AllocationDef {
    serde_json::from_value(seed_document()).unwrap()
}

/// The seed's region ids are masked (`cRswsCn***`): not region names. Unmasked, they are.
fn unmasked(mut def: AllocationDef) -> AllocationDef {
    for region in &mut def.regions {
        *region = region.trim_end_matches('*').to_string();
    }
    def
}

#[test]
fn the_seed_document_becomes_a_valid_scheduler() {
    let (config, notes) = unmasked(seed_def()).to_scheduler(None);
    assert_eq!(config.validate(), Ok(()));
    // Its regions, weight 1 each.
    assert_eq!(
        config.regions,
        [
            SchedulerRegion::new("cRswsCn", 1),
            SchedulerRegion::new("odemlBg", 1)
        ]
    );
    assert_eq!(config.name, "zeuz-example");
    let container = &config.spec.containers[0];
    assert_eq!(container.name, PAYLOAD_CONTAINER);
    assert_eq!(
        container.image,
        "dockerregistry.zeuz.io:6999/path/to/image:latest"
    );
    assert_eq!(
        (container.ports[0].name.as_str(), container.ports[0].port),
        ("http", 80)
    );
    let requests = container.requests.as_ref().unwrap();
    assert_eq!(
        (requests.cpu.as_str(), requests.memory.as_str()),
        ("1000m", "1024Mi")
    );
    assert_eq!(config.port_range, Some(DEFAULT_PORT_RANGE));
    let capacity = config.capacity.as_ref().unwrap();
    assert_eq!(capacity.machine_min_spec.core_count, 4);
    assert_eq!(capacity.payload_quota.storage_gb, 50);
    // ManagePayloads keeps the unreserved rooms between 4 and 6.
    let autoscaling = config.autoscaling.as_ref().unwrap();
    assert!(autoscaling.enabled);
    let policy = autoscaling.policy.as_ref().unwrap();
    assert_eq!(policy.r#type, "unreservedRooms");
    let fields: Vec<&str> = notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(fields, ["ScalingRules.PayloadDef.Ports[0].Name"]);
}

#[test]
fn masked_region_ids_are_refused_on_their_zeuz_path() {
    let (config, _) = seed_def().to_scheduler(None);
    let fields: Vec<String> = config
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|e| zeuz_path(&e.field))
        .collect();
    assert_eq!(fields, ["Regions[0]", "Regions[1]"]);
}

#[test]
fn an_existing_scheduler_keeps_what_the_document_does_not_say() {
    let mut current: SchedulerConfig = serde_json::from_value(json!({
        "name": "zeuz-example", "game": "zeuz-game", "portRange": {"start": 7000, "end": 8000},
        "spec": {"containers": [{"name": "game", "image": "old", "environment": [{"name": "A", "value": "b"}],
            "ports": [{"name": "p", "port": 1}]}]},
        "labels": {"team": "x"}
    }))
    .unwrap();
    current.rooms_replicas = 3;
    let mut def = seed_def();
    def.scaling_rules.capacity.manage_payloads = false;
    let (config, _) = def.to_scheduler(Some(&current));
    assert_eq!(config.port_range, current.port_range);
    assert_eq!(config.labels, current.labels);
    assert_eq!(config.rooms_replicas, 3);
    assert!(config.autoscaling.is_none());
    let container = &config.spec.containers[0];
    assert_eq!(container.name, "game");
    assert_eq!(
        container.environment,
        current.spec.containers[0].environment
    );
    assert_eq!(
        container.image,
        "dockerregistry.zeuz.io:6999/path/to/image:latest"
    );
}

#[test]
fn what_does_not_map_is_reported() {
    let mut document = seed_document();
    let rules = &mut document["ScalingRules"];
    rules["UseMetrics"] = json!(true);
    rules["CapEvalTimeFrame"] = json!(60);
    rules["IdleConditions"] = json!({"cpu": 1});
    rules["PayloadDef"]["Env"] = json!({"A": "b"});
    rules["PayloadDef"]["HostOS"] = json!("windows");
    document["Regions"] = json!([]);
    let def: AllocationDef = serde_json::from_value(document).unwrap();
    let (_, notes) = def.to_scheduler(None);
    let fields: Vec<&str> = notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "ScalingRules.PayloadDef.HostOS",
            "ScalingRules.PayloadDef.Ports[0].Name",
            "ScalingRules.PayloadDef.Env",
            "ScalingRules.UseMetrics",
            "ScalingRules.CapEvalTimeFrame",
            "ScalingRules.IdleConditions",
        ]
    );
}

#[test]
fn a_scheduler_answers_in_zeuz_shape() {
    let (config, _) = seed_def().to_scheduler(None);
    let mut document = AllocationDef::document(&config).unwrap();
    let mut expected = seed_document();
    // Kept as Baton keeps them: port names lowercased, protocol said.
    expected["ScalingRules"]["PayloadDef"]["Ports"] =
        json!([{"Name": "http", "Port": 80, "Protocol": "TCP"}]);
    // Numbers Baton keeps as fractions.
    for pointer in [
        "/ScalingRules/PayloadQuota/CpuCores",
        "/ScalingRules/SafetyLimits/CoreMaxUsageThreshold",
        "/ScalingRules/SafetyLimits/CpuRemainingCores",
    ] {
        let n = document.pointer(pointer).and_then(Value::as_f64).unwrap();
        *document.pointer_mut(pointer).unwrap() = json!(n as i64);
    }
    assert_eq!(document, expected);
    // And it reads back to the same scheduler.
    let again: AllocationDef = serde_json::from_value(document).unwrap();
    assert_eq!(again.to_scheduler(Some(&config)).0, config);
    let mut plain = config;
    plain.capacity = None;
    assert_eq!(AllocationDef::document(&plain), None);
}

#[test]
fn validation_paths_are_told_in_zeuz_words() {
    for (baton, zeuz) in [
        (
            "capacity.payloadQuota.cpuCores",
            "ScalingRules.PayloadQuota.CpuCores",
        ),
        (
            "capacity.safetyLimits.ioMBpsFree",
            "ScalingRules.SafetyLimits.IOMBpsFree",
        ),
        (
            "capacity.maxFreePayloadCapacity",
            "ScalingRules.MaxFreePayloadCapacity",
        ),
        (
            "capacity.machineMinSpec.osVersion",
            "MachineMinSpec.OSVersion",
        ),
        ("capacity.machineMinSpec", "MachineMinSpec"),
        ("spec.containers[0].image", "ScalingRules.PayloadDef.Image"),
        (
            "spec.containers[0].ports[1].port",
            "ScalingRules.PayloadDef.Ports[1].Port",
        ),
        ("name", "Name"),
        (
            "autoscaling.policy.parameters.unreservedRooms.max",
            "ScalingRules.MaxUnreservedPayloads",
        ),
        ("regions[1].name", "Regions[1]"),
        ("regions[0].weight", "Regions[0]"),
        ("portRange", "portRange"),
    ] {
        assert_eq!(zeuz_path(baton), zeuz, "{baton}");
    }
}
