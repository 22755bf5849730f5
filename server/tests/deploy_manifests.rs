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

#[path = "deploy_manifests/api_calls.rs"]
mod api_calls;
#[path = "deploy_manifests/fake_cluster.rs"]
mod fake_cluster;
#[path = "deploy_manifests/objects.rs"]
mod objects;
#[path = "deploy_manifests/rbac.rs"]
mod rbac;
#[path = "deploy_manifests/security.rs"]
mod security;
#[path = "deploy_manifests/settings.rs"]
mod settings;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use objects::{Object, dropped_fields, manifests};
use serde_json::json;
use settings::deployed_config;

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
