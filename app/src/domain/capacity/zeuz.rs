//! zeuz's own allocation document (`zeuzsdk.AllocationDef` plus `Name` and `Game`) and how it
//! maps onto a scheduler: `ScalingRules` and `MachineMinSpec` become the capacity section,
//! `PayloadDef` the room spec (its image, command and ports, with the payload quota as the
//! container's requests), `ManagePayloads` the `unreservedRooms` autoscaling policy, `Regions`
//! the scheduler's regions (weight 1 each). What does
//! not map is reported, field by field, rather than dropped in silence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{Capacity, MachineSpec};
use super::machine::millicores;
use super::managed::managed_payloads;
use crate::domain::region::SchedulerRegion;
use crate::domain::scheduler::{
    Container, ContainerPort, GameRoomSpec, PortRange, Resources, SchedulerConfig,
};

/// The document `POST /allocations` takes, in zeuz's spelling.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocationDef {
    /// The scheduler's name.
    #[serde(default)]
    pub name: String,
    /// The scheduler's game.
    #[serde(default)]
    pub game: String,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub scaling_rules: ScalingRules,
    #[serde(default, rename = "MachineMinSpec")]
    pub machine_min_spec: MachineSpec,
}

/// zeuz's `ScalingRules`: the capacity figures (read by their zeuz names), the payload, and
/// fields Baton does not use.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingRules {
    #[serde(flatten)]
    pub capacity: Capacity,
    #[serde(default)]
    pub payload_def: PayloadDef,
    #[serde(default)]
    pub use_metrics: bool,
    #[serde(default)]
    pub cap_eval_time_frame: i64,
    #[serde(default)]
    pub blocked_conditions: Option<Value>,
    #[serde(default)]
    pub idle_conditions: Option<Value>,
}

/// zeuz's `PayloadDef`: what runs as a payload.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PayloadDef {
    #[serde(default, rename = "HostOS")]
    pub host_os: String,
    #[serde(default, rename = "HostOSMinVersion")]
    pub host_os_min_version: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub ports: Vec<PayloadPort>,
    /// Anything else: reported as not mapped.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PayloadPort {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub port: i64,
    /// `TCP` (the default) or `UDP`.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// A field of the document Baton does not act on, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotMapped {
    /// zeuz's path of the field, e.g. `ScalingRules.UseMetrics`.
    pub field: String,
    pub message: String,
}

/// Host ports for a new scheduler's rooms (zeuz's document has no range).
pub const DEFAULT_PORT_RANGE: PortRange = PortRange {
    start: 40000,
    end: 60000,
};

/// The name of the container a payload runs in, on a new scheduler.
pub const PAYLOAD_CONTAINER: &str = "payload";

