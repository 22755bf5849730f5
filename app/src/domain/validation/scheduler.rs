//! `SchedulerConfig::validate`: the scheduler's own fields, then each concern in turn.

use std::collections::HashSet;

#[cfg(feature = "ssr")]
use super::allocation::validate_allocation;
use super::capacity::validate_capacity;
use super::containers::validate_container;
use super::names::{
    DNS_LABEL_RULE, is_dns_label, is_game_name, is_qualified_key, reserved_namespace,
};
use super::ports::validate_port_range;
use super::regions::validate_regions;
use super::{Errors, FieldError};
use crate::domain::autoscaling::validate_autoscaling;
use crate::domain::quantity::{MaxSurge, parse_duration_seconds};
use crate::domain::scheduler::{RESTART_POLICIES, SchedulerConfig};

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
        validate_port_range(self, &mut errors);
        validate_regions(self, &mut errors);
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
            let kind = crate::domain::forwarding::ForwarderKind::of(forwarder);
            errors.check(
                kind.is_some(),
                format!("{path}.type"),
                "must be \"gRPC\" or \"http\"",
            );
            errors.check(
                kind != Some(crate::domain::forwarding::ForwarderKind::Http)
                    || forwarder.address.starts_with("http://")
                    || forwarder.address.starts_with("https://"),
                format!("{path}.address"),
                "must be an http:// or https:// URL for an http forwarder",
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
        #[cfg(feature = "ssr")]
        if let Some(policy) = &self.allocation {
            validate_allocation(policy, &mut errors);
        }
        if let Some(autoscaling) = &self.autoscaling {
            validate_autoscaling(autoscaling, &self.spec.containers, &mut errors);
        }
        if let Some(capacity) = &self.capacity {
            validate_capacity(capacity, &mut errors);
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fields, valid};
    use super::*;
    use crate::domain::scheduler::*;

    #[test]
    fn the_seed_scheduler_is_valid() {
        assert_eq!(fields(&valid()), Vec::<String>::new());
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
                r#type: "kafka".into(),
                address: " ".into(),
                name: "other".into(),
                ..forwarder.clone()
            },
            Forwarder {
                r#type: "http".into(),
                name: "signed".into(),
                ..forwarder.clone()
            },
            Forwarder {
                r#type: "http".into(),
                address: "http://mm:8080/events".into(),
                name: "signed-ok".into(),
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
                "forwarders[3].address",
                "labels.bad key",
                "labels.team"
            ]
        );
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
