//! What the pod may do, and the image it runs.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::objects::{Object, manifests};
use super::{baton_container, container_port};

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

/// The namespace enforces the `restricted` Pod Security Standard, and Baton's pod meets its
/// rules: non-root, no privilege escalation, every capability dropped, RuntimeDefault seccomp,
/// no host namespaces or ports, only ephemeral and projected volumes.
#[test]
fn the_pod_meets_the_restricted_pod_security_standard() {
    let manifests = manifests();
    let labels = manifests.all.iter().find_map(|(_, object)| match object {
        Object::Namespace(namespace) => namespace.metadata.labels.clone(),
        _ => None,
    });
    let enforced = labels.and_then(|l| l.get("pod-security.kubernetes.io/enforce").cloned());
    assert_eq!(enforced.as_deref(), Some("restricted"));

    let deployment = manifests.deployment();
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref());
    let pod = pod.expect("a pod template spec");
    assert_ne!(pod.host_network, Some(true));
    assert_ne!(pod.host_pid, Some(true));
    assert_ne!(pod.host_ipc, Some(true));
    let security = pod
        .security_context
        .as_ref()
        .expect("a pod securityContext");
    assert_eq!(security.run_as_non_root, Some(true));
    let seccomp = security.seccomp_profile.as_ref().map(|p| p.type_.as_str());
    assert_eq!(seccomp, Some("RuntimeDefault"));
    for volume in pod.volumes.iter().flatten() {
        let allowed = volume.empty_dir.is_some()
            || volume.config_map.is_some()
            || volume.secret.is_some()
            || volume.projected.is_some();
        assert!(
            allowed,
            "volume {} is not ephemeral or projected",
            volume.name
        );
    }
    for container in &pod.containers {
        let own = container
            .security_context
            .as_ref()
            .expect("a container securityContext");
        assert_eq!(
            own.allow_privilege_escalation,
            Some(false),
            "{}",
            container.name
        );
        assert_ne!(own.privileged, Some(true), "{}", container.name);
        let dropped = own.capabilities.as_ref().and_then(|c| c.drop.clone());
        assert_eq!(dropped, Some(vec!["ALL".to_string()]), "{}", container.name);
        let added = own.capabilities.as_ref().and_then(|c| c.add.clone());
        assert_eq!(added, None, "{}", container.name);
        for port in container.ports.iter().flatten() {
            assert_eq!(port.host_port, None, "{}: a host port", container.name);
        }
    }
}
