//! Validation of a scheduler: every error, each with the path of the field at fault
//! (`spec.containers[0].requests.memory`). Runs on the server and in the browser.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::autoscaling::validate_autoscaling;
use super::quantity::{MaxSurge, parse_duration_seconds, parse_quantity};
use super::scheduler::{
    Container, EnvironmentSource, EnvironmentVariable, RESTART_POLICIES, Resources, SchedulerConfig,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Path of the field at fault, e.g. `spec.containers[0].requests.memory`.
    pub field: String,
    pub message: String,
}

/// Collects errors while walking a value; empty means valid.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.add(field, message);
        }
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Kubernetes DNS-1123 subdomain: what Secrets may be called (labels joined by '.').
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Kubernetes DNS-1123 label: what namespaces, pods and containers may be called.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A key of a Kubernetes Secret's data: 1-253 letters, digits, '-', '_' or '.', not `.` or `..`.
pub fn is_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Kubernetes port name (IANA service name): at most 15 characters, at least one letter, no `--`.
pub fn is_port_name(name: &str) -> bool {
    name.len() <= 15
        && is_dns_label(name)
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.contains("--")
}

/// Environment variable names as Kubernetes accepts them.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Kubernetes label and annotation keys: an optional DNS prefix and `/`, then a name of at most
/// 63 alphanumerics, `-`, `_` and `.` that starts and ends alphanumeric.
pub fn is_qualified_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    let bytes = name.as_bytes();
    prefix_ok
        && !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn is_game_name(game: &str) -> bool {
    !game.is_empty()
        && game.len() <= 63
        && game
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Why a namespace may not be a scheduler's: Kubernetes made it or keeps the name for itself.
pub fn reserved_namespace(name: &str) -> Option<&'static str> {
    if name == "default" {
        Some("\"default\" is the namespace Kubernetes makes for itself")
    } else if name.starts_with("kube-") {
        Some("names starting with \"kube-\" are kept for Kubernetes' own namespaces")
    } else {
        None
    }
}

const DNS_LABEL_RULE: &str =
    "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit";

