//! Where a room's pod may go (pure): the scheduler's `affinity` key, and, with a capacity
//! section, requests from the payload quota and node affinity from the minimum spec, so that
//! the Kubernetes scheduler places a room only where its quota fits and on a machine that meets
//! the spec.
//!
//! - Requests: when no container of the spec requests anything, the first container requests
//!   the payload quota (`cpu`, `memory` in Mi, `ephemeral-storage` in Gi; zero amounts left
//!   out). A spec with its own requests keeps them.
//! - Node affinity, one term, every expression required: `<affinity> In [true]` (the spec's
//!   key), `kubernetes.io/os In [<os>]`, and `<label> Gt [<min - 1>]` for the minimum core MHz,
//!   disk and internet bandwidth, on the labels of [`MachinesConfig`]: nodes without those
//!   labels do not match a spec asking for them. Cores, memory and storage are left to the
//!   requests; the OS version has no well-known label and is not expressed.

use std::collections::BTreeMap;

use app::domain::capacity::Resources;
use app::domain::scheduler::Scheduler;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::machines::{MachinesConfig, OS_LABEL};

/// The requests of the first container when the scheduler has a capacity section and no
/// container requests anything.
pub(super) fn quota_requests(scheduler: &Scheduler) -> Option<BTreeMap<String, Quantity>> {
    let capacity = scheduler.config.capacity.as_ref()?;
    let spec_requests = scheduler.config.spec.containers.iter().any(|container| {
        container
            .requests
            .as_ref()
            .is_some_and(|r| !r.cpu.is_empty() || !r.memory.is_empty())
    });
    if spec_requests {
        return None;
    }
    let quota = Resources::from(&capacity.payload_quota);
    let map: BTreeMap<String, Quantity> = [
        ("cpu", quota.millicores, "m"),
        ("memory", quota.memory_mb, "Mi"),
        ("ephemeral-storage", quota.storage_gb, "Gi"),
    ]
    .into_iter()
    .filter(|(_, amount, _)| *amount > 0)
    .map(|(name, amount, unit)| (name.to_string(), Quantity(format!("{amount}{unit}"))))
    .collect();
    (!map.is_empty()).then_some(map)
}

fn requirement(key: &str, operator: &str, value: String) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_string(),
        operator: operator.to_string(),
        values: Some(vec![value]),
    }
}

/// The pod's required node affinity, `None` when nothing is required.
pub(super) fn node_affinity(scheduler: &Scheduler, labels: &MachinesConfig) -> Option<Affinity> {
    let mut expressions = Vec::new();
    let key = &scheduler.config.spec.affinity;
    if !key.is_empty() {
        expressions.push(requirement(key, "In", "true".to_string()));
    }
    if let Some(capacity) = &scheduler.config.capacity {
        let min = &capacity.machine_min_spec;
        let os = min.os.trim();
        if !os.is_empty() {
            expressions.push(requirement(OS_LABEL, "In", os.to_ascii_lowercase()));
        }
        for (label, at_least) in [
            (&labels.core_mhz_label, min.core_mhz),
            (&labels.io_mbps_label, min.io_bandwidth_mbps),
            (&labels.inet_mbps_label, min.inet_bandwidth_mbps),
        ] {
            if at_least > 0 && !label.is_empty() {
                expressions.push(requirement(label, "Gt", (at_least - 1).to_string()));
            }
        }
    }
    (!expressions.is_empty()).then(|| Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(expressions),
                    ..NodeSelectorTerm::default()
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    })
}
