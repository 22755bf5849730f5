//! [`KubernetesMachines`]: the cluster's nodes as machines, and draining one (cordon, then
//! delete the free room pods on it).
//!
//! A node's machine ([`node_machine`], pure):
//! - id: the node's name; region: its `topology.kubernetes.io/region` label, else the region
//!   of the runtime;
//! - kind: the [`MachinesConfig::kind_label`] label (`bare-metal` or `cloud`), else
//!   [`MachinesConfig::default_kind`];
//! - spec: OS and version from `status.nodeInfo` (`operatingSystem`, `osImage`); cores, memory
//!   and ephemeral storage from `status.capacity`; core MHz and bandwidths (MB/s) from the
//!   labels of [`MachinesConfig`] (0 when absent);
//! - allocatable: `status.allocatable` cpu, memory, ephemeral-storage, and the labelled
//!   bandwidths;
//! - in use: the sum of the container requests (cpu, memory, ephemeral-storage) of the pods
//!   bound to the node that have not ended; bandwidths are not reserved (0);
//! - draining: cordoned (`spec.unschedulable`);
//! - rooms: Baton's room pods on the node (labels `baton.dev/scheduler` and `baton.dev/room`).

use std::collections::BTreeMap;

use app::domain::capacity::{Machine, MachineKind, MachineSpec, Resources};
use app::domain::quantity::parse_quantity;
use app::ports::{MachineReport, Machines, RuntimeError};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use super::retry::{api_code, retry, runtime_error};
use super::{FIELD_MANAGER, KubernetesRuntime, ROOM_LABEL, SCHEDULER_LABEL};

/// The well-known label of a node's region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// The well-known label of a node's OS (for node affinity).
pub const OS_LABEL: &str = "kubernetes.io/os";

/// Where a node's facts that Kubernetes does not know are read from (its labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachinesConfig {
    /// `bare-metal` or `cloud`; default `baton.dev/machine-kind`.
    pub kind_label: String,
    /// The kind of a node without that label; default cloud.
    pub default_kind: MachineKind,
    /// Core MHz, a whole number; default `baton.dev/core-mhz`.
    pub core_mhz_label: String,
    /// Disk bandwidth, MB/s; default `baton.dev/io-mbps`.
    pub io_mbps_label: String,
    /// Internet bandwidth, MB/s; default `baton.dev/inet-mbps`.
    pub inet_mbps_label: String,
}

impl Default for MachinesConfig {
    fn default() -> Self {
        Self {
            kind_label: "baton.dev/machine-kind".into(),
            default_kind: MachineKind::Cloud,
            core_mhz_label: "baton.dev/core-mhz".into(),
            io_mbps_label: "baton.dev/io-mbps".into(),
            inet_mbps_label: "baton.dev/inet-mbps".into(),
        }
    }
}

/// The nodes of the cluster a [`KubernetesRuntime`] drives, as machines.
#[derive(Clone)]
pub struct KubernetesMachines {
    runtime: KubernetesRuntime,
    region: String,
    config: MachinesConfig,
}

