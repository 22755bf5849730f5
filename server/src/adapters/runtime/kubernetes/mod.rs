//! Room instances as Kubernetes pods, the way Maestro v10 runs them: one namespace per scheduler
//! (named after it), one pod per room (named after the room id), host ports from the scheduler's
//! port range.
//!
//! Least privilege: Baton creates each scheduler's namespace with its own labels
//! ([`baton_labels`]), never adopts one it did not create and never deletes one without them;
//! secret variables (the room token) travel in Secrets shared by the rooms created together
//! (see `secrets`), which pods only reference.
//!
//! Every API call is retried with exponential backoff on 429, 5xx and connection errors; 409
//! (already exists) is an answer, never retried; other 4xx answers become
//! [`RuntimeError::Rejected`]. Every call (each attempt) first passes the client-side limit
//! ([`ApiLimits`]: 40 calls in flight and 2,000 started per second by default), so a large
//! scale-up reaches the API server as a steady stream. What a pod means for its room is decided by pure functions
//! ([`room_pod`], [`room_instance`], [`pod_events`]) so it is tested without a cluster.

mod limits;
mod logs;
mod machines;
mod metrics;
mod namespaces;
mod placement;
mod pods;
mod ports;
mod retry;
mod secrets;
mod status;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{DeleteParams, PostParams};

pub use limits::{ApiLimits, DEFAULT_MAX_IN_FLIGHT, DEFAULT_PER_SECOND, TokenBucket};
pub use machines::{KubernetesMachines, MachinesConfig, OS_LABEL, REGION_LABEL, node_machine};
pub use metrics::pod_usage;
pub use namespaces::{MANAGED_BY, MANAGED_BY_LABEL, baton_labels, is_baton_owned};
pub use pods::{room_pod, room_pod_placed};
pub use secrets::{
    BATCH_ROOMS, SECRET_ANNOTATION, batch_secret_name, pod_secret_keys, room_secret_data,
    secret_key,
};
pub use status::{crash_reason, node_address, pod_address, room_instance};
pub use watch::{PodSighting, pod_events};

use ports::{AbandonedCreation, PortBook, port_needs, port_range};
use retry::{api_code, retry, runtime_error};
use status::{host_ports, node_host, node_of};

/// Label with the scheduler's name, on the namespace, every Secret and every pod.
pub const SCHEDULER_LABEL: &str = "baton.dev/scheduler";
/// Label with the room id, on every pod.
pub const ROOM_LABEL: &str = "baton.dev/room";
/// Label with the scheduler version the room was created from, on every pod.
pub const VERSION_LABEL: &str = "baton.dev/version";
/// The field manager Baton's writes are recorded under.
const FIELD_MANAGER: &str = "baton";

/// How persistent the runtime is with the API server.
#[derive(Clone, Debug)]
pub struct KubernetesRuntimeConfig {
    /// Attempts per API call on 429, 5xx and connection errors (at least one is made).
    pub attempts: u32,
    /// Delay before the first retry; it doubles with every further retry (with jitter).
    pub base_delay: Duration,
    /// Upper bound of one retry delay.
    pub max_delay: Duration,
    /// How long one API call (not a watch) may take before it counts as a connection failure.
    pub call_timeout: Duration,
    /// How old this process's view of a scheduler's host ports may get before creating a room
    /// lists the scheduler's pods again (it is also refreshed when the range looks exhausted).
    pub port_resync: Duration,
    /// The node labels of machine facts Kubernetes does not know (kind, core MHz, bandwidths):
    /// read by [`KubernetesMachines`] and used in the node affinity of a scheduler's minimum spec.
    pub machines: MachinesConfig,
    /// The client-side limit on API calls (calls in flight, calls started per second), shared
    /// by every runtime made with this configuration.
    pub limits: ApiLimits,
}

impl Default for KubernetesRuntimeConfig {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            port_resync: Duration::from_secs(30),
            machines: MachinesConfig::default(),
            limits: ApiLimits::default(),
        }
    }
}

/// The [`Runtime`] that runs rooms as pods on a Kubernetes cluster.
#[derive(Clone)]
pub struct KubernetesRuntime {
    client: Client,
    config: KubernetesRuntimeConfig,
    ports: Arc<PortBook>,
    /// Namespaces known to exist and to be Baton's, so that only a scheduler's first room
    /// creates (or checks) its namespace.
    known_namespaces: Arc<Mutex<HashSet<String>>>,
    /// Held while a namespace not yet known is checked, so that it is checked once.
    namespace_checks: Arc<tokio::sync::Mutex<()>>,
    /// Rooms waiting for their batch Secret, per scheduler.
    secret_batches: Arc<secrets::SecretBatches>,
}

