//! Property tests of what the API reads from its callers: a scheduler (`POST /schedulers` and
//! new versions) and a room's ping, parsed by the API's body reader and checked by the domain.
//!
//! - Every valid scheduler is accepted and reads back to itself from what the API writes.
//! - Any JSON at all is answered (never a panic) with either a value or the field at fault;
//!   a field of a valid scheduler replaced by anything is reported at or under that field.
//! - A ping reads back to itself; one with a status rooms cannot send names `status`.

use app::domain::room::{Ping, RoomStatus};
use app::domain::scheduler::SchedulerConfig;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use server::api::error::ApiError;
use server::api::json::parse;

/// The field a refused body names, or `None` when it was read.
fn refused_field<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, String> {
    let bytes = serde_json::to_vec(body).expect("JSON");
    match parse::<T>(&bytes) {
        Ok(value) => Ok(value),
        Err(ApiError::Invalid(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(!errors[0].message.is_empty(), "{errors:?}");
            Err(errors[0].field.clone())
        }
        Err(other) => panic!("a body is refused as invalid, not with {other:?}"),
    }
}

// ---- Generators -------------------------------------------------------------------------------

fn dns_label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,20}[a-z0-9])?"
}

fn scheduler_name() -> impl Strategy<Value = String> {
    dns_label().prop_filter("a name Kubernetes or Baton keeps", |name| {
        name != "default" && name != "info" && !name.starts_with("kube-")
    })
}

/// A duration as the API reads it: a number of seconds or units.
fn duration() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u32..100_000).prop_map(|s| json!(s)),
        (1u32..10_000).prop_map(|s| json!(format!("{s}s"))),
        (1u32..600).prop_map(|m| json!(format!("{m}m"))),
        (1u32..48, 0u32..60).prop_map(|(h, m)| json!(format!("{h}h{m}m"))),
    ]
}

fn quantity(units: &'static [&'static str]) -> impl Strategy<Value = (u32, &'static str)> {
    (1u32..4096, proptest::sample::select(units))
}

/// One container, named `c{index}`, its ports named `p{index}-{j}` (unique in the scheduler).
fn container(index: usize) -> impl Strategy<Value = Value> {
    (
        "[a-z][a-z0-9./:-]{0,30}",
        proptest::sample::select(&["Always", "Never", "IfNotPresent"][..]),
        proptest::collection::vec("[ -~]{1,12}", 0..4),
        proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,10}", "[ -~]{0,20}", 0..4),
        quantity(&["Mi", "Gi", "M"]),
        quantity(&["m", ""]),
        1i64..65000,
        proptest::collection::vec(
            (
                proptest::sample::select(&["tcp", "udp", "TCP", "sctp"][..]),
                proptest::option::of(1i64..=65535),
            ),
            0..4,
        ),
    )
        .prop_map(move |(image, pull, command, env, memory, cpu, base, ports)| {
            let environment: Vec<Value> = env
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            // Each port its own number, so no two share number and protocol.
            let ports: Vec<Value> = ports
                .into_iter()
                .enumerate()
                .map(|(j, (protocol, host_port))| {
                    let port = base + j as i64;
                    let mut value =
                        json!({"name": format!("p{index}-{j}"), "protocol": protocol, "port": port});
                    if let Some(host_port) = host_port {
                        value["hostPort"] = json!(host_port);
                    }
                    value
                })
                .collect();
            json!({
                "name": format!("c{index}"),
                "image": image,
                "imagePullPolicy": pull,
                "command": command,
                "environment": environment,
                "requests": {"memory": format!("{}{}", memory.0, memory.1), "cpu": format!("{}{}", cpu.0, cpu.1)},
                "limits": {"memory": format!("{}{}", memory.0 * 2, memory.1), "cpu": format!("{}{}", cpu.0 * 2, cpu.1)},
                "ports": ports,
            })
        })
}

fn containers() -> impl Strategy<Value = Vec<Value>> {
    (1usize..4).prop_flat_map(|n| (0..n).map(container).collect::<Vec<_>>())
}

fn forwarders() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(
        (
            any::<bool>(),
            prop_oneof![
                "[a-z]{1,10}:[0-9]{2,5}".prop_map(|a| ("gRPC", a)),
                "https?://[a-z]{1,10}/[a-z]{0,8}".prop_map(|a| ("http", a)),
            ],
            prop_oneof![
                (1i64..60_000).prop_map(|t| json!(t)),
                (1i64..60_000).prop_map(|t| json!(t.to_string()))
            ],
        ),
        0..3,
    )
    .prop_map(|forwarders| {
        forwarders
            .into_iter()
            .enumerate()
            .map(|(i, (enable, (kind, address), timeout))| {
                json!({"name": format!("f{i}"), "enable": enable, "type": kind,
                    "address": address, "options": {"timeout": timeout, "metadata": {}}})
            })
            .collect()
    })
}

