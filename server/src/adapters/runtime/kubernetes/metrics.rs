//! Room usage from the resource metrics API (`metrics.k8s.io`, served by metrics-server).

use std::collections::BTreeMap;

use app::domain::quantity::parse_quantity;
use app::ports::{InstanceUsage, RuntimeError};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

use super::retry::{api_code, retry, runtime_error};
use super::{KubernetesRuntime, ROOM_LABEL, scheduler_selector};

/// Group and version of the resource metrics API (served by metrics-server).
const METRICS_GROUP: &str = "metrics.k8s.io";
const METRICS_VERSION: &str = "v1beta1";

impl KubernetesRuntime {
    /// Reads the `PodMetrics` of the scheduler's pods from the metrics API.
    pub(super) async fn pod_usages(
        &self,
        scheduler: &str,
    ) -> Result<Vec<InstanceUsage>, RuntimeError> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), scheduler, &pod_metrics_resource());
        let params = ListParams::default().labels(&scheduler_selector(scheduler));
        let metrics = match retry(&self.config, || api.list(&params)).await {
            Ok(list) => list.items,
            Err(error) if api_code(&error) == Some(404) => {
                return Err(RuntimeError::Unavailable(format!(
                    "the metrics API {METRICS_GROUP}/{METRICS_VERSION} is not served \
                     (is metrics-server installed?): {error}"
                )));
            }
            Err(error) => {
                return Err(runtime_error(
                    &format!("reading pod metrics of {scheduler}"),
                    error,
                ));
            }
        };
        let mut usages: Vec<InstanceUsage> = metrics
            .iter()
            .filter_map(|metrics| match pod_usage(metrics) {
                Ok(usage) => usage,
                Err(problem) => {
                    let pod = metrics.name_any();
                    tracing::warn!(scheduler, pod, %problem, "unreadable pod metrics; left out");
                    None
                }
            })
            .collect();
        usages.sort_by(|a, b| a.room.cmp(&b.room));
        Ok(usages)
    }
}

/// `PodMetrics` of the metrics API, read as a [`DynamicObject`] (k8s-openapi has no type for it).
fn pod_metrics_resource() -> ApiResource {
    let kind = GroupVersionKind::gvk(METRICS_GROUP, METRICS_VERSION, "PodMetrics");
    ApiResource::from_gvk_with_plural(&kind, "pods")
}

/// The body of a `PodMetrics` beside its metadata.
#[derive(serde::Deserialize)]
struct PodMetricsBody {
    #[serde(default)]
    containers: Vec<ContainerMetrics>,
}

#[derive(serde::Deserialize)]
struct ContainerMetrics {
    #[serde(default)]
    name: String,
    usage: BTreeMap<String, Quantity>,
}

/// A room's usage from its pod's `PodMetrics`: the sum of its containers' `cpu` and `memory`.
/// `None` when the pod has no container metrics yet; an error when the metrics are malformed.
pub fn pod_usage(metrics: &DynamicObject) -> Result<Option<InstanceUsage>, String> {
    use serde::Deserialize;
    let body = PodMetricsBody::deserialize(&metrics.data).map_err(|error| error.to_string())?;
    if body.containers.is_empty() {
        return Ok(None);
    }
    let mut cpu_cores = 0.0;
    let mut memory_bytes = 0.0;
    for container in &body.containers {
        let read = |resource: &str| {
            let text = &container
                .usage
                .get(resource)
                .ok_or_else(|| format!("container {:?} has no {resource} usage", container.name))?
                .0;
            parse_quantity(text).ok_or_else(|| {
                format!(
                    "container {:?} has an invalid {resource} usage {text:?}",
                    container.name
                )
            })
        };
        cpu_cores += read("cpu")?;
        memory_bytes += read("memory")?;
    }
    let room = metrics
        .labels()
        .get(ROOM_LABEL)
        .cloned()
        .unwrap_or_else(|| metrics.name_any());
    Ok(Some(InstanceUsage {
        room,
        cpu_cores,
        memory_bytes,
    }))
}
