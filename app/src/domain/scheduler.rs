//! The scheduler: how a game team describes the rooms it wants, in the JSON shape of Maestro v10.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::allocation::AllocationPolicy;
use super::autoscaling::Autoscaling;
use super::capacity::Capacity;
use super::maestro_json::{
    integer, null_as_default, optional_port, optional_resources, text_or_number,
};
use super::quantity::GracePeriod;
use super::region::SchedulerRegion;
use super::verbatim::ServerOnly;

/// What a game team submits: the body of `POST /schedulers` (and of a new version), read with
/// Maestro v10's defaults for whatever it leaves out. Every field is written back, even when
/// unset (`null`, `{}`, `""`), as Maestro answers them, and reads back to the same value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SchedulerConfig {
    /// Unique name of the scheduler; a Kubernetes name (lowercase letters, digits and `-`).
    #[serde(default)]
    pub name: String,
    /// The game this scheduler's rooms belong to; one game may have many schedulers.
    #[serde(default)]
    pub game: String,
    /// Desired number of rooms when no autoscaling is configured.
    #[serde(default)]
    pub rooms_replicas: i64,
    /// Host ports given to rooms: `start` inclusive, `end` exclusive (`null` when every port
    /// has a `hostPort`).
    #[serde(default)]
    pub port_range: Option<PortRange>,
    /// How many rooms may be created above the desired count at once: a count (`"3"`) or a
    /// percentage (`"10%"`). Default `"10%"`.
    #[serde(default = "default_max_surge", deserialize_with = "text_or_number")]
    pub max_surge: String,
    /// The game room itself: its containers and how it runs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: GameRoomSpec,
    /// Where room status changes, resyncs, room and player events are forwarded (see the
    /// README's "Event forwarders").
    #[serde(default, deserialize_with = "null_as_default")]
    pub forwarders: Vec<Forwarder>,
    /// Annotations put on every room.
    #[serde(default, deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    /// Labels put on every room.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// The regions its rooms run in, each `{"name": "eu-west", "weight": 2}` or a plain name
    /// (weight 1): the desired count is split over them by weight. Empty: the default
    /// runtime's region.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub regions: Vec<SchedulerRegion>,
    /// How many matches one room can hold at once (default one, as in Maestro).
    #[serde(default, deserialize_with = "null_as_default")]
    pub match_allocation: MatchAllocation,
    /// How the number of rooms follows the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// How long rooms may take to start, between pings, and to stop (defaults: 120s, 30s, 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_timeouts: Option<RoomTimeouts>,
    /// How matchmakers' claims choose rooms and how long they wait (default: `packed`, 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<AllocationPolicy>))]
    pub allocation: Option<ServerOnly<AllocationPolicy>>,
    /// Rooms of a scheduler that sets this may ping without their room token (rooms migrating from Maestro).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_tokenless_pings: bool,
    /// Machines and payloads, in zeuz's words: the payload quota, safety limits, minimum
    /// machine spec and machine-scaling bounds (zeuz's spelling, `PayloadQuota`, is read too).
    /// Edited by the dashboard's form, so typed in the browser too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

/// Per-scheduler health timeouts, as durations (`"30s"`, `"2m"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoomTimeouts {
    /// A new room must report ready within this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<String>,
    /// A running room must ping at least this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<String>,
    /// A room must be gone this long after its grace period ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<String>,
}