impl AllocationDef {
    /// The scheduler this document describes: `current` (the scheduler of that name, if any)
    /// with what the document says applied; and what of the document was not used.
    pub fn to_scheduler(
        &self,
        current: Option<&SchedulerConfig>,
    ) -> (SchedulerConfig, Vec<NotMapped>) {
        let mut notes = Vec::new();
        let mut note = |field: &str, message: &str| {
            notes.push(NotMapped {
                field: field.to_string(),
                message: message.to_string(),
            })
        };
        let rules = &self.scaling_rules;
        let payload = &rules.payload_def;
        let mut config = current.cloned().unwrap_or_else(|| SchedulerConfig {
            port_range: Some(DEFAULT_PORT_RANGE),
            max_surge: crate::domain::scheduler::default_max_surge(),
            ..SchedulerConfig::default()
        });
        config.name = self.name.clone();
        config.game = self.game.clone();

        let mut capacity = rules.capacity.clone();
        capacity.machine_min_spec = self.machine_min_spec.clone();
        let spec = &mut capacity.machine_min_spec;
        for (field, host, min) in [
            ("HostOS", &payload.host_os, &mut spec.os),
            (
                "HostOSMinVersion",
                &payload.host_os_min_version,
                &mut spec.os_version,
            ),
        ] {
            if min.is_empty() {
                min.clone_from(host);
            } else if !host.is_empty() && host != min {
                note(
                    &format!("ScalingRules.PayloadDef.{field}"),
                    "differs from MachineMinSpec, whose value applies to every machine",
                );
            }
        }

        if config.spec.containers.is_empty() {
            config.spec = GameRoomSpec::default();
            config.spec.containers.push(Container {
                name: PAYLOAD_CONTAINER.into(),
                image_pull_policy: crate::domain::scheduler::default_pull_policy(),
                ..Container::default()
            });
        }
        let container = &mut config.spec.containers[0];
        container.image.clone_from(&payload.image);
        container.command.clone_from(&payload.cmd);
        container.ports = payload
            .ports
            .iter()
            .map(|port| ContainerPort {
                name: port.name.to_ascii_lowercase(),
                protocol: port
                    .protocol
                    .as_deref()
                    .unwrap_or("tcp")
                    .to_ascii_lowercase(),
                port: port.port,
                host_port: None,
                host_port_range: None,
            })
            .collect();
        for (i, port) in payload.ports.iter().enumerate() {
            if port.name != port.name.to_ascii_lowercase() {
                note(
                    &format!("ScalingRules.PayloadDef.Ports[{i}].Name"),
                    "lowercased: port names are Kubernetes names",
                );
            }
        }
        let quota = &capacity.payload_quota;
        container.requests = Some(Resources {
            cpu: format!("{}m", millicores(quota.cpu_cores)),
            memory: format!("{}Mi", quota.memory_mb.max(0)),
        });
        for key in payload.other.keys() {
            note(
                &format!("ScalingRules.PayloadDef.{key}"),
                "not mapped onto the room spec",
            );
        }

        if capacity.manage_payloads {
            config.autoscaling = Some(managed_payloads(&capacity));
        } else if config
            .autoscaling
            .as_ref()
            .and_then(|a| a.policy.as_ref())
            .is_some_and(|p| p.r#type == "unreservedRooms")
        {
            config.autoscaling = None;
        }
        config.capacity = Some(capacity);

        // zeuz's regions are the scheduler's, weight 1 each (rooms spread evenly).
        config.regions = self
            .regions
            .iter()
            .map(|name| SchedulerRegion::new(name, 1))
            .collect();
        if rules.use_metrics {
            note(
                "ScalingRules.UseMetrics",
                "not used: capacity counts quotas",
            );
        }
        if rules.cap_eval_time_frame != 0 {
            note(
                "ScalingRules.CapEvalTimeFrame",
                "not used: capacity is judged at every tick",
            );
        }
        for (field, value) in [
            ("BlockedConditions", &rules.blocked_conditions),
            ("IdleConditions", &rules.idle_conditions),
        ] {
            if value.as_ref().is_some_and(|v| !v.is_null()) {
                note(&format!("ScalingRules.{field}"), "not used");
            }
        }
        (config, notes)
    }

    /// The document a scheduler with a capacity section answers, in zeuz's shape (`None`
    /// without one). `Regions` are the scheduler's region names (their weights are not zeuz's).
    pub fn document(config: &SchedulerConfig) -> Option<Value> {
        let capacity = config.capacity.as_ref()?;
        let mut rules = zeuz_keys(serde_json::to_value(capacity).ok()?);
        let min_spec = rules.as_object_mut()?.remove("MachineMinSpec")?;
        let container = config.spec.containers.first();
        let ports: Vec<Value> = container
            .map(|c| c.ports.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                serde_json::json!({"Name": p.name, "Port": p.port,
                    "Protocol": p.protocol.to_ascii_uppercase()})
            })
            .collect();
        let payload = serde_json::json!({
            "HostOS": capacity.machine_min_spec.os,
            "HostOSMinVersion": capacity.machine_min_spec.os_version,
            "Image": container.map(|c| c.image.clone()).unwrap_or_default(),
            "Cmd": container.map(|c| c.command.clone()).unwrap_or_default(),
            "Ports": ports,
        });
        let object = rules.as_object_mut()?;
        object.insert("PayloadDef".into(), payload);
        object.insert("UseMetrics".into(), Value::Bool(false));
        object.insert("CapEvalTimeFrame".into(), Value::from(0));
        object.insert("BlockedConditions".into(), Value::Null);
        object.insert("IdleConditions".into(), Value::Null);
        Some(serde_json::json!({
            "Name": config.name,
            "Game": config.game,
            "Regions": config.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            "ScalingRules": rules,
            "MachineMinSpec": min_spec,
        }))
    }
}

/// zeuz's name for one of Baton's camelCase capacity keys (`ioMBpsFree` -> `IOMBpsFree`).
pub fn zeuz_key(key: &str) -> String {
    match key {
        "os" => "OS".into(),
        "osVersion" => "OSVersion".into(),
        _ if key.starts_with("io") => format!("IO{}", &key[2..]),
        _ => {
            let mut chars = key.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
    }
}

/// `value` with every object key in zeuz's spelling.
fn zeuz_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (zeuz_key(&k), zeuz_keys(v)))
                .collect(),
        ),
        other => other,
    }
}

/// zeuz's path for a validation error of the scheduler a document became
/// (`capacity.payloadQuota.cpuCores` -> `ScalingRules.PayloadQuota.CpuCores`); paths that do
/// not come from the document are left as they are.
pub fn zeuz_path(path: &str) -> String {
    let pascal =
        |rest: &str| -> String { rest.split('.').map(zeuz_key).collect::<Vec<_>>().join(".") };
    if let Some(rest) = path.strip_prefix("capacity.machineMinSpec") {
        return format!("MachineMinSpec{}", pascal(rest));
    }
    if let Some(rest) = path.strip_prefix("capacity.") {
        return format!("ScalingRules.{}", pascal(rest));
    }
    if let Some(rest) = path.strip_prefix("spec.containers[0].") {
        let payload = "ScalingRules.PayloadDef";
        return match rest {
            "image" => format!("{payload}.Image"),
            "command" => format!("{payload}.Cmd"),
            _ if rest.starts_with("ports") => format!("{payload}.{}", pascal(rest)),
            _ if rest.starts_with("requests") => "ScalingRules.PayloadQuota".into(),
            _ => path.to_string(),
        };
    }
    // `regions[1].name` (or `.weight`) -> `Regions[1]`.
    if let Some(rest) = path.strip_prefix("regions[")
        && let Some(end) = rest.find(']')
    {
        return format!("Regions[{}]", &rest[..end]);
    }
    match path {
        "name" => "Name".into(),
        "game" => "Game".into(),
        // ManagePayloads' policy, made from the unreserved-payload bounds.
        "autoscaling.policy.parameters.unreservedRooms.min" => {
            "ScalingRules.MinUnreservedPayloads".into()
        }
        "autoscaling.policy.parameters.unreservedRooms.max" => {
            "ScalingRules.MaxUnreservedPayloads".into()
        }
        _ => path.to_string(),
    }
}