impl SchedulerConfig {
    /// Every problem with this configuration, or `Ok` when it can be stored and run.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Errors::default();
        // The name is also the scheduler's namespace on Kubernetes.
        if !is_dns_label(&self.name) {
            errors.add("name", DNS_LABEL_RULE);
        } else if let Some(reason) = reserved_namespace(&self.name) {
            errors.add("name", reason);
        }
        errors.check(
            self.name != "info",
            "name",
            "\"info\" is reserved (GET /schedulers/info)",
        );
        errors.check(
            is_game_name(&self.game),
            "game",
            "must be 1-63 letters, digits, '-', '_' or '.'",
        );
        errors.check(
            self.rooms_replicas >= 0,
            "roomsReplicas",
            "must be 0 or more",
        );
        errors.check(
            MaxSurge::parse(&self.max_surge).is_some(),
            "maxSurge",
            "must be a count of at least 1 (\"3\") or a percentage from 1% to 100% (\"10%\")",
        );
        match self.port_range {
            Some(range) => {
                errors.check(
                    (1..=65535).contains(&range.start),
                    "portRange.start",
                    "must be a port from 1 to 65535",
                );
                errors.check(
                    (1..=65536).contains(&range.end),
                    "portRange.end",
                    "must be from 2 to 65536 (the end is exclusive)",
                );
                errors.check(
                    range.start < range.end,
                    "portRange",
                    "start must be lower than end",
                );
            }
            None => {
                let needs_range = self
                    .spec
                    .containers
                    .iter()
                    .flat_map(|c| &c.ports)
                    // A hostPortRange is refused at its own field.
                    .any(|p| p.host_port.is_none() && p.host_port_range.is_none());
                errors.check(
                    !needs_range,
                    "portRange",
                    "is required when a container port has no hostPort",
                );
            }
        }
        errors.check(
            self.spec.termination_grace_period.seconds().is_some(),
            "spec.terminationGracePeriod",
            "must be a duration such as \"100s\" or \"2m\"",
        );
        errors.check(
            RESTART_POLICIES.contains(&self.spec.restart_policy.as_str()),
            "spec.restartPolicy",
            format!("must be one of {}", RESTART_POLICIES.join(", ")),
        );
        errors.check(
            !self.spec.containers.is_empty(),
            "spec.containers",
            "must have at least one container",
        );
        let mut container_names = HashSet::new();
        let mut port_names = HashSet::new();
        for (i, container) in self.spec.containers.iter().enumerate() {
            let path = format!("spec.containers[{i}]");
            if !container_names.insert(container.name.as_str()) {
                errors.add(format!("{path}.name"), "is used by another container");
            }
            validate_container(container, &path, &mut port_names, &mut errors);
        }
        let mut forwarder_names = HashSet::new();
        for (i, forwarder) in self.forwarders.iter().enumerate() {
            let path = format!("forwarders[{i}]");
            errors.check(
                !forwarder.name.is_empty(),
                format!("{path}.name"),
                "is required",
            );
            if !forwarder.name.is_empty() && !forwarder_names.insert(forwarder.name.as_str()) {
                errors.add(format!("{path}.name"), "is used by another forwarder");
            }
            errors.check(
                forwarder.r#type.eq_ignore_ascii_case("grpc"),
                format!("{path}.type"),
                "must be \"gRPC\"",
            );
            errors.check(
                !forwarder.address.trim().is_empty(),
                format!("{path}.address"),
                "is required",
            );
        }
        for (kind, map) in [("annotations", &self.annotations), ("labels", &self.labels)] {
            for (key, value) in map {
                errors.check(
                    is_qualified_key(key),
                    format!("{kind}.{key}"),
                    "is not a valid Kubernetes key",
                );
                if kind == "labels" {
                    errors.check(
                        value.len() <= 63,
                        format!("{kind}.{key}"),
                        "label values have at most 63 characters",
                    );
                }
            }
        }
        if let Some(timeouts) = &self.room_timeouts {
            for (name, value) in [
                ("initialization", &timeouts.initialization),
                ("ping", &timeouts.ping),
                ("termination", &timeouts.termination),
            ] {
                if let Some(value) = value {
                    errors.check(
                        parse_duration_seconds(value).is_some_and(|s| s >= 1.0),
                        format!("roomTimeouts.{name}"),
                        "must be a duration of at least one second, such as \"30s\"",
                    );
                }
            }
        }
        errors.check(
            self.match_allocation.max_matches >= 1,
            "matchAllocation.maxMatches",
            "must be at least 1",
        );
        if let Some(autoscaling) = &self.autoscaling {
            validate_autoscaling(autoscaling, &self.spec.containers, &mut errors);
        }
        errors.into_result()
    }
}