pub fn default_max_surge() -> String {
    "10%".to_string()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PortRange {
    pub start: i64,
    pub end: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GameRoomSpec {
    /// How long a room has to stop after it is asked to: `"100s"`, `"2m"`, or a number of seconds.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub termination_grace_period: GracePeriod,
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Kubernetes toleration key for the rooms' pods.
    #[serde(default, deserialize_with = "null_as_default")]
    pub toleration: String,
    /// Kubernetes node affinity key for the rooms' pods.
    #[serde(default, deserialize_with = "null_as_default")]
    pub affinity: String,
    /// The rooms' pods' restart policy on Kubernetes: `Never` (the default), `OnFailure` or
    /// `Always`. The local runtime never restarts a room's process.
    #[serde(default = "default_restart_policy")]
    pub restart_policy: String,
}

/// Restart policies Kubernetes knows; rooms default to `Never`, as in Maestro.
pub const RESTART_POLICIES: &[&str] = &["Never", "OnFailure", "Always"];

pub fn default_restart_policy() -> String {
    "Never".to_string()
}

impl Default for GameRoomSpec {
    fn default() -> Self {
        Self {
            termination_grace_period: GracePeriod::default(),
            containers: Vec::new(),
            toleration: String::new(),
            affinity: String::new(),
            restart_policy: default_restart_policy(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    /// `Always`, `Never` or `IfNotPresent` (the default).
    #[serde(default = "default_pull_policy")]
    pub image_pull_policy: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub environment: Vec<EnvironmentVariable>,
    /// Unset is answered `{"memory": "", "cpu": ""}`, as Maestro does.
    #[serde(default, with = "optional_resources")]
    pub requests: Option<Resources>,
    #[serde(default, with = "optional_resources")]
    pub limits: Option<Resources>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: Vec<ContainerPort>,
}

pub fn default_pull_policy() -> String {
    "IfNotPresent".to_string()
}

/// One environment variable of a room: a literal `value`, or (Kubernetes only) `valueFrom` a
/// field of the pod or a key of a Secret, as in Maestro v10. A `secret` value is never shown
/// to viewers, and on Kubernetes travels in the scheduler's Secret rather than in the pod spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentVariable {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvironmentSource>,
    /// The value is a secret (a password, a key): hidden from viewers and from pod specs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

impl EnvironmentVariable {
    /// A plain variable with a literal value.
    pub fn plain(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            ..Self::default()
        }
    }

    /// A variable whose value is secret, e.g. the room token.
    pub fn secret(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            secret: true,
            ..Self::plain(name, value)
        }
    }

    /// Whether only those who may change the scheduler may read the value.
    pub fn is_sensitive(&self) -> bool {
        self.secret || self.value_from.is_some()
    }
}

/// Where a Kubernetes room reads a variable's value from (one of the two).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyReference>,
}

/// A field of the room's pod, e.g. `status.hostIP`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldReference {
    #[serde(default)]
    pub field_path: String,
}

/// A key of a Secret in the scheduler's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretKeyReference {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
}

/// Kubernetes quantities: memory like `"100Mi"`, cpu like `"100m"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Resources {
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: String,
    /// `tcp`, `udp` or `sctp` (any case).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    pub port: i64,
    /// A fixed host port; when absent (or `0`, as Maestro answers an unset one) the room gets
    /// one from the scheduler's port range.
    #[serde(default, with = "optional_port")]
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub host_port: Option<i64>,
    /// Maestro's per-port range: read so that it can be refused by name (Baton allocates from
    /// the scheduler's `portRange` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port_range: Option<PortRange>,
}

