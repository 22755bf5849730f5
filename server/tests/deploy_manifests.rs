//! The Kubernetes manifests of `deploy/kubernetes/` and the `Dockerfile`, checked without a
//! cluster: every document parses into its `k8s-openapi` type with no field left over (a field
//! the type does not know is an error, named), the Deployment runs two replicas as the
//! ServiceAccount with its probes on `/healthz` and `/readyz`, its settings parse as Baton's
//! configuration and its secrets come from the Secret only; and (in `rbac`) the ClusterRole grants
//! exactly the API calls the Kubernetes runtime makes against a recording API server.
//!
//! ```sh
//! cargo test -p server --features app/ssr --test deploy_manifests
//! ```

#[path = "deploy_manifests/fake_cluster.rs"]
mod fake_cluster;
#[path = "deploy_manifests/objects.rs"]
mod objects;
#[path = "deploy_manifests/rbac.rs"]
mod rbac;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;

use clap::{ArgAction, CommandFactory, Parser};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use objects::{Manifests, Object, dropped_fields, manifests};
use serde_json::json;
use server::config::{Config, RuntimeKind};

#[test]
fn every_manifest_parses_into_its_type_with_no_unknown_field() {
    let manifests = manifests();
    let kinds: Vec<&str> = manifests
        .all
        .iter()
        .map(|(_, object)| object.kind())
        .collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ] {
        assert!(
            kinds.contains(&kind),
            "no {kind} in deploy/kubernetes: {kinds:?}"
        );
    }
}

#[test]
fn namespaced_objects_live_in_baton_s_namespace() {
    let manifests = manifests();
    let namespaces: Vec<&Option<String>> = manifests
        .all
        .iter()
        .filter_map(|(_, object)| match object {
            Object::Namespace(namespace) => Some(&namespace.metadata.name),
            _ => None,
        })
        .collect();
    assert_eq!(namespaces.len(), 1, "one Namespace");
    let namespace = namespaces[0];
    let account = manifests.service_account();
    for (what, found) in [
        ("ServiceAccount", &account.metadata.namespace),
        ("ConfigMap", &manifests.config_map().metadata.namespace),
        ("Secret", &manifests.secret().metadata.namespace),
        ("Deployment", &manifests.deployment().metadata.namespace),
        ("Service", &manifests.service().metadata.namespace),
        (
            "PodDisruptionBudget",
            &manifests.disruption_budget().metadata.namespace,
        ),
    ] {
        assert_eq!(found, namespace, "{what}");
    }
    for cluster_wide in [
        &manifests.cluster_role().metadata.namespace,
        &manifests.cluster_role_binding().metadata.namespace,
    ] {
        assert_eq!(cluster_wide, &None);
    }
}

/// The check itself: a misspelt or misplaced field is reported with its path, not dropped.
#[test]
fn an_unknown_field_is_named() {
    let original = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "baton"},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"app": "baton"}},
            "template": {"spec": {"containers": [{
                "name": "baton",
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "timeout": 1}},
            }]}},
        },
    });
    let typed: Deployment = serde_json::from_value(original.clone()).expect("a Deployment");
    let back = serde_json::to_value(&typed).expect("serializable");
    assert_eq!(
        dropped_fields(&original, &back),
        vec![
            "spec.replica".to_string(),
            "spec.template.spec.containers[0].livenessProbe.httpGet.timeout".to_string(),
        ]
    );
}

#[test]
fn the_deployment_runs_two_replicas_as_the_service_account() {
    let manifests = manifests();
    let deployment = manifests.deployment();
    let spec = deployment.spec.as_ref().expect("a Deployment spec");
    assert_eq!(spec.replicas, Some(2));
    let account = manifests.service_account();
    let pod = spec.template.spec.as_ref().expect("a pod template spec");
    assert_eq!(pod.service_account_name, account.metadata.name);
    assert_eq!(deployment.metadata.namespace, account.metadata.namespace);
    assert_ne!(pod.automount_service_account_token, Some(false));

    // The binding gives the ClusterRole to that ServiceAccount.
    let binding = manifests.cluster_role_binding();
    let role = manifests.cluster_role();
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subjects = binding.subjects.as_deref().unwrap_or_default();
    assert!(
        subjects.iter().any(|s| s.kind == "ServiceAccount"
            && Some(&s.name) == account.metadata.name.as_ref()
            && s.namespace == account.metadata.namespace),
        "the ClusterRoleBinding does not name the ServiceAccount: {subjects:?}"
    );

    // The Service and the disruption budget select the Deployment's pods.
    let labels = deployment_pod_labels(deployment);
    let service = manifests.service();
    let selector = service.spec.as_ref().and_then(|s| s.selector.clone());
    assert!(
        is_subset(selector.as_ref(), &labels),
        "{selector:?} vs {labels:?}"
    );
    let budget = manifests.disruption_budget();
    let selector = budget.spec.as_ref().and_then(|s| s.selector.as_ref());
    let selector = selector.and_then(|s| s.match_labels.clone());
    assert!(
        is_subset(selector.as_ref(), &labels),
        "{selector:?} vs {labels:?}"
    );
}

