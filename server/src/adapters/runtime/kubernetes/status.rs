//! Reading pods and nodes: the room a pod stands for, where players reach it, why it will not
//! serve. Pure functions, tested without a cluster.

use app::domain::room::{RoomAddress, RoomPort};
use app::ports::{RoomInstance, RuntimeError};
use k8s_openapi::api::core::v1::{ContainerPort, Node, Pod};
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::retry::{api_code, retry, runtime_error};
use super::{KubernetesRuntimeConfig, ROOM_LABEL, VERSION_LABEL};

/// Container waiting reasons that mean the room will not start.
const FAILED_WAITING_REASONS: [&str; 4] = [
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
];

/// The room instance a pod stands for, on a node reached at `host`.
pub fn room_instance(scheduler: &str, pod: &Pod, host: Option<&str>) -> RoomInstance {
    RoomInstance {
        scheduler: scheduler.to_string(),
        room: room_of(pod),
        version: pod.labels().get(VERSION_LABEL).cloned().unwrap_or_default(),
        address: pod_address(pod, host),
        machine: node_of(pod).map(str::to_string),
        crashed: crash_reason(pod),
    }
}

/// Where players reach the room: the node's host and the pod's host ports, named after the
/// container ports. `None` until the node is known and every container port has a host port.
pub fn pod_address(pod: &Pod, host: Option<&str>) -> Option<RoomAddress> {
    let host = host.filter(|host| !host.is_empty())?;
    let mut ports = Vec::new();
    for port in container_ports(pod) {
        let host_port = u16::try_from(port.host_port?).ok()?;
        ports.push(RoomPort {
            name: port.name.clone().unwrap_or_default(),
            protocol: port
                .protocol
                .as_deref()
                .unwrap_or("TCP")
                .to_ascii_lowercase(),
            port: host_port,
        });
    }
    Some(RoomAddress {
        host: host.to_string(),
        ports,
    })
}

/// Why the room's pod will not serve, if it will not: the pod failed, a container cannot start
/// (crash loop, image not pulled) or exited with an error. Pods being deleted are not crashing:
/// their containers are just being stopped.
pub fn crash_reason(pod: &Pod) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    for container in status.container_statuses.iter().flatten() {
        let Some(state) = &container.state else {
            continue;
        };
        if let Some(waiting) = &state.waiting
            && let Some(reason) = &waiting.reason
            && FAILED_WAITING_REASONS.contains(&reason.as_str())
        {
            return Some(with_message(
                format!("container {}: {reason}", container.name),
                waiting.message.as_deref(),
            ));
        }
        if let Some(terminated) = &state.terminated
            && terminated.exit_code != 0
        {
            let mut reason = format!(
                "container {} exited with code {}",
                container.name, terminated.exit_code
            );
            if let Some(why) = terminated.reason.as_deref().filter(|r| !r.is_empty()) {
                reason = format!("{reason} ({why})");
            }
            return Some(with_message(reason, terminated.message.as_deref()));
        }
    }
    if status.phase.as_deref() == Some("Failed") {
        let mut reason = "pod failed".to_string();
        if let Some(why) = status.reason.as_deref().filter(|r| !r.is_empty()) {
            reason = format!("{reason}: {why}");
        }
        return Some(with_message(reason, status.message.as_deref()));
    }
    None
}

/// The address players use for a node: its external IP, else its internal IP.
pub fn node_address(node: &Node) -> Option<String> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    ["ExternalIP", "InternalIP"].into_iter().find_map(|kind| {
        addresses
            .iter()
            .find(|address| address.type_ == kind && !address.address.is_empty())
            .map(|address| address.address.clone())
    })
}

fn with_message(reason: String, message: Option<&str>) -> String {
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(message) => format!("{reason}: {message}"),
        None => reason,
    }
}

pub(super) fn all_running(pod: &Pod) -> bool {
    let expected = pod.spec.as_ref().map_or(0, |spec| spec.containers.len());
    let statuses = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.as_deref())
        .unwrap_or_default();
    expected > 0
        && statuses.len() >= expected
        && statuses.iter().all(|container| {
            container
                .state
                .as_ref()
                .is_some_and(|state| state.running.is_some())
        })
}

pub(super) fn room_of(pod: &Pod) -> String {
    pod.labels()
        .get(ROOM_LABEL)
        .cloned()
        .unwrap_or_else(|| pod.name_any())
}

pub(super) fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|node| !node.is_empty())
}

pub(super) fn container_ports(pod: &Pod) -> impl Iterator<Item = &ContainerPort> {
    pod.spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .flat_map(|container| container.ports.iter().flatten())
}

pub(super) fn host_ports(pod: &Pod) -> Vec<u16> {
    container_ports(pod)
        .filter_map(|port| u16::try_from(port.host_port?).ok())
        .collect()
}

pub(super) async fn node_host(
    client: &Client,
    config: &KubernetesRuntimeConfig,
    node: &str,
) -> Result<Option<String>, RuntimeError> {
    let api: Api<Node> = Api::all(client.clone());
    match retry(config, || api.get(node)).await {
        Ok(found) => Ok(node_address(&found)),
        Err(error) if api_code(&error) == Some(404) => Ok(None),
        Err(error) => Err(runtime_error(&format!("reading node {node}"), error)),
    }
}