impl KubernetesRuntime {
    pub fn new(client: Client) -> Self {
        Self::with_config(client, KubernetesRuntimeConfig::default())
    }

    pub fn with_config(client: Client, config: KubernetesRuntimeConfig) -> Self {
        Self {
            client,
            config,
            ports: Arc::default(),
            known_namespaces: Arc::default(),
            namespace_checks: Arc::default(),
            secret_batches: Arc::default(),
        }
    }

    /// The same runtime, with this client-side limit on its API calls.
    pub fn with_api_limits(mut self, limits: ApiLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// The same runtime, reading nodes' machine facts from the labels `machines` names.
    pub fn with_machine_labels(mut self, machines: MachinesConfig) -> Self {
        self.config.machines = machines;
        self
    }

    /// Connects with the standard configuration: `KUBECONFIG` (or `~/.kube/config`) when present,
    /// the pod's service account when running in a cluster (as `kube::Client::try_default` does).
    ///
    /// The client's own retry layer is turned off: this runtime retries, with bounded attempts.
    pub async fn from_environment() -> Result<Self, RuntimeError> {
        let unusable = |error: &dyn std::fmt::Display| {
            RuntimeError::Unavailable(format!(
                "no usable Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): {error}"
            ))
        };
        let mut config = kube::Config::infer()
            .await
            .map_err(|error| unusable(&error))?;
        config.default_retry = false;
        let client = Client::try_from(config).map_err(|error| unusable(&error))?;
        Ok(Self::new(client))
    }

    /// The cluster of `context` in the kubeconfig (`KUBECONFIG` or `~/.kube/config`), or, with
    /// no context, as [`KubernetesRuntime::from_environment`] finds it.
    pub async fn from_context(context: Option<&str>) -> Result<Self, RuntimeError> {
        let Some(context) = context else {
            return Self::from_environment().await;
        };
        let kubeconfig = kube::config::Kubeconfig::read().map_err(|error| {
            RuntimeError::Unavailable(format!(
                "no kubeconfig (KUBECONFIG or ~/.kube/config) for context {context}: {error}"
            ))
        })?;
        let config = client_config(kubeconfig, context).await?;
        let client = Client::try_from(config).map_err(|error| {
            RuntimeError::Unavailable(format!("kubeconfig context {context}: {error}"))
        })?;
        Ok(Self::new(client))
    }

    /// Writes the room's secret variables (into a batch Secret), then posts its pod naming that
    /// Secret; a namespace deleted behind our back is made again once (and the variables written
    /// again, since they went with it). Answers the pod and the Secret its keys are in.
    async fn create_room(
        &self,
        scheduler: &Scheduler,
        room: &str,
        env: &[EnvironmentVariable],
        assigned: &[u16],
    ) -> Result<(Pod, Option<String>), RuntimeError> {
        let name = scheduler.config.name.as_str();
        let mut namespace_recreated = false;
        loop {
            let data = room_secret_data(scheduler, room, env)?;
            let secret = self.put_room_secrets(name, room, data).await?;
            let pod = room_pod_placed(
                scheduler,
                room,
                env,
                assigned,
                secret.as_deref(),
                &self.config.machines,
            );
            match self.post_pod(name, room, &pod).await {
                Ok(Some(created)) => return Ok((created, secret)),
                Ok(None) if !namespace_recreated => {
                    self.forget_namespace(name);
                    self.ensure_namespace(name).await?;
                    namespace_recreated = true;
                }
                Ok(None) => {
                    return Err(RuntimeError::Unavailable(format!(
                        "creating pod {name}/{room}: namespace {name} keeps disappearing"
                    )));
                }
                Err(error) => {
                    // The pod was refused: its keys serve nobody (when it may exist, they
                    // stay for it).
                    if let (RuntimeError::Rejected(_), Some(secret)) = (&error, &secret) {
                        let keys = room_secret_data(scheduler, room, env)?.into_keys();
                        if let Err(error) = self.drop_secret_keys(name, secret, keys).await {
                            tracing::warn!(scheduler = name, room, %error, "removing a refused room's secrets failed");
                        }
                    }
                    return Err(error);
                }
            }
        }
    }
}

/// The client configuration of `context` in `kubeconfig`, with the client's own retries off
/// (this runtime retries).
pub async fn client_config(
    kubeconfig: kube::config::Kubeconfig,
    context: &str,
) -> Result<kube::Config, RuntimeError> {
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|error| {
            RuntimeError::Unavailable(format!("kubeconfig context {context}: {error}"))
        })?;
    config.default_retry = false;
    Ok(config)
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    async fn create_instance(
        &self,
        scheduler: &Scheduler,
        room: &str,
        env: &[EnvironmentVariable],
    ) -> Result<RoomInstance, RuntimeError> {
        let name = scheduler.config.name.as_str();
        // Refuse a room whose variables cannot be kept before reserving anything for it.
        room_secret_data(scheduler, room, env)?;
        let (fixed, needed) = port_needs(scheduler);
        let range = if needed > 0 {
            Some(port_range(scheduler)?)
        } else {
            None
        };
        self.ensure_namespace(name).await?;
        let assigned = match range {
            Some(range) => {
                self.reserve_ports(name, room, &fixed, needed, range)
                    .await?
            }
            None => Vec::new(),
        };
        let planned = room_pod_placed(scheduler, room, env, &assigned, None, &self.config.machines);
        let abandoned = range.map(|_| AbandonedCreation {
            book: &self.ports,
            scheduler: name,
            room,
            ports: host_ports(&planned),
            armed: true,
        });
        let created = self.create_room(scheduler, room, env, &assigned).await;
        if let Some(abandoned) = abandoned {
            abandoned.disarm();
            self.ports.with(name, |ports| match &created {
                Ok((created, _)) => ports.settle(room, host_ports(created)),
                // The pod may exist after all: hold its ports until a listing says otherwise.
                Err(RuntimeError::Unavailable(_)) => ports.settle(room, host_ports(&planned)),
                Err(_) => ports.cancel(room),
            });
        }
        created.map(|(created, _)| room_instance(name, &created, None))
    }