#[test]
fn probes_ask_healthz_and_readyz_on_the_served_port() {
    let manifests = manifests();
    let container = baton_container(manifests.deployment());
    let port = container_port(container, &IntOrString::String("http".into()));
    let config = deployed_config(&manifests);
    assert_eq!(
        Some(config.listen.port() as i32),
        port,
        "BATON_LISTEN vs containerPort"
    );
    assert!(config.listen.ip().is_unspecified(), "{}", config.listen);

    let get = |probe: Option<&Probe>, which: &str| -> HTTPGetAction {
        probe
            .and_then(|p| p.http_get.clone())
            .unwrap_or_else(|| panic!("no {which} HTTP probe"))
    };
    let liveness = get(container.liveness_probe.as_ref(), "liveness");
    let readiness = get(container.readiness_probe.as_ref(), "readiness");
    assert_eq!(liveness.path.as_deref(), Some("/healthz"));
    assert_eq!(readiness.path.as_deref(), Some("/readyz"));
    for probe in [&liveness, &readiness] {
        assert_eq!(container_port(container, &probe.port), port, "{probe:?}");
    }

    // The Service sends its port to the same container port.
    let service = manifests.service();
    let ports = service.spec.as_ref().and_then(|s| s.ports.clone());
    let ports = ports.unwrap_or_default();
    let target = ports.first().and_then(|p| p.target_port.clone());
    assert_eq!(target.and_then(|t| container_port(container, &t)), port);
}

#[test]
fn settings_come_from_the_config_map_and_parse_as_baton_s_configuration() {
    let manifests = manifests();
    let config = deployed_config(&manifests);
    assert_eq!(config.runtime, RuntimeKind::Kubernetes);
    assert!(config.database_url.starts_with("postgres://"));
    assert!(config.redis_url.is_some(), "two replicas share Redis");
    // Rooms, in namespaces of their own, call Baton back through its Service.
    let service = manifests.service();
    let (name, namespace) = (
        service.metadata.name.clone(),
        service.metadata.namespace.clone(),
    );
    let port = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default()[0]
        .port;
    let expected = format!(
        "http://{}.{}.svc.cluster.local:{port}",
        name.unwrap_or_default(),
        namespace.unwrap_or_default()
    );
    assert_eq!(config.api_url.as_deref(), Some(expected.as_str()));
}

/// Every secret setting is read from the Secret by key; none is written in the Deployment or the
/// ConfigMap, and every key the Deployment needs is in the Secret's template.
#[test]
fn secrets_come_from_the_secret_only() {
    let manifests = manifests();
    let secret = manifests.secret();
    let secret_name = secret.metadata.name.clone().expect("a Secret name");
    let template_keys: Vec<String> = secret
        .string_data
        .iter()
        .flatten()
        .map(|(key, _)| key.clone())
        .chain(secret.data.iter().flatten().map(|(key, _)| key.clone()))
        .collect();
    let container = baton_container(manifests.deployment());
    let env = container.env.as_deref().unwrap_or_default();
    let mut from_secret = Vec::new();
    for var in env {
        let reference = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref());
        match reference {
            Some(reference) => {
                assert_eq!(
                    reference.name, secret_name,
                    "{} reads another Secret",
                    var.name
                );
                assert!(
                    reference.optional == Some(true) || template_keys.contains(&reference.key),
                    "{} needs key {} that the Secret's template lacks",
                    var.name,
                    reference.key
                );
                from_secret.push(reference.key.clone());
            }
            None => assert!(!looks_secret(&var.name), "{} is written inline", var.name),
        }
    }
    for key in &template_keys {
        assert!(
            from_secret.contains(key),
            "Secret key {key} is read by nobody"
        );
    }
    for required in [
        "BATON_DATABASE_URL",
        "BATON_REDIS_URL",
        "BATON_ADMIN_PASSWORD",
    ] {
        assert!(
            from_secret.iter().any(|k| k == required),
            "{required} not read from the Secret"
        );
    }
    let config_map = manifests.config_map();
    for key in config_map.data.iter().flatten().map(|(key, _)| key) {
        assert!(!looks_secret(key), "ConfigMap key {key} looks secret");
    }
    // The only envFrom is the ConfigMap: a whole Secret poured into the environment would hide
    // which keys are read.
    for source in container.env_from.iter().flatten() {
        assert!(source.secret_ref.is_none(), "envFrom a Secret: {source:?}");
        assert_eq!(
            source.config_map_ref.as_ref().map(|r| &r.name),
            config_map.metadata.name.as_ref()
        );
    }
}