fn validate_container(
    container: &Container,
    path: &str,
    port_names: &mut HashSet<String>,
    errors: &mut Errors,
) {
    errors.check(
        is_dns_label(&container.name),
        format!("{path}.name"),
        DNS_LABEL_RULE,
    );
    errors.check(
        !container.image.trim().is_empty(),
        format!("{path}.image"),
        "is required",
    );
    errors.check(
        matches!(
            container.image_pull_policy.as_str(),
            "Always" | "Never" | "IfNotPresent"
        ),
        format!("{path}.imagePullPolicy"),
        "must be Always, Never or IfNotPresent",
    );
    let mut env_names = HashSet::new();
    for (j, env) in container.environment.iter().enumerate() {
        let field = format!("{path}.environment[{j}].name");
        if !is_env_name(&env.name) {
            errors.add(field, "must start with a letter, '_', '-' or '.' and hold only letters, digits, '_', '-' or '.'");
        } else if !env_names.insert(env.name.as_str()) {
            errors.add(field, "is set twice");
        }
        if let Some(source) = &env.value_from {
            validate_env_source(env, source, &format!("{path}.environment[{j}]"), errors);
        }
    }
    for (kind, resources) in [
        ("requests", &container.requests),
        ("limits", &container.limits),
    ] {
        if let Some(resources) = resources {
            validate_resources(resources, &format!("{path}.{kind}"), errors);
        }
    }
    if let (Some(requests), Some(limits)) = (&container.requests, &container.limits) {
        for (name, request, limit) in [
            ("memory", &requests.memory, &limits.memory),
            ("cpu", &requests.cpu, &limits.cpu),
        ] {
            if let (Some(request), Some(limit)) = (parse_quantity(request), parse_quantity(limit))
                && request > limit
            {
                errors.add(
                    format!("{path}.requests.{name}"),
                    format!("must not exceed limits.{name}"),
                );
            }
        }
    }
    let mut container_ports = HashSet::new();
    for (j, port) in container.ports.iter().enumerate() {
        let port_path = format!("{path}.ports[{j}]");
        if !is_port_name(&port.name) {
            errors.add(
                format!("{port_path}.name"),
                "must be 1-15 lowercase letters, digits or '-' with at least one letter",
            );
        } else if !port_names.insert(port.name.clone()) {
            errors.add(format!("{port_path}.name"), "is used by another port");
        }
        errors.check(
            ["tcp", "udp", "sctp"]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&port.protocol)),
            format!("{port_path}.protocol"),
            "must be tcp, udp or sctp",
        );
        errors.check(
            (1..=65535).contains(&port.port),
            format!("{port_path}.port"),
            "must be a port from 1 to 65535",
        );
        if !container_ports.insert((port.port, port.protocol.to_ascii_lowercase())) {
            errors.add(
                format!("{port_path}.port"),
                "is exposed twice with the same protocol",
            );
        }
        errors.check(
            port.host_port_range.is_none(),
            format!("{port_path}.hostPortRange"),
            "is not supported: set the scheduler's portRange instead",
        );
        if let Some(host_port) = port.host_port {
            errors.check(
                (1..=65535).contains(&host_port),
                format!("{port_path}.hostPort"),
                "must be a port from 1 to 65535",
            );
        }
    }
}

/// `valueFrom` names exactly one source, fully, and excludes a literal value.
fn validate_env_source(
    env: &EnvironmentVariable,
    source: &EnvironmentSource,
    path: &str,
    errors: &mut Errors,
) {
    let field = format!("{path}.valueFrom");
    if !env.value.is_empty() {
        errors.add(
            format!("{path}.value"),
            "cannot be set together with valueFrom",
        );
    }
    match (&source.field_ref, &source.secret_key_ref) {
        (Some(field_ref), None) => errors.check(
            !field_ref.field_path.trim().is_empty(),
            format!("{field}.fieldRef.fieldPath"),
            "is required",
        ),
        (None, Some(secret)) => {
            errors.check(
                is_dns_subdomain(&secret.name),
                format!("{field}.secretKeyRef.name"),
                "must be a Kubernetes name (lowercase letters, digits, '-' and '.')",
            );
            errors.check(
                is_secret_key(&secret.key),
                format!("{field}.secretKeyRef.key"),
                "must be 1-253 letters, digits, '-', '_' or '.'",
            );
        }
        _ => errors.add(field, "must name exactly one of fieldRef and secretKeyRef"),
    }
}