fn default_protocol() -> String {
    "tcp".to_string()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Forwarder {
    pub name: String,
    /// Off unless set, as in Maestro.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enable: bool,
    /// `gRPC` (Maestro's forwarder protocol) or `http` (a signed JSON `POST` of each event).
    #[serde(default = "default_forwarder_type")]
    pub r#type: String,
    pub address: String,
    /// Default `{"timeout": 1000, "metadata": {}}`, as Maestro answers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub options: ForwarderOptions,
}

fn default_forwarder_type() -> String {
    "gRPC".to_string()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ForwarderOptions {
    /// Request timeout in milliseconds (default 1000); a number or a numeric string.
    #[serde(default = "default_forwarder_timeout", deserialize_with = "integer")]
    pub timeout: i64,
    /// Passed along with every event.
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `http` forwarders: the HMAC-SHA256 key of the `X-Baton-Signature` header (else Baton's
    /// `--forwarder-secret`). Answered to whoever may read the scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn default_forwarder_timeout() -> i64 {
    1000
}

impl Default for ForwarderOptions {
    fn default() -> Self {
        Self {
            timeout: default_forwarder_timeout(),
            metadata: serde_json::Map::new(),
            secret: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MatchAllocation {
    pub max_matches: i64,
}

/// One match per room unless said otherwise, as in Maestro.
impl Default for MatchAllocation {
    fn default() -> Self {
        Self { max_matches: 1 }
    }
}

/// Lifecycle of a scheduler, with Maestro's names on the wire. Maestro's `terminating` is not
/// one of them: a deleted scheduler is gone at once, so no one could ever see it terminating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerState {
    /// Just created; the health controller has not looked at it yet.
    #[default]
    Creating,
    /// Every room wanted exists and is ready or occupied, of the active version.
    InSync,
    /// Baton's own: rooms are being created, replaced or removed.
    PendingSync,
    /// The active version's rooms keep crashing and none of them is ready.
    OnError,
}

impl SchedulerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::InSync => "in-sync",
            Self::PendingSync => "pending-sync",
            Self::OnError => "on-error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Creating,
            Self::InSync,
            Self::PendingSync,
            Self::OnError,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// A stored scheduler: the active version's configuration plus what the orchestrator keeps about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Scheduler {
    #[serde(flatten)]
    pub config: SchedulerConfig,
    pub state: SchedulerState,
    /// The active version, e.g. `v1`, `v1.1`, `v2`.
    pub version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A scheduler in lists: everything but the room spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SchedulerSummary {
    pub name: String,
    pub game: String,
    pub state: SchedulerState,
    pub version: String,
    pub port_range: Option<PortRange>,
    pub max_surge: String,
    pub rooms_replicas: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub match_allocation: MatchAllocation,
}

impl From<&Scheduler> for SchedulerSummary {
    fn from(s: &Scheduler) -> Self {
        Self {
            name: s.config.name.clone(),
            game: s.config.game.clone(),
            state: s.state,
            version: s.version.clone(),
            port_range: s.config.port_range,
            max_surge: s.config.max_surge.clone(),
            rooms_replicas: s.config.rooms_replicas,
            created_at: s.created_at,
            match_allocation: s.config.match_allocation,
        }
    }
}

/// One entry of a scheduler's version history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SchedulerVersion {
    pub version: String,
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_its_name() {
        for state in [
            SchedulerState::Creating,
            SchedulerState::InSync,
            SchedulerState::PendingSync,
            SchedulerState::OnError,
        ] {
            assert_eq!(SchedulerState::parse(state.as_str()), Some(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
    }

    #[test]
    fn seed_body_parses_with_defaults() {
        let body = r#"{"name":"s","game":"g","roomsReplicas":1,"portRange":{"start":20000,"end":21000},
            "maxSurge":"10%","spec":{"terminationGracePeriod":"100s","containers":[{"name":"game-container",
            "image":"img","imagePullPolicy":"IfNotPresent","command":[],"environment":[{"name":"A","value":"B"}],
            "requests":{"memory":"100Mi","cpu":"100m"},"limits":{"memory":"200Mi","cpu":"200m"},
            "ports":[{"name":"port-name","protocol":"tcp","port":12345}]}]},"forwarders":[]}"#;
        let config: SchedulerConfig = serde_json::from_str(body).unwrap();
        assert_eq!(config.spec.containers[0].ports[0].port, 12345);
        assert_eq!(config.spec.termination_grace_period.seconds(), Some(100));
        assert!(config.autoscaling.is_none());
    }

    /// Maestro v10's scheduler document, leaving out what Maestro makes optional.
    fn maestro_document() -> serde_json::Value {
        serde_json::json!({
            "name": "scheduler-test", "game": "game-test", "maxSurge": "30%",
            "portRange": {"start": 40000, "end": 60000},
            "spec": {"terminationGracePeriod": "100s", "containers": [{
                "name": "alpine", "image": "alpine", "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh"],
                "environment": [{"name": "from-field", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
                "requests": {"memory": "20Mi", "cpu": "100m"},
                "limits": {"memory": "200Mi", "cpu": "200m"},
                "ports": [{"name": "port-name", "protocol": "tcp", "port": 12345, "hostPort": 0}]}]},
            "forwarders": [
                {"name": "plain", "type": "gRPC", "address": "forwarder:8080"},
                {"name": "timed", "enable": true, "type": "gRPC", "address": "forwarder:8080",
                 "options": {"timeout": "250", "metadata": {"team": "a"}}}
            ],
            "autoscaling": {"min": 1, "max": -1, "policy": {"type": "roomOccupancy",
                "parameters": {"roomOccupancy": {"readyTarget": 0.5}}}}
        })
    }

    #[test]
    fn maestro_documents_read_with_maestros_defaults() {
        let config: SchedulerConfig = serde_json::from_value(maestro_document()).unwrap();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.match_allocation, MatchAllocation { max_matches: 1 });
        assert_eq!(config.spec.restart_policy, "Never");
        assert_eq!(config.spec.containers[0].ports[0].host_port, None);
        assert!(!config.forwarders[0].enable);
        assert_eq!(config.forwarders[0].options, ForwarderOptions::default());
        assert_eq!(config.forwarders[0].options.timeout, 1000);
        assert_eq!(config.forwarders[1].options.timeout, 250);
        let autoscaling = config.autoscaling.unwrap();
        assert!(!autoscaling.enabled);
        assert_eq!(autoscaling.max, -1);
        let parameters = autoscaling.policy.unwrap().parameters;
        assert_eq!(parameters.down_threshold(), Some(0.99));
    }

    #[test]
    fn every_field_is_written_and_reads_back_the_same() {
        let minimal: SchedulerConfig = serde_json::from_value(serde_json::json!({
            "name": "s", "game": "g", "maxSurge": 3,
            "spec": {"containers": [{"name": "c", "image": "i",
                "ports": [{"name": "p", "port": 1, "hostPort": 7000}]}]}
        }))
        .unwrap();
        assert_eq!(minimal.max_surge, "3");
        for config in [minimal, serde_json::from_value(maestro_document()).unwrap()] {
            let written = serde_json::to_value(&config).unwrap();
            for key in [
                "portRange",
                "maxSurge",
                "roomsReplicas",
                "forwarders",
                "annotations",
                "labels",
                "matchAllocation",
            ] {
                assert!(written.get(key).is_some(), "{key} missing from {written}");
            }
            for key in ["toleration", "affinity", "restartPolicy"] {
                assert!(written["spec"].get(key).is_some(), "spec.{key} missing");
            }
            let container = &written["spec"]["containers"][0];
            assert!(container["requests"].is_object() && container["limits"].is_object());
            assert!(container["ports"][0]["hostPort"].is_number());
            let back: SchedulerConfig = serde_json::from_value(written).unwrap();
            assert_eq!(back, config);
        }
    }

    #[test]
    fn documents_stored_before_still_read() {
        // As this type wrote them before: unset fields left out, flat policy parameters.
        let stored = r#"{"name":"s","game":"g","roomsReplicas":2,"maxSurge":"10%",
            "portRange":{"start":1,"end":9},"spec":{"terminationGracePeriod":"30s","containers":[
            {"name":"c","image":"i","imagePullPolicy":"Always","command":[],"environment":[],
            "requests":{"cpu":"100m"},"ports":[{"name":"p","protocol":"udp","port":7}]}]},
            "forwarders":[{"name":"f","enable":true,"type":"gRPC","address":"a:1",
            "options":{"timeout":500}}],
            "autoscaling":{"enabled":true,"min":1,"max":0,"policy":{"type":"roomOccupancy",
            "parameters":{"readyTarget":0.4,"downThreshold":0.8}}}}"#;
        let config: SchedulerConfig = serde_json::from_str(stored).unwrap();
        assert_eq!(config.validate(), Ok(()));
        let container = &config.spec.containers[0];
        assert_eq!(container.requests.as_ref().unwrap().memory, "");
        assert_eq!(container.limits, None);
        assert_eq!(config.forwarders[0].options.timeout, 500);
        assert!(config.forwarders[0].options.metadata.is_empty());
        let autoscaling = config.autoscaling.unwrap();
        assert!(autoscaling.enabled);
        assert_eq!(autoscaling.cooldown, 0);
        let parameters = autoscaling.policy.unwrap().parameters;
        assert_eq!(parameters.ready_target(), Some(0.4));
        assert_eq!(parameters.down_threshold(), Some(0.8));
    }
}