/// The image serves what the Deployment expects: its port, as the non-root user the pod runs as.
#[test]
fn the_dockerfile_matches_the_deployment() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Dockerfile");
    let dockerfile = std::fs::read_to_string(path).expect("the Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .collect();
    let stages = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "a multi-stage build: {stages} FROM");
    let manifests = manifests();
    let deployment = manifests.deployment();
    let container = baton_container(deployment);
    let port = container_port(container, &IntOrString::String("http".into()));
    assert!(
        instructions.contains(&format!("EXPOSE {}", port.unwrap_or_default()).as_str()),
        "EXPOSE {port:?}"
    );
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref());
    let security = pod
        .and_then(|p| p.security_context.as_ref())
        .expect("a pod securityContext");
    assert_eq!(security.run_as_non_root, Some(true));
    let user = security.run_as_user.expect("runAsUser");
    assert_ne!(user, 0);
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with(&format!("USER {user}"))),
        "the image's USER is not {user}"
    );
    let own = container
        .security_context
        .as_ref()
        .expect("a container securityContext");
    assert_eq!(own.read_only_root_filesystem, Some(true));
    assert_eq!(own.allow_privilege_escalation, Some(false));
    assert!(
        instructions
            .iter()
            .any(|l| l.contains("LEPTOS_SITE_ROOT=/app/site"))
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.contains("/src/target/site /app/site"))
    );
}

/// Names of settings that must never be written in plain text.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "REDIS_URL"]
        .iter()
        .any(|part| name.contains(part))
}

fn baton_container(deployment: &Deployment) -> &Container {
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref());
    let containers = pod.map(|p| p.containers.as_slice()).unwrap_or_default();
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn deployment_pod_labels(deployment: &Deployment) -> BTreeMap<String, String> {
    let template = deployment.spec.as_ref().map(|s| &s.template);
    template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn is_subset(
    selector: Option<&BTreeMap<String, String>>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.is_some_and(|selector| {
        !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    })
}

/// The container port a probe or Service port names (by name or number).
fn container_port(container: &Container, port: &IntOrString) -> Option<i32> {
    let ports = container.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(number) => ports
            .iter()
            .find(|p| p.container_port == *number)
            .map(|p| p.container_port),
        IntOrString::String(name) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port),
    }
}

/// Baton's configuration as the Deployment's environment gives it: the ConfigMap, the plain
/// variables, and the Secret's template values for its references. Every variable must be one
/// Baton reads (a misspelt name would otherwise be ignored).
fn deployed_config(manifests: &Manifests) -> Config {
    let mut environment: BTreeMap<String, String> = BTreeMap::new();
    let container = baton_container(manifests.deployment());
    let config_map = manifests.config_map();
    for source in container.env_from.iter().flatten() {
        if source.config_map_ref.as_ref().map(|r| &r.name) == config_map.metadata.name.as_ref() {
            environment.extend(config_map.data.clone().unwrap_or_default());
        }
    }
    let secret = manifests.secret().string_data.clone().unwrap_or_default();
    for EnvVar {
        name,
        value,
        value_from,
    } in container.env.iter().flatten()
    {
        let reference = value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref());
        match (value, reference) {
            (Some(value), _) => {
                environment.insert(name.clone(), value.clone());
            }
            (None, Some(reference)) => {
                if let Some(value) = secret.get(&reference.key) {
                    environment.insert(name.clone(), value.clone());
                }
            }
            (None, None) => panic!("{name} has neither a value nor a Secret reference"),
        }
    }
    config_from_environment(&environment)
}

/// Parses `environment` as the server would read it, each variable turned into its flag.
fn config_from_environment(environment: &BTreeMap<String, String>) -> Config {
    let command = Config::command();
    let mut args: Vec<OsString> = vec!["baton".into()];
    for (name, value) in environment {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name.as_str()))
            .unwrap_or_else(|| panic!("{name} is not a setting Baton reads"));
        let long = arg
            .get_long()
            .unwrap_or_else(|| panic!("{name} has no flag"));
        match arg.get_action() {
            ArgAction::SetTrue => {
                if !matches!(value.as_str(), "" | "0" | "false") {
                    args.push(format!("--{long}").into());
                }
            }
            _ => args.push(format!("--{long}={value}").into()),
        }
    }
    Config::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn a_misspelt_setting_is_refused() {
    let environment = BTreeMap::from([("BATON_LISTN".to_string(), "0.0.0.0:8080".to_string())]);
    let outcome = std::panic::catch_unwind(|| config_from_environment(&environment));
    let message = outcome
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned());
    assert_eq!(
        message.as_deref(),
        Some("BATON_LISTN is not a setting Baton reads")
    );
    // And a correct one is read.
    let listen: SocketAddr = "0.0.0.0:9000".parse().expect("an address");
    let environment = BTreeMap::from([("BATON_LISTEN".to_string(), listen.to_string())]);
    assert_eq!(config_from_environment(&environment).listen, listen);
}