    /// Deletes the room's pod, then (best effort) its keys in its batch Secret, named by the pod
    /// the deletion answers: the pod's containers read them when they started.
    async fn delete_instance(&self, scheduler: &Scheduler, room: &str) -> Result<(), RuntimeError> {
        let name = scheduler.config.name.as_str();
        let api = self.pods(name);
        let mut params = DeleteParams::default();
        if let Some(seconds) = scheduler.config.spec.termination_grace_period.seconds() {
            params = params.grace_period(u32::try_from(seconds).unwrap_or(u32::MAX));
        }
        let deleted = match retry(&self.config, || api.delete(room, &params)).await {
            // The pod being deleted, or (`Right`) the status of one already gone.
            Ok(deleted) => deleted.left(),
            Err(error) if api_code(&error) == Some(404) => None,
            Err(error) => return Err(runtime_error(&format!("deleting pod {name}/{room}"), error)),
        };
        if let Some((secret, keys)) = deleted.as_ref().and_then(pod_secret_keys)
            && let Err(error) = self.drop_secret_keys(name, &secret, keys).await
        {
            tracing::warn!(scheduler = name, room, %error, "removing a deleted room's secrets failed");
        }
        Ok(())
    }

    async fn instances(&self, scheduler: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
        let pods = self.sync_ports(scheduler).await?;
        let nodes: BTreeSet<&str> = pods.iter().filter_map(node_of).collect();
        // All at once: the client-side limit paces them (one after another, a hundred nodes
        // took longer than a tick).
        let hosts: HashMap<&str, Option<String>> =
            futures::future::try_join_all(nodes.into_iter().map(|node| async move {
                node_host(&self.client, &self.config, node)
                    .await
                    .map(|host| (node, host))
            }))
            .await?
            .into_iter()
            .collect();
        Ok(pods
            .iter()
            .map(|pod| {
                let host = node_of(pod).and_then(|node| hosts.get(node)?.as_deref());
                room_instance(scheduler, pod, host)
            })
            .collect())
    }

    fn watch(&self, scheduler: &str) -> BoxStream<'static, InstanceEvent> {
        self.pod_watch(scheduler)
    }

    /// Reads the `PodMetrics` of the scheduler's pods from the metrics API.
    async fn usage(&self, scheduler: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
        self.pod_usages(scheduler).await
    }

    /// The last lines of each container of the room's pod (the pod log API).
    async fn logs(&self, scheduler: &str, room: &str) -> Vec<String> {
        self.pod_logs(scheduler, room).await
    }

    /// Deletes the scheduler's namespace (its pods and Secrets with it) when it is Baton's.
    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError> {
        let removed = self.delete_namespace(scheduler).await;
        self.forget_namespace(scheduler);
        self.ports.forget(scheduler);
        removed
    }

    /// Twice as many as calls may be in flight: a creation spends about half its time off the
    /// API server (the room store, waiting for its batch Secret), so this keeps every slot
    /// busy, while the client-side limit still decides what reaches the server.
    fn creations_at_once(&self) -> usize {
        self.config.limits.max_in_flight().saturating_mul(2)
    }
}

fn scheduler_selector(scheduler: &str) -> String {
    format!("{SCHEDULER_LABEL}={scheduler}")
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