impl KubernetesRuntime {
    /// The cluster's nodes as machines (labels read as `config.machines` says); nodes without
    /// a region label are in `region`.
    pub fn machines(&self, region: &str) -> KubernetesMachines {
        KubernetesMachines {
            runtime: self.clone(),
            region: region.to_string(),
            config: self.config.machines.clone(),
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// cpu (millicores), memory (MB) and ephemeral storage (GB) of a quantity map; missing or
/// unreadable entries are 0.
fn amounts(map: Option<&BTreeMap<String, Quantity>>) -> (i64, i64, i64) {
    let read = |name: &str| {
        map.and_then(|map| map.get(name))
            .and_then(|quantity| parse_quantity(&quantity.0))
            .filter(|value| value.is_finite() && *value > 0.0)
            .unwrap_or(0.0)
    };
    (
        (read("cpu") * 1000.0).round() as i64,
        (read("memory") / MIB).floor() as i64,
        (read("ephemeral-storage") / GIB).floor() as i64,
    )
}

/// A whole number label of `node` (0 when absent or not a whole number).
fn number_label(node: &Node, label: &str) -> i64 {
    node.labels()
        .get(label)
        .and_then(|value| value.trim().parse::<i64>().ok())
        .filter(|value| *value >= 0)
        .unwrap_or(0)
}

/// What the containers of `pod` request, summed.
fn pod_requests(pod: &Pod) -> Resources {
    let mut total = Resources::default();
    for container in pod.spec.iter().flat_map(|spec| &spec.containers) {
        let requests = container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref());
        let (millicores, memory_mb, storage_gb) = amounts(requests);
        total = total.plus(&Resources {
            millicores,
            memory_mb,
            storage_gb,
            ..Resources::default()
        });
    }
    total
}

/// Whether the pod has ended (its requests no longer hold anything).
fn ended(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// `(scheduler, room)` when the pod is one of Baton's rooms.
fn room_of(pod: &Pod) -> Option<(String, String)> {
    let labels = pod.labels();
    Some((
        labels.get(SCHEDULER_LABEL)?.clone(),
        labels.get(ROOM_LABEL)?.clone(),
    ))
}

/// The machine `node` is, with `pods` (every pod of the cluster; those bound elsewhere are
/// skipped); `region` for a node without a region label.
pub fn node_machine(
    node: &Node,
    pods: &[Pod],
    config: &MachinesConfig,
    region: &str,
) -> MachineReport {
    let name = node.name_any();
    let labels = node.labels();
    let status = node.status.as_ref();
    let info = status.and_then(|s| s.node_info.as_ref());
    let (capacity_mc, capacity_mb, capacity_gb) = amounts(status.and_then(|s| s.capacity.as_ref()));
    let (millicores, memory_mb, storage_gb) = amounts(status.and_then(|s| s.allocatable.as_ref()));
    let io_mbps = number_label(node, &config.io_mbps_label);
    let inet_mbps = number_label(node, &config.inet_mbps_label);
    let kind = match labels.get(&config.kind_label).map(|k| k.trim()) {
        Some(k) if k.eq_ignore_ascii_case("bare-metal") => MachineKind::BareMetal,
        Some(k) if k.eq_ignore_ascii_case("cloud") => MachineKind::Cloud,
        _ => config.default_kind,
    };
    let mut in_use = Resources::default();
    let mut rooms = Vec::new();
    for pod in pods {
        let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&name);
        if !on_node || ended(pod) {
            continue;
        }
        in_use = in_use.plus(&pod_requests(pod));
        rooms.extend(room_of(pod));
    }
    rooms.sort();
    let machine = Machine {
        id: name.clone(),
        region: labels
            .get(REGION_LABEL)
            .cloned()
            .unwrap_or_else(|| region.to_string()),
        kind,
        spec: MachineSpec {
            os: info.map(|i| i.operating_system.clone()).unwrap_or_default(),
            os_version: info.map(|i| i.os_image.clone()).unwrap_or_default(),
            core_count: capacity_mc / 1000,
            core_mhz: number_label(node, &config.core_mhz_label),
            memory_mb: capacity_mb,
            storage_gb: capacity_gb,
            io_bandwidth_mbps: io_mbps,
            inet_bandwidth_mbps: inet_mbps,
        },
        allocatable: Resources {
            millicores,
            memory_mb,
            storage_gb,
            io_mbps,
            inet_mbps,
        },
        in_use,
        payloads: 0,
        busy_payloads: 0,
        draining: node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true),
    };
    MachineReport { machine, rooms }
}

#[async_trait]
impl Machines for KubernetesMachines {
    /// Lists the nodes and the pods that have not ended (two calls).
    async fn machines(&self) -> Result<Vec<MachineReport>, RuntimeError> {
        let (client, config) = (&self.runtime.client, &self.runtime.config);
        let nodes: Api<Node> = Api::all(client.clone());
        let every = ListParams::default();
        let nodes = retry(config, || nodes.list(&every))
            .await
            .map_err(|error| runtime_error("listing nodes", error))?
            .items;
        let pods: Api<Pod> = Api::all(client.clone());
        let live = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
        let pods = retry(config, || pods.list(&live))
            .await
            .map_err(|error| runtime_error("listing pods", error))?
            .items;
        Ok(nodes
            .iter()
            .map(|node| node_machine(node, &pods, &self.config, &self.region))
            .collect())
    }

    /// Cordons the node, then deletes Baton's room pods on it that are not `busy` (and their
    /// keys in their scheduler's Secret); busy rooms stay until they are free.
    async fn drain(&self, machine: &str, busy: &[String]) -> Result<(), RuntimeError> {
        let (client, config) = (&self.runtime.client, &self.runtime.config);
        let nodes: Api<Node> = Api::all(client.clone());
        let cordon = serde_json::json!({"spec": {"unschedulable": true}});
        let cordon = Patch::Merge(&cordon);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        retry(config, || nodes.patch(machine, &params, &cordon))
            .await
            .map_err(|error| runtime_error(&format!("cordoning node {machine}"), error))?;
        let pods: Api<Pod> = Api::all(client.clone());
        let on_node = ListParams::default()
            .fields(&format!("spec.nodeName={machine}"))
            .labels(&format!("{SCHEDULER_LABEL},{ROOM_LABEL}"));
        let pods = retry(config, || pods.list(&on_node))
            .await
            .map_err(|error| runtime_error(&format!("listing pods on node {machine}"), error))?
            .items;
        for pod in &pods {
            let Some((scheduler, room)) = room_of(pod) else {
                continue;
            };
            if busy.contains(&room) || ended(pod) {
                continue;
            }
            let namespace = pod.namespace().unwrap_or_else(|| scheduler.clone());
            let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            let name = pod.name_any();
            let params = DeleteParams::default();
            match retry(config, || api.delete(&name, &params)).await {
                Ok(_) => {}
                Err(error) if api_code(&error) == Some(404) => {}
                Err(error) => {
                    return Err(runtime_error(
                        &format!("deleting pod {namespace}/{name}"),
                        error,
                    ));
                }
            }
            tracing::info!(node = machine, %scheduler, %room, "room moved off a draining node");
            let Some((secret, keys)) = super::pod_secret_keys(pod) else {
                continue;
            };
            if let Err(error) = self
                .runtime
                .drop_secret_keys(&namespace, &secret, keys)
                .await
            {
                tracing::warn!(%scheduler, %room, %error, "removing a drained room's secrets failed");
            }
        }
        Ok(())
    }
}
