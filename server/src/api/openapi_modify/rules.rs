//! The rules validation enforces, as the OpenAPI document states them: per component schema
//! and property, and per query parameter (applied by `super::tighten`).

use serde_json::{Value, json};

/// A DNS-1123 label: what scheduler, container and namespace names are.
const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// Game and region names.
const GAME_NAME: &str = "^[A-Za-z0-9._-]{1,63}$";
/// Durations: `100s`, `1m30s`, `500ms`, `1.5h`, or a number of seconds (what
/// `parse_duration_seconds` reads; bounds such as "at least 1 s" are in the descriptions).
const DURATION: &str = "^\\s*([0-9]+|(([0-9]+\\.?[0-9]*|\\.[0-9]+)(ms|s|m|h))+)\\s*$";
/// Environment variable names.
const ENV_NAME: &str = "^[A-Za-z_.-][A-Za-z0-9_.-]*$";
/// Kubernetes label and annotation keys: an optional DNS prefix, then a name.
const QUALIFIED_KEY: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$";
/// Port names: lowercase letters and digits in words joined by single `-`, one letter at least
/// (and at most 15 characters: a length rule).
const PORT_NAME: &str = "^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$";
/// Text with something other than spaces in it.
const NOT_BLANK: &str = "\\S";
/// Kubernetes DNS-1123 subdomains (Secret names): labels joined by `.`.
const DNS_SUBDOMAIN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Versions: `v1`, `v1.2`.
const VERSION: &str = "^v[0-9]+(\\.[0-9]+)?$";