/// A scheduler that validation accepts, as a client writes it (some fields left to defaults).
fn valid_scheduler() -> impl Strategy<Value = Value> {
    (
        (scheduler_name(), "[A-Za-z0-9._-]{1,20}", 0i64..500),
        prop_oneof![
            (1u32..50).prop_map(|n| n.to_string()),
            (1u32..=100).prop_map(|n| format!("{n}%"))
        ],
        (1i64..60_000, 1i64..5000),
        (
            duration(),
            proptest::sample::select(&["Never", "OnFailure", "Always"][..]),
        ),
        containers(),
        forwarders(),
        proptest::collection::btree_map("[a-z]{1,8}(/[a-z]{1,8})?", "[a-z0-9]{0,20}", 0..3),
        (1i64..10, proptest::option::of((duration(), duration()))),
        any::<bool>(),
    )
        .prop_map(
            |(
                (name, game, replicas),
                max_surge,
                (start, width),
                (grace, restart),
                containers,
                forwarders,
                labels,
                (max_matches, timeouts),
                tokenless,
            )| {
                let mut body = json!({
                    "name": name, "game": game, "roomsReplicas": replicas, "maxSurge": max_surge,
                    "portRange": {"start": start, "end": start + width},
                    "spec": {"terminationGracePeriod": grace, "restartPolicy": restart,
                        "containers": containers},
                    "forwarders": forwarders, "labels": labels.clone(), "annotations": labels,
                    "matchAllocation": {"maxMatches": max_matches},
                    "allowTokenlessPings": tokenless,
                });
                if let Some((ping, termination)) = timeouts {
                    body["roomTimeouts"] = json!({"ping": ping.to_string().trim_matches('"'),
                        "termination": termination.to_string().trim_matches('"')});
                }
                body
            },
        )
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        // Binary fractions: they read back exactly.
        (-4000i32..4000).prop_map(|n| json!(f64::from(n) / 8.0)),
        ".{0,12}".prop_map(Value::String),
        "[a-z0-9%]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Places in a scheduler, as JSON pointers, with the field path the API names them by.
const PLACES: &[(&str, &str)] = &[
    ("/name", "name"),
    ("/game", "game"),
    ("/roomsReplicas", "roomsReplicas"),
    ("/maxSurge", "maxSurge"),
    ("/portRange", "portRange"),
    ("/portRange/start", "portRange.start"),
    ("/spec", "spec"),
    (
        "/spec/terminationGracePeriod",
        "spec.terminationGracePeriod",
    ),
    ("/spec/containers", "spec.containers"),
    ("/spec/containers/0", "spec.containers[0]"),
    ("/spec/containers/0/name", "spec.containers[0].name"),
    ("/spec/containers/0/requests", "spec.containers[0].requests"),
    (
        "/spec/containers/0/environment",
        "spec.containers[0].environment",
    ),
    ("/spec/containers/0/ports", "spec.containers[0].ports"),
    ("/forwarders", "forwarders"),
    ("/labels", "labels"),
    ("/matchAllocation", "matchAllocation"),
    ("/roomTimeouts", "roomTimeouts"),
    ("/autoscaling", "autoscaling"),
    ("/regions", "regions"),
];

fn set(body: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value;
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    if let Some(object) = body.pointer_mut(parent).and_then(Value::as_object_mut) {
        object.insert(key.to_string(), value);
    }
}

fn ping_body() -> impl Strategy<Value = (Value, Ping)> {
    (
        proptest::sample::select(
            RoomStatus::ALL
                .into_iter()
                .filter(|s| s.reportable())
                .collect::<Vec<_>>(),
        ),
        proptest::option::of((any::<i64>(), any::<bool>())),
        proptest::option::of(proptest::collection::btree_map(
            "[a-zA-Z]{1,8}",
            any_json(),
            0..4,
        )),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(status, timestamp, metadata, running_matches)| {
            let mut body = json!({"status": status.as_str()});
            if let Some((seconds, as_text)) = timestamp {
                body["timestamp"] = if as_text {
                    json!(seconds.to_string())
                } else {
                    json!(seconds)
                };
            }
            if let Some(metadata) = &metadata {
                body["metadata"] = json!(metadata);
            }
            if let Some(matches) = running_matches {
                body["runningMatches"] = json!(matches);
            }
            let ping = Ping {
                status,
                timestamp: timestamp.map(|(seconds, _)| seconds),
                metadata,
                running_matches,
            };
            (body, ping)
        })
}

// ---- Properties -------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What a client sends and validation accepts is read, and what the API writes of it reads
    /// back to the same scheduler (twice: the written form is stable).
    #[test]
    fn every_valid_scheduler_round_trips(body in valid_scheduler()) {
        let config: SchedulerConfig = refused_field(&body)
            .unwrap_or_else(|field| panic!("{field} refused in {body:#}"));
        prop_assert_eq!(config.validate(), Ok(()), "{:#}", body);
        let written = serde_json::to_value(&config).unwrap();
        let again: SchedulerConfig = refused_field(&written)
            .unwrap_or_else(|field| panic!("{field} refused in {written:#}"));
        prop_assert_eq!(&again, &config);
        prop_assert_eq!(serde_json::to_value(&again).unwrap(), written);
    }

    /// Any JSON is either read or refused with a field; what is read validates or names each
    /// field at fault. Nothing panics.
    #[test]
    fn any_json_is_read_or_refused_with_a_field(body in any_json()) {
        match refused_field::<SchedulerConfig>(&body) {
            Ok(config) => {
                if let Err(errors) = config.validate() {
                    prop_assert!(!errors.is_empty());
                    for error in errors {
                        prop_assert!(!error.field.is_empty(), "{:?}", error);
                        prop_assert!(!error.message.is_empty(), "{:?}", error);
                    }
                }
            }
            Err(field) => prop_assert!(!field.is_empty()),
        }
    }

    /// A valid scheduler with one field replaced by any JSON: when it can no longer be read,
    /// the field named is the one replaced or one inside it.
    #[test]
    fn a_replaced_field_is_named_when_it_cannot_be_read(
        body in valid_scheduler(),
        place in proptest::sample::select(PLACES),
        value in any_json(),
    ) {
        let (pointer, path) = place;
        let mut body = body;
        set(&mut body, pointer, value.clone());
        if let Err(field) = refused_field::<SchedulerConfig>(&body) {
            let inside = field == path
                || field.starts_with(&format!("{path}."))
                || field.starts_with(&format!("{path}["));
            prop_assert!(inside, "{} replaced by {} was reported at {}", path, value, field);
        }
    }

    /// A ping reads as sent, and what it reads as reads back to the same ping.
    #[test]
    fn every_ping_round_trips((body, expected) in ping_body()) {
        let ping: Ping = refused_field(&body)
            .unwrap_or_else(|field| panic!("{field} refused in {body}"));
        prop_assert_eq!(&ping, &expected);
        let again: Ping = refused_field(&serde_json::to_value(&ping).unwrap())
            .unwrap_or_else(|field| panic!("{field} refused"));
        prop_assert_eq!(again, ping);
    }

    /// A status rooms do not have is refused at `status`, whatever else the ping says.
    #[test]
    fn a_ping_with_an_unknown_status_names_status(
        (body, _) in ping_body(),
        status in any_json(),
    ) {
        let known = status
            .as_str()
            .is_some_and(|s| RoomStatus::parse(s).is_some());
        prop_assume!(!known);
        let mut body = body;
        body["status"] = status;
        let refused = refused_field::<Ping>(&body).err();
        prop_assert_eq!(refused.as_deref(), Some("status"));
    }

    /// Any JSON object as a ping (the body reader refuses anything else first) is read or
    /// refused with a field; missing the status names it.
    #[test]
    fn any_json_ping_is_read_or_refused_with_a_field(body in any_json()) {
        prop_assume!(body.is_object());
        match refused_field::<Ping>(&body) {
            Ok(ping) => prop_assert!(body.get("status").and_then(Value::as_str) == Some(ping.status.as_str())),
            Err(field) => {
                prop_assert!(!field.is_empty());
                if body.is_object() && body.get("status").is_none() {
                    prop_assert_eq!(field, "status");
                }
            }
        }
    }
}

/// Orchestrator-only statuses are read (the domain refuses them, at `status`: see
/// `api::error`), and out-of-range counts name their field.
#[test]
fn ping_fields_out_of_range_are_named() {
    for (body, field) in [
        (
            json!({"status": "ready", "runningMatches": -1}),
            "runningMatches",
        ),
        (
            json!({"status": "ready", "runningMatches": 1u64 << 40}),
            "runningMatches",
        ),
        (json!({"status": "ready", "timestamp": "soon"}), "timestamp"),
        (json!({"status": "ready", "metadata": [1]}), "metadata"),
        (json!({"runningMatches": 1}), "status"),
    ] {
        assert_eq!(
            refused_field::<Ping>(&body).err().as_deref(),
            Some(field),
            "{body}"
        );
    }
}