pub(crate) fn validate_resources(resources: &Resources, path: &str, errors: &mut Errors) {
    for (name, value) in [("memory", &resources.memory), ("cpu", &resources.cpu)] {
        if !value.is_empty() {
            errors.check(
                parse_quantity(value).is_some(),
                format!("{path}.{name}"),
                "must be a Kubernetes quantity such as \"100Mi\" or \"100m\"",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::autoscaling::{
        Autoscaling, MetricsTrigger, PolicyConfig, PolicyParameters, RoomOccupancyParameters,
        ScalingDirection,
    };
    use crate::domain::scheduler::*;

    pub fn valid() -> SchedulerConfig {
        serde_json::from_value(serde_json::json!({
            "name": "my-scheduler", "game": "my-game", "roomsReplicas": 1,
            "portRange": {"start": 20000, "end": 21000}, "maxSurge": "10%",
            "spec": {"terminationGracePeriod": "100s", "containers": [{
                "name": "game-container", "image": "game:1", "imagePullPolicy": "IfNotPresent",
                "command": ["./run"], "environment": [{"name": "EXAMPLE_NAME", "value": "x"}],
                "requests": {"memory": "100Mi", "cpu": "100m"},
                "limits": {"memory": "200Mi", "cpu": "200m"},
                "ports": [{"name": "port-name", "protocol": "tcp", "port": 12345}]}]},
            "forwarders": []
        }))
        .unwrap()
    }

    fn fields(config: &SchedulerConfig) -> Vec<String> {
        match config.validate() {
            Ok(()) => vec![],
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn the_seed_scheduler_is_valid() {
        assert_eq!(fields(&valid()), Vec::<String>::new());
    }

    #[test]
    fn names() {
        for good in ["a", "my-scheduler", "s1", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "A", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_port_name("http"));
        assert!(!is_port_name("1234"));
        assert!(!is_port_name("a--b"));
        assert!(!is_port_name("abcdefghijklmnop"));
        assert!(is_env_name("MAESTRO_ROOM_ID"));
        assert!(!is_env_name("1ABC"));
        assert!(!is_env_name("A B"));
        assert!(is_qualified_key("app.kubernetes.io/name"));
        assert!(is_qualified_key("team"));
        assert!(!is_qualified_key("/x"));
        assert!(!is_qualified_key("a b"));
    }

    #[test]
    fn names_kubernetes_keeps_for_itself_are_refused() {
        let errors = |name: &str| {
            let mut c = valid();
            c.name = name.into();
            c.validate().err().unwrap_or_default()
        };
        // The scheduler's namespace is named after it: never one Kubernetes made or reserves.
        for reserved in [
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "kube-anything",
        ] {
            let found = errors(reserved);
            assert_eq!(found.len(), 1, "{reserved}: {found:?}");
            assert_eq!(found[0].field, "name");
            assert!(found[0].message.contains("Kubernetes"), "{found:?}");
        }
        for fine in [
            "kube",
            "kubernetes",
            "my-kube-system",
            "defaults",
            "default-1",
        ] {
            assert_eq!(errors(fine), vec![], "{fine}");
        }
        // What no namespace may be called is refused once, for that.
        for bad in ["Default", "kube_system", "kube-", "a.b", &"a".repeat(64)] {
            let found = errors(bad);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(
                (found[0].field.as_str(), found[0].message.as_str()),
                ("name", DNS_LABEL_RULE)
            );
        }
    }

    #[test]
    fn secret_keys() {
        for good in [
            "token",
            "arena-abc.game.BATON_ROOM_TOKEN",
            "a_b",
            "..a",
            &"k".repeat(253),
        ] {
            assert!(is_secret_key(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ключ", &"k".repeat(254)] {
            assert!(!is_secret_key(bad), "{bad}");
        }
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let mut c = valid();
        c.name = "Bad_Name".into();
        c.game = String::new();
        c.rooms_replicas = -1;
        c.max_surge = "0".into();
        c.port_range = Some(PortRange {
            start: 3000,
            end: 2000,
        });
        c.spec.termination_grace_period = crate::domain::quantity::GracePeriod("soon".into());
        let container = &mut c.spec.containers[0];
        container.requests = Some(Resources {
            memory: "100MB".into(),
            cpu: "300m".into(),
        });
        container.image = String::new();
        container.image_pull_policy = "Sometimes".into();
        container
            .environment
            .push(EnvironmentVariable::plain("1BAD", ""));
        container.ports.push(ContainerPort {
            name: "port-name".into(),
            protocol: "http".into(),
            port: 70000,
            host_port: Some(0),
            host_port_range: None,
        });
        c.spec.containers.push(c.spec.containers[0].clone());
        assert_eq!(
            fields(&c)[..16],
            [
                "name",
                "game",
                "roomsReplicas",
                "maxSurge",
                "portRange",
                "spec.terminationGracePeriod",
                "spec.containers[0].image",
                "spec.containers[0].imagePullPolicy",
                "spec.containers[0].environment[1].name",
                "spec.containers[0].requests.memory",
                "spec.containers[0].requests.cpu",
                "spec.containers[0].ports[1].name",
                "spec.containers[0].ports[1].protocol",
                "spec.containers[0].ports[1].port",
                "spec.containers[0].ports[1].hostPort",
                "spec.containers[1].name",
            ]
        );
    }

    #[test]
    fn room_timeouts_are_durations() {
        let mut c = valid();
        c.room_timeouts = Some(RoomTimeouts {
            initialization: Some("2m".into()),
            ping: Some("soon".into()),
            termination: Some("0s".into()),
        });
        assert_eq!(
            fields(&c),
            ["roomTimeouts.ping", "roomTimeouts.termination"]
        );
    }

    #[test]
    fn port_range_bounds() {
        let mut c = valid();
        c.port_range = Some(PortRange {
            start: 0,
            end: 70000,
        });
        assert_eq!(fields(&c), ["portRange.start", "portRange.end"]);
        c.port_range = None;
        assert_eq!(fields(&c), ["portRange"]);
        c.spec.containers[0].ports[0].host_port = Some(7000);
        assert_eq!(fields(&c), Vec::<String>::new());
    }

    #[test]
    fn containers_and_ports_must_be_unique_and_present() {
        let mut c = valid();
        c.spec.containers.clear();
        assert_eq!(fields(&c), ["spec.containers"]);
        let mut c = valid();
        let mut second = c.spec.containers[0].clone();
        second.name = "sidecar".into();
        c.spec.containers.push(second);
        assert_eq!(fields(&c), ["spec.containers[1].ports[0].name"]);
    }

    #[test]
    fn forwarders_labels_and_annotations() {
        let mut c = valid();
        let forwarder = Forwarder {
            name: "events".into(),
            enable: true,
            r#type: "gRPC".into(),
            address: "fwd:8080".into(),
            options: ForwarderOptions::default(),
        };
        c.forwarders = vec![
            forwarder.clone(),
            forwarder.clone(),
            Forwarder {
                r#type: "http".into(),
                address: " ".into(),
                name: "other".into(),
                ..forwarder
            },
        ];
        c.labels.insert("bad key".into(), "v".into());
        c.labels.insert("team".into(), "x".repeat(64));
        c.annotations
            .insert("example.com/owner".into(), "x".repeat(500));
        assert_eq!(
            fields(&c),
            [
                "forwarders[1].name",
                "forwarders[2].type",
                "forwarders[2].address",
                "labels.bad key",
                "labels.team"
            ]
        );
    }

    fn trigger(kind: &str, usage: i64) -> MetricsTrigger {
        MetricsTrigger {
            r#type: kind.into(),
            usage,
            threshold: 80,
            time: 600,
            limit: None,
        }
    }

    fn triggers(up: Vec<MetricsTrigger>) -> Autoscaling {
        Autoscaling {
            enabled: true,
            min: 1,
            max: 10,
            cooldown: 0,
            policy: None,
            up: Some(ScalingDirection {
                metrics_trigger: up,
                cooldown: 300,
            }),
            down: None,
            enable_panic_scale: false,
            requests: None,
        }
    }

    #[test]
    fn autoscaling_triggers() {
        let mut c = valid();
        c.autoscaling = Some(triggers(vec![trigger("room", 70), trigger("cpu", 60)]));
        assert_eq!(fields(&c), Vec::<String>::new());

        let mut bad = trigger("gpu", 0);
        bad.threshold = 101;
        bad.time = 0;
        bad.limit = Some(50);
        let mut auto = triggers(vec![bad]);
        auto.min = 5;
        auto.max = 2;
        c.autoscaling = Some(auto);
        assert_eq!(
            fields(&c),
            [
                "autoscaling.max",
                "autoscaling.up.metricsTrigger[0].type",
                "autoscaling.up.metricsTrigger[0].usage",
                "autoscaling.up.metricsTrigger[0].threshold",
                "autoscaling.up.metricsTrigger[0].time",
            ]
        );
    }

    #[test]
    fn resource_triggers_need_requests() {
        let mut c = valid();
        c.spec.containers[0].requests = None;
        c.spec.containers[0].limits = None;
        c.autoscaling = Some(triggers(vec![trigger("mem", 70)]));
        assert_eq!(fields(&c), ["autoscaling.up.metricsTrigger[0].type"]);
        let mut auto = triggers(vec![trigger("mem", 70)]);
        auto.requests = Some(Resources {
            memory: "1Gi".into(),
            cpu: "1000m".into(),
        });
        c.autoscaling = Some(auto);
        assert_eq!(fields(&c), Vec::<String>::new());
    }

    #[test]
    fn autoscaling_policies() {
        let mut c = valid();
        let policy = |kind: &str, parameters| Autoscaling {
            policy: Some(PolicyConfig {
                r#type: kind.into(),
                parameters,
            }),
            up: None,
            ..triggers(vec![])
        };
        c.autoscaling = Some(policy(
            "roomOccupancy",
            PolicyParameters::room_occupancy(0.5, 0.9),
        ));
        assert_eq!(fields(&c), Vec::<String>::new());
        // No downThreshold: Maestro's default applies.
        c.autoscaling = Some(
            serde_json::from_value(serde_json::json!({"enabled": true, "min": 1, "max": -1,
                "policy": {"type": "roomOccupancy", "parameters": {"roomOccupancy": {"readyTarget": 0.5}}}}))
            .unwrap(),
        );
        assert_eq!(fields(&c), Vec::<String>::new());
        c.autoscaling = Some(policy(
            "roomOccupancy",
            PolicyParameters {
                room_occupancy: Some(RoomOccupancyParameters {
                    ready_target: Some(1.5),
                    down_threshold: 1.0,
                }),
                fixed_buffer: None,
            },
        ));
        assert_eq!(
            fields(&c),
            [
                "autoscaling.policy.parameters.roomOccupancy.readyTarget",
                "autoscaling.policy.parameters.roomOccupancy.downThreshold"
            ]
        );
        c.autoscaling = Some(policy("roomOccupancy", PolicyParameters::default()));
        assert_eq!(
            fields(&c),
            ["autoscaling.policy.parameters.roomOccupancy.readyTarget"]
        );
        c.autoscaling = Some(policy("fixedBuffer", PolicyParameters::default()));
        assert_eq!(
            fields(&c),
            ["autoscaling.policy.parameters.fixedBuffer.amount"]
        );
        c.autoscaling = Some(policy("magic", PolicyParameters::default()));
        assert_eq!(fields(&c), ["autoscaling.policy.type"]);
        c.autoscaling = Some(Autoscaling {
            up: None,
            ..triggers(vec![])
        });
        assert_eq!(fields(&c), ["autoscaling"]);
    }

    #[test]
    fn maestro_fields_with_defaults_and_their_limits() {
        let mut c = valid();
        assert_eq!(c.spec.restart_policy, "Never");
        assert_eq!(c.match_allocation.max_matches, 1);
        c.spec.restart_policy = "OnFailure".into();
        assert_eq!(fields(&c), Vec::<String>::new());
        c.spec.restart_policy = "Sometimes".into();
        c.match_allocation.max_matches = 0;
        c.spec.containers[0].ports[0].host_port_range = Some(PortRange {
            start: 1000,
            end: 2000,
        });
        assert_eq!(
            fields(&c),
            [
                "spec.restartPolicy",
                "spec.containers[0].ports[0].hostPortRange",
                "matchAllocation.maxMatches"
            ]
        );
    }
}