/// A rule on one property of a component schema.
#[derive(Clone, Copy)]
pub(super) enum Rule {
    /// The property must be present.
    Required,
    Pattern(&'static str),
    Length(usize, usize),
    MinLength(usize),
    /// Inclusive bounds of a number.
    Range(f64, f64),
    /// An inclusive lower bound.
    Min(f64),
    /// An exclusive lower bound.
    Above(f64),
    OneOf(&'static [&'static str]),
    /// At least this many items.
    MinItems(usize),
    /// No properties but those documented.
    Closed,
    /// Documented elsewhere in the schema but refused when present: left out of it.
    Removed,
    /// The keys of a map match this pattern.
    Keys(&'static str),
    /// The values of a map are strings of at most this length.
    Values(usize),
    /// A JSON Schema keyword utoipa has no field for (`not`, `oneOf` beside `properties`).
    Keyword(&'static str, fn() -> Value),
}

use Rule::*;

/// Every rule validation enforces on one field (the cross-field ones, such as unique names or
/// `requests` below `limits`, are in the descriptions only).
pub(super) const RULES: &[(&str, &str, &[Rule])] = &[
    // The scheduler (app/src/domain/validation).
    (
        "SchedulerConfig",
        "name",
        &[
            Required,
            Pattern(DNS_LABEL),
            Length(1, 63),
            Keyword("not", reserved_scheduler_names),
        ],
    ),
    ("SchedulerConfig", "game", &[Required, Pattern(GAME_NAME)]),
    ("SchedulerConfig", "spec", &[Required]),
    (
        "SchedulerConfig",
        "",
        &[Keyword("anyOf", port_range_when_needed)],
    ),
    ("SchedulerConfig", "roomsReplicas", &[Min(0.0)]),
    (
        "SchedulerConfig",
        "maxSurge",
        &[Pattern("^\\s*0*([1-9][0-9]{0,9}|([1-9][0-9]?|100)%)\\s*$")],
    ),
    (
        "SchedulerConfig",
        "labels",
        &[Keys(QUALIFIED_KEY), Values(63)],
    ),
    ("SchedulerConfig", "annotations", &[Keys(QUALIFIED_KEY)]),
    ("SchedulerRegion", "name", &[Pattern(GAME_NAME)]),
    ("SchedulerRegion", "weight", &[Min(1.0)]),
    ("PortRange", "start", &[Required, Range(1.0, 65535.0)]),
    ("PortRange", "end", &[Required, Range(2.0, 65536.0)]),
    ("GameRoomSpec", "containers", &[Required, MinItems(1)]),
    (
        "GameRoomSpec",
        "terminationGracePeriod",
        &[Pattern(DURATION)],
    ),
    (
        "GameRoomSpec",
        "restartPolicy",
        &[OneOf(&["Never", "OnFailure", "Always"])],
    ),
    ("Container", "name", &[Required, Pattern(DNS_LABEL)]),
    ("Container", "image", &[Required, Pattern(NOT_BLANK)]),
    (
        "Container",
        "imagePullPolicy",
        &[OneOf(&["Always", "Never", "IfNotPresent"])],
    ),
    ("EnvironmentVariable", "name", &[Pattern(ENV_NAME)]),
    ("EnvironmentVariable", "name", &[Required]),
    ("EnvironmentSource", "", &[Keyword("oneOf", one_source)]),
    (
        "FieldReference",
        "fieldPath",
        &[Required, Pattern(NOT_BLANK)],
    ),
    (
        "SecretKeyReference",
        "name",
        &[Required, Pattern(DNS_SUBDOMAIN), Length(1, 253)],
    ),
    (
        "SecretKeyReference",
        "key",
        &[
            Required,
            Pattern("^[A-Za-z0-9._-]+$"),
            Length(1, 253),
            Keyword("not", dots),
        ],
    ),
    ("Resources", "memory", &[Pattern(QUANTITY_OR_EMPTY)]),
    ("Resources", "cpu", &[Pattern(QUANTITY_OR_EMPTY)]),
    (
        "ContainerPort",
        "name",
        &[Required, Pattern(PORT_NAME), Length(1, 15)],
    ),
    (
        "ContainerPort",
        "protocol",
        &[Pattern("^([tT][cC][pP]|[uU][dD][pP]|[sS][cC][tT][pP])$")],
    ),
    ("ContainerPort", "port", &[Range(1.0, 65535.0)]),
    ("ContainerPort", "hostPort", &[Range(0.0, 65535.0)]),
    ("ContainerPort", "hostPortRange", &[Removed]),
    ("Forwarder", "name", &[Required, MinLength(1)]),
    (
        "Forwarder",
        "type",
        &[Pattern("^([gG][rR][pP][cC]|[hH][tT][tT][pP])$")],
    ),
    ("Forwarder", "address", &[Required, Pattern(NOT_BLANK)]),
    ("Forwarder", "", &[Keyword("anyOf", http_addresses)]),
    ("MatchAllocation", "maxMatches", &[Required, Min(1.0)]),
    ("RoomTimeouts", "initialization", &[Pattern(DURATION)]),
    ("RoomTimeouts", "ping", &[Pattern(DURATION)]),
    ("RoomTimeouts", "termination", &[Pattern(DURATION)]),
    (
        "AllocationPolicy",
        "strategy",
        &[OneOf(&["packed", "distributed"])],
    ),
    ("AllocationPolicy", "claimTtl", &[Pattern(DURATION)]),
    // Autoscaling: a policy, or up/down triggers (app/src/domain/autoscaling/validation.rs).
    ("Autoscaling", "", &[Keyword("oneOf", policy_or_triggers)]),
    ("Autoscaling", "min", &[Min(0.0)]),
    ("Autoscaling", "max", &[Min(-1.0)]),
    ("Autoscaling", "cooldown", &[Min(0.0)]),
    (
        "PolicyConfig",
        "type",
        &[
            Required,
            OneOf(&["roomOccupancy", "fixedBuffer", "unreservedRooms"]),
        ],
    ),
    ("PolicyConfig", "", &[Keyword("oneOf", policy_parameters)]),
    (
        "ScalingDirection",
        "metricsTrigger",
        &[Required, MinItems(1)],
    ),
    ("ScalingDirection", "cooldown", &[Min(0.0)]),
    ("MetricsTrigger", "type", &[OneOf(&["room", "cpu", "mem"])]),
    ("MetricsTrigger", "usage", &[Range(1.0, 100.0)]),
    ("MetricsTrigger", "threshold", &[Range(1.0, 100.0)]),
    ("MetricsTrigger", "time", &[Min(1.0)]),
    ("MetricsTrigger", "limit", &[Range(1.0, 100.0)]),
    // Capacity (app/src/domain/validation/capacity.rs).
    ("Capacity", "payloadQuota", &[Required]),
    ("PayloadQuota", "cpuCores", &[Required, Above(0.0)]),
    ("PayloadQuota", "memoryMB", &[Required, Min(1.0)]),
    ("PayloadQuota", "storageGB", &[Min(0.0)]),
    ("PayloadQuota", "ioBandwidthMBps", &[Min(0.0)]),
    ("PayloadQuota", "inetBandwidthMBps", &[Min(0.0)]),
    (
        "SafetyLimits",
        "coreMaxUsageThreshold",
        &[Range(0.0, 100.0)],
    ),
    ("SafetyLimits", "cpuRemainingCores", &[Min(0.0)]),
    ("SafetyLimits", "memoryMBFree", &[Min(0.0)]),
    ("SafetyLimits", "storageGBFree", &[Min(0.0)]),
    ("SafetyLimits", "ioMBpsFree", &[Min(0.0)]),
    ("SafetyLimits", "inetMBpsFree", &[Min(0.0)]),
    ("MachineSpec", "os", &[Pattern("^[A-Za-z0-9_-]{0,63}$")]),
    (
        "MachineSpec",
        "osVersion",
        &[
            Pattern("^([A-Za-z0-9 .+~:/()*_-]*[A-Za-z0-9.+~:/()*_-][A-Za-z0-9 .+~:/()*_-]*)?$"),
            Length(0, 128),
        ],
    ),
    ("MachineSpec", "coreCount", &[Min(0.0)]),
    ("MachineSpec", "coreMhz", &[Min(0.0)]),
    ("MachineSpec", "memoryMB", &[Min(0.0)]),
    ("MachineSpec", "storageGB", &[Min(0.0)]),
    ("MachineSpec", "ioBandwidthMBps", &[Min(0.0)]),
    ("MachineSpec", "inetBandwidthMBps", &[Min(0.0)]),
    ("Capacity", "maxCloudMachines", &[Min(0.0)]),
    ("Capacity", "maxBareMetalMachines", &[Min(0.0)]),
    ("Capacity", "minFreePayloadCapacity", &[Min(0.0)]),
    ("Capacity", "maxFreePayloadCapacity", &[Min(0.0)]),
    ("Capacity", "minUnreservedPayloads", &[Min(0.0)]),
    ("Capacity", "maxUnreservedPayloads", &[Min(0.0)]),
    // The bodies of the other changes.
    ("AddRooms", "amount", &[Required, Range(1.0, 1000.0)]),
    ("RemoveRooms", "amount", &[Range(0.0, 1000.0)]),
    ("RemoveRooms", "", &[Keyword("anyOf", amount_or_rooms)]),
    ("SwitchVersion", "version", &[Required, Pattern(VERSION)]),
    ("AllocationRequest", "ttl", &[Range(1.0, 3600.0)]),
    ("AllocationRequest", "", &[Closed]),
    // What rooms send.
    ("Ping", "status", &[Required]),
    ("Ping", "runningMatches", &[Range(0.0, 4_294_967_295.0)]),
    ("RoomEvent", "event", &[Required, Pattern(NOT_BLANK)]),
    (
        "PlayerEvent",
        "event",
        &[Required, OneOf(&["playerJoin", "playerLeft"])],
    ),
    ("PlayerEvent", "playerId", &[Required, Pattern(NOT_BLANK)]),
];

/// Rules on the query parameters of that name, in every operation that takes one.
pub(super) const PARAMETER_RULES: &[(&str, &[Rule])] = &[
    // `?wait=`: a duration of at most 120 s (api/operations.rs).
    (
        "wait",
        &[Pattern(
            "^(([0-9]|[1-9][0-9]|1[01][0-9]|120)s|[0-9]{1,5}ms|[0-2]m)$",
        )],
    ),
    (
        "stage",
        &[OneOf(&["pending", "active", "final", "history"])],
    ),
    ("orderBy", &[OneOf(&["createdAt desc", "createdAt asc"])]),
    ("page", &[Min(1.0)]),
    ("perPage", &[Range(1.0, 100.0)]),
    ("minutes", &[Range(1.0, 1440.0)]),
];

/// Kubernetes quantities: a decimal number and a suffix (`100Mi`, `250m`, `1.5`, `1e3`); empty
/// means "not set".
const QUANTITY_OR_EMPTY: &str = "^(|\\+?([0-9]+\\.?[0-9]*|\\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE]\\+?[+-]?[0-9]+)?)$";

fn reserved_scheduler_names() -> Value {
    json!({"anyOf": [{"enum": ["default", "info"]}, {"pattern": "^kube-"}]})
}

/// Either a policy or up/down trigger lists, not both.
fn policy_or_triggers() -> Value {
    let triggers = json!({"anyOf": [
        {"required": ["up"], "properties": {"up": {"type": "object"}}},
        {"required": ["down"], "properties": {"down": {"type": "object"}}},
    ]});
    json!([
        {"required": ["policy"], "properties": {"policy": {"type": "object"}}, "not": triggers},
        {"allOf": [triggers], "properties": {"policy": {"type": "null"}}},
    ])
}

/// Each policy type with the parameters it needs.
fn policy_parameters() -> Value {
    let fraction = json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1});
    let count = json!({"type": "integer", "minimum": 0, "maximum": 1_000_000});
    let variant = |kind: &str, parameters: Value| {
        json!({
            "required": ["type", "parameters"],
            "properties": {
                "type": {"const": kind},
                "parameters": {"type": "object", "required": [kind], "properties": {kind: parameters}},
            },
        })
    };
    json!([
        variant(
            "roomOccupancy",
            json!({"type": "object", "required": ["readyTarget"],
            "properties": {"readyTarget": fraction, "downThreshold": fraction}})
        ),
        variant(
            "fixedBuffer",
            json!({"type": "object", "required": ["amount"],
            "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 1_000_000}}})
        ),
        variant(
            "unreservedRooms",
            json!({"type": "object", "required": ["min", "max"],
            "properties": {"min": count, "max": count}})
        ),
    ])
}

/// An `http` forwarder's address is an `http://` or `https://` URL.
fn http_addresses() -> Value {
    json!([
        {"properties": {"type": {"pattern": "^[gG][rR][pP][cC]$"}}},
        {"required": ["type", "address"], "properties": {
            "type": {"pattern": "^[hH][tT][tT][pP]$"}, "address": {"pattern": "^https?://"}}},
    ])
}

/// `valueFrom` names exactly one source (`null` is no source).
fn one_source() -> Value {
    json!([
        {"required": ["fieldRef"], "properties": {"fieldRef": {"type": "object"}, "secretKeyRef": {"type": "null"}}},
        {"required": ["secretKeyRef"], "properties": {"secretKeyRef": {"type": "object"}, "fieldRef": {"type": "null"}}},
    ])
}

/// `remove-rooms` takes an amount above 0, rooms to stop, or both.
fn amount_or_rooms() -> Value {
    json!([
        {"required": ["amount"], "properties": {"amount": {"minimum": 1}}},
        {"required": ["roomsIds"], "properties": {"roomsIds": {"minItems": 1}}},
    ])
}

/// A container port without a fixed `hostPort` takes one from the scheduler's `portRange`,
/// which must then be set.
fn port_range_when_needed() -> Value {
    json!([
        {"required": ["portRange"], "properties": {"portRange": {"type": "object"}}},
        {"properties": {"spec": {"properties": {"containers": {"items": {"properties": {"ports": {
            "items": {"required": ["hostPort"], "properties": {"hostPort": {"minimum": 1}}}
        }}}}}}}},
    ])
}

/// `.` and `..` are not Secret keys.
fn dots() -> Value {
    json!({"enum": [".", ".."]})
}
