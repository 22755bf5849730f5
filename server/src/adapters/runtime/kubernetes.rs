//! Room instances as Kubernetes pods, the way Maestro v10 runs them: one namespace per scheduler
//! (named after it), one pod per room (named after the room id), host ports from the scheduler's
//! port range.
//!
//! Every API call is retried with exponential backoff on 429, 5xx and connection errors; other
//! 4xx answers become [`RuntimeError::Rejected`]. What a pod means for its room is decided by pure
//! functions ([`room_pod`], [`room_instance`], [`pod_events`]) so it is tested without a cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use app::domain::quantity::parse_quantity;
use app::domain::room::{RoomAddress, RoomPort};
use app::domain::scheduler::{EnvironmentVariable, Resources, Scheduler};
use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvVar, Namespace, Node, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, ResourceRequirements, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

/// Label with the scheduler's name, on the namespace and on every pod.
pub const SCHEDULER_LABEL: &str = "baton.dev/scheduler";
/// Label with the room id, on every pod.
pub const ROOM_LABEL: &str = "baton.dev/room";
/// Label with the scheduler version the room was created from, on every pod.
pub const VERSION_LABEL: &str = "baton.dev/version";
/// The field manager Baton's writes are recorded under.
const FIELD_MANAGER: &str = "baton";
/// Group and version of the resource metrics API (served by metrics-server).
const METRICS_GROUP: &str = "metrics.k8s.io";
const METRICS_VERSION: &str = "v1beta1";

/// Container waiting reasons that mean the room will not start.
const FAILED_WAITING_REASONS: [&str; 4] = [
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
];

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
}

impl Default for KubernetesRuntimeConfig {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            port_resync: Duration::from_secs(30),
        }
    }
}

/// The [`Runtime`] that runs rooms as pods on a Kubernetes cluster.
#[derive(Clone)]
pub struct KubernetesRuntime {
    client: Client,
    config: KubernetesRuntimeConfig,
    ports: Arc<PortBook>,
    /// Namespaces known to exist, so that only a scheduler's first room creates its namespace.
    namespaces: Arc<Mutex<HashSet<String>>>,
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
            namespaces: Arc::default(),
        }
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

    fn pods(&self, scheduler: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), scheduler)
    }

    fn forget_namespace(&self, scheduler: &str) {
        lock(&self.namespaces).remove(scheduler);
    }

    /// Creates the scheduler's namespace unless this process already knows it exists.
    async fn ensure_namespace(&self, scheduler: &str) -> Result<(), RuntimeError> {
        if lock(&self.namespaces).contains(scheduler) {
            return Ok(());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(scheduler.to_string()),
                labels: Some(BTreeMap::from([(
                    SCHEDULER_LABEL.to_string(),
                    scheduler.to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let params = post_params();
        match retry(&self.config, || api.create(&params, &namespace)).await {
            Ok(_) => {}
            Err(error) if api_code(&error) == Some(409) => {}
            Err(error) => {
                return Err(runtime_error(
                    &format!("creating namespace {scheduler}"),
                    error,
                ));
            }
        }
        lock(&self.namespaces).insert(scheduler.to_string());
        Ok(())
    }

    async fn list_pods(&self, scheduler: &str) -> Result<Vec<Pod>, RuntimeError> {
        let api = self.pods(scheduler);
        let params = ListParams::default().labels(&scheduler_selector(scheduler));
        retry(&self.config, || api.list(&params))
            .await
            .map(|list| list.items)
            .map_err(|error| runtime_error(&format!("listing pods of {scheduler}"), error))
    }

    /// Lists the scheduler's pods and records the host ports they hold.
    async fn sync_ports(&self, scheduler: &str) -> Result<Vec<Pod>, RuntimeError> {
        let started = self.ports.with(scheduler, SchedulerPorts::begin_sync);
        let pods = self.list_pods(scheduler).await?;
        self.ports.with(scheduler, |ports| {
            let held = pods.iter().map(|pod| (room_of(pod), host_ports(pod)));
            ports.finish_sync(started, held, Instant::now());
        });
        Ok(pods)
    }

    /// Host ports from `range` for the `needed` container ports of `room` that have none.
    async fn reserve_ports(
        &self,
        scheduler: &str,
        room: &str,
        fixed: &[u16],
        needed: usize,
        range: (u32, u32),
    ) -> Result<Vec<u16>, RuntimeError> {
        let max_age = self.config.port_resync;
        let stale = self
            .ports
            .with(scheduler, |ports| ports.is_stale(Instant::now(), max_age));
        if stale {
            self.sync_ports(scheduler).await?;
        }
        let reserve = |ports: &mut SchedulerPorts| ports.reserve(room, fixed, needed, range);
        if let Some(assigned) = self.ports.with(scheduler, reserve) {
            return Ok(assigned);
        }
        if !stale {
            // Rooms may have gone since the last look: look again before giving up.
            self.sync_ports(scheduler).await?;
            if let Some(assigned) = self.ports.with(scheduler, reserve) {
                return Ok(assigned);
            }
        }
        Err(RuntimeError::PortsExhausted(scheduler.to_string()))
    }

    async fn post_pod(&self, scheduler: &str, room: &str, pod: &Pod) -> Result<Pod, RuntimeError> {
        let api = self.pods(scheduler);
        let params = post_params();
        let mut namespace_recreated = false;
        loop {
            match retry(&self.config, || api.create(&params, pod)).await {
                Ok(created) => return Ok(created),
                // Already there: fine when it is this room's pod (an earlier attempt went through).
                Err(error) if api_code(&error) == Some(409) => {
                    return self.existing_pod(scheduler, room).await;
                }
                // The namespace was deleted behind our back: make it again, once.
                Err(error) if api_code(&error) == Some(404) && !namespace_recreated => {
                    self.forget_namespace(scheduler);
                    self.ensure_namespace(scheduler).await?;
                    namespace_recreated = true;
                }
                Err(error) => {
                    return Err(runtime_error(
                        &format!("creating pod {scheduler}/{room}"),
                        error,
                    ));
                }
            }
        }
    }

    async fn existing_pod(&self, scheduler: &str, room: &str) -> Result<Pod, RuntimeError> {
        let api = self.pods(scheduler);
        let pod = retry(&self.config, || api.get(room))
            .await
            .map_err(|error| runtime_error(&format!("reading pod {scheduler}/{room}"), error))?;
        let labels = pod.labels();
        let ours = labels.get(SCHEDULER_LABEL).map(String::as_str) == Some(scheduler)
            && labels.get(ROOM_LABEL).map(String::as_str) == Some(room);
        if ours {
            Ok(pod)
        } else {
            Err(RuntimeError::Rejected(format!(
                "pod {scheduler}/{room} already exists and is not this room's"
            )))
        }
    }
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
        let pod = room_pod(scheduler, room, env, &assigned);
        let abandoned = range.map(|_| AbandonedCreation {
            book: &self.ports,
            scheduler: name,
            room,
            ports: host_ports(&pod),
            armed: true,
        });
        let created = self.post_pod(name, room, &pod).await;
        if let Some(abandoned) = abandoned {
            abandoned.disarm();
            self.ports.with(name, |ports| match &created {
                Ok(created) => ports.settle(room, host_ports(created)),
                // The pod may exist after all: hold its ports until a listing says otherwise.
                Err(RuntimeError::Unavailable(_)) => ports.settle(room, host_ports(&pod)),
                Err(_) => ports.cancel(room),
            });
        }
        created.map(|created| room_instance(name, &created, None))
    }

    async fn delete_instance(&self, scheduler: &Scheduler, room: &str) -> Result<(), RuntimeError> {
        let name = scheduler.config.name.as_str();
        let api = self.pods(name);
        let mut params = DeleteParams::default();
        if let Some(seconds) = scheduler.config.spec.termination_grace_period.seconds() {
            params = params.grace_period(u32::try_from(seconds).unwrap_or(u32::MAX));
        }
        match retry(&self.config, || api.delete(room, &params)).await {
            Ok(_) => Ok(()),
            Err(error) if api_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(runtime_error(&format!("deleting pod {name}/{room}"), error)),
        }
    }

    async fn instances(&self, scheduler: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
        let pods = self.sync_ports(scheduler).await?;
        let nodes: BTreeSet<&str> = pods.iter().filter_map(node_of).collect();
        let mut hosts = HashMap::new();
        for node in nodes {
            hosts.insert(node, node_host(&self.client, &self.config, node).await?);
        }
        Ok(pods
            .iter()
            .map(|pod| {
                let host = node_of(pod).and_then(|node| hosts.get(node)?.as_deref());
                room_instance(scheduler, pod, host)
            })
            .collect())
    }

    fn watch(&self, scheduler: &str) -> BoxStream<'static, InstanceEvent> {
        let config = watcher::Config::default().labels(&scheduler_selector(scheduler));
        let events = watcher::watcher(self.pods(scheduler), config)
            .default_backoff()
            .boxed();
        let watch = PodWatch {
            scheduler: scheduler.to_string(),
            events,
            client: self.client.clone(),
            config: self.config.clone(),
            ports: self.ports.clone(),
            seen: HashMap::new(),
            listing: None,
            hosts: HashMap::new(),
            ready: VecDeque::new(),
        };
        futures::stream::unfold(watch, |mut watch| async move {
            let event = watch.next().await?;
            Some((event, watch))
        })
        .boxed()
    }

    /// Reads the `PodMetrics` of the scheduler's pods from the metrics API.
    async fn usage(&self, scheduler: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
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

    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let params = DeleteParams::default();
        match retry(&self.config, || api.delete(scheduler, &params)).await {
            Ok(_) => {}
            Err(error) if api_code(&error) == Some(404) => {}
            Err(error) => {
                return Err(runtime_error(
                    &format!("deleting namespace {scheduler}"),
                    error,
                ));
            }
        }
        self.forget_namespace(scheduler);
        self.ports.forget(scheduler);
        Ok(())
    }
}

// ----------------------------------------------------------------------------------------------
// Watching
// ----------------------------------------------------------------------------------------------

/// The state behind a [`Runtime::watch`] stream: what was last seen of each room's pod.
struct PodWatch {
    scheduler: String,
    events: BoxStream<'static, Result<watcher::Event<Pod>, watcher::Error>>,
    client: Client,
    config: KubernetesRuntimeConfig,
    ports: Arc<PortBook>,
    seen: HashMap<String, PodSighting>,
    /// Rooms listed so far while the watcher (re)lists the pods.
    listing: Option<HashSet<String>>,
    /// Addresses of the nodes met so far.
    hosts: HashMap<String, String>,
    ready: VecDeque<InstanceEvent>,
}

impl PodWatch {
    async fn next(&mut self) -> Option<InstanceEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            match self.events.next().await? {
                Ok(event) => self.apply(event).await,
                // The watcher starts over by itself, after a backoff.
                Err(error) => {
                    tracing::warn!(scheduler = %self.scheduler, %error, "watching pods failed")
                }
            }
        }
    }

    async fn apply(&mut self, event: watcher::Event<Pod>) {
        match event {
            watcher::Event::Init => self.listing = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let Some(listing) = &mut self.listing {
                    listing.insert(room_of(&pod));
                }
                self.sighted(&pod).await;
            }
            watcher::Event::InitDone => {
                // After a relist, the rooms it did not show went while the watch was down.
                if let Some(listing) = self.listing.take() {
                    let gone: Vec<String> = self
                        .seen
                        .keys()
                        .filter(|room| !listing.contains(*room))
                        .cloned()
                        .collect();
                    for room in gone {
                        self.gone(room);
                    }
                }
            }
            watcher::Event::Apply(pod) => self.sighted(&pod).await,
            watcher::Event::Delete(pod) => self.gone(room_of(&pod)),
        }
    }

    async fn sighted(&mut self, pod: &Pod) {
        let room = room_of(pod);
        self.ports.with(&self.scheduler, |ports| {
            ports.observe(&room, host_ports(pod))
        });
        let host = match node_of(pod) {
            Some(node) => self.host(node).await,
            None => None,
        };
        let (events, sighting) =
            pod_events(&self.scheduler, self.seen.get(&room), pod, host.as_deref());
        self.seen.insert(room, sighting);
        self.ready.extend(events);
    }

    fn gone(&mut self, room: String) {
        self.seen.remove(&room);
        self.ports
            .with(&self.scheduler, |ports| ports.release(&room));
        self.ready.push_back(InstanceEvent::Gone {
            scheduler: self.scheduler.clone(),
            room,
        });
    }

    async fn host(&mut self, node: &str) -> Option<String> {
        if let Some(host) = self.hosts.get(node) {
            return Some(host.clone());
        }
        match node_host(&self.client, &self.config, node).await {
            Ok(Some(host)) => {
                self.hosts.insert(node.to_string(), host.clone());
                Some(host)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(scheduler = %self.scheduler, node, %error, "reading node failed");
                None
            }
        }
    }
}

/// What was last seen of one room's pod; every field only ever turns on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSighting {
    pub running: bool,
    pub address: Option<RoomAddress>,
    pub crashed: bool,
}

/// What happened to a room, given what was seen of its pod before (`None`: never) and the pod
/// now, on a node reached at `host`. Returns the events, in order, and what is seen now.
pub fn pod_events(
    scheduler: &str,
    seen: Option<&PodSighting>,
    pod: &Pod,
    host: Option<&str>,
) -> (Vec<InstanceEvent>, PodSighting) {
    let room = room_of(pod);
    let before = seen.cloned().unwrap_or_default();
    let mut now = before.clone();
    let mut events = Vec::new();
    if seen.is_none() {
        events.push(InstanceEvent::Created {
            scheduler: scheduler.to_string(),
            room: room.clone(),
        });
    }
    if !before.running && all_running(pod) {
        now.running = true;
        events.push(InstanceEvent::Running {
            scheduler: scheduler.to_string(),
            room: room.clone(),
        });
    }
    if let Some(address) = pod_address(pod, host)
        && before.address.as_ref() != Some(&address)
    {
        now.address = Some(address.clone());
        events.push(InstanceEvent::AddressKnown {
            scheduler: scheduler.to_string(),
            room: room.clone(),
            address,
        });
    }
    if !before.crashed
        && let Some(reason) = crash_reason(pod)
    {
        now.crashed = true;
        events.push(InstanceEvent::Crashed {
            scheduler: scheduler.to_string(),
            room,
            reason,
        });
    }
    (events, now)
}

// ----------------------------------------------------------------------------------------------
// Pods and nodes
// ----------------------------------------------------------------------------------------------

/// The pod of room `room`: `assigned` are the host ports for the container ports without one, in
/// the order of the containers and their ports.
pub fn room_pod(
    scheduler: &Scheduler,
    room: &str,
    env: &[EnvironmentVariable],
    assigned: &[u16],
) -> Pod {
    let config = &scheduler.config;
    let spec = &config.spec;
    let mut labels = config.labels.clone();
    labels.insert(SCHEDULER_LABEL.to_string(), config.name.clone());
    labels.insert(ROOM_LABEL.to_string(), room.to_string());
    labels.insert(VERSION_LABEL.to_string(), scheduler.version.clone());

    let mut assigned = assigned.iter().copied();
    let containers = spec
        .containers
        .iter()
        .map(|container| {
            let ports: Vec<ContainerPort> = container
                .ports
                .iter()
                .map(|port| ContainerPort {
                    name: Some(port.name.clone()),
                    container_port: port.port as i32,
                    protocol: Some(port.protocol.to_ascii_uppercase()),
                    host_port: match port.host_port {
                        Some(host_port) => Some(host_port as i32),
                        None => assigned.next().map(i32::from),
                    },
                    ..ContainerPort::default()
                })
                .collect();
            // The caller's variables win over the container's own of the same name.
            let env: Vec<EnvVar> = container
                .environment
                .iter()
                .filter(|var| !env.iter().any(|given| given.name == var.name))
                .chain(env)
                .map(|var| EnvVar {
                    name: var.name.clone(),
                    value: Some(var.value.clone()),
                    ..EnvVar::default()
                })
                .collect();
            let requests = quantities(container.requests.as_ref());
            let limits = quantities(container.limits.as_ref());
            Container {
                name: container.name.clone(),
                image: Some(container.image.clone()),
                image_pull_policy: non_empty(&container.image_pull_policy),
                command: (!container.command.is_empty()).then(|| container.command.clone()),
                env: (!env.is_empty()).then_some(env),
                resources: (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
                    requests,
                    limits,
                    ..ResourceRequirements::default()
                }),
                ports: (!ports.is_empty()).then_some(ports),
                ..Container::default()
            }
        })
        .collect();

    Pod {
        metadata: ObjectMeta {
            name: Some(room.to_string()),
            labels: Some(labels),
            annotations: (!config.annotations.is_empty()).then(|| config.annotations.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers,
            restart_policy: Some(spec.restart_policy.clone()),
            termination_grace_period_seconds: spec
                .termination_grace_period
                .seconds()
                .map(|seconds| i64::try_from(seconds).unwrap_or(i64::MAX)),
            tolerations: non_empty(&spec.toleration).map(|key| {
                vec![Toleration {
                    key: Some(key),
                    operator: Some("Equal".to_string()),
                    value: Some("true".to_string()),
                    effect: Some("NoSchedule".to_string()),
                    ..Toleration::default()
                }]
            }),
            affinity: non_empty(&spec.affinity).map(|key| Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key,
                                operator: "In".to_string(),
                                values: Some(vec!["true".to_string()]),
                            }]),
                            ..NodeSelectorTerm::default()
                        }],
                    }),
                    ..NodeAffinity::default()
                }),
                ..Affinity::default()
            }),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// The room instance a pod stands for, on a node reached at `host`.
pub fn room_instance(scheduler: &str, pod: &Pod, host: Option<&str>) -> RoomInstance {
    RoomInstance {
        scheduler: scheduler.to_string(),
        room: room_of(pod),
        version: pod.labels().get(VERSION_LABEL).cloned().unwrap_or_default(),
        address: pod_address(pod, host),
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

fn all_running(pod: &Pod) -> bool {
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

fn room_of(pod: &Pod) -> String {
    pod.labels()
        .get(ROOM_LABEL)
        .cloned()
        .unwrap_or_else(|| pod.name_any())
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|node| !node.is_empty())
}

fn container_ports(pod: &Pod) -> impl Iterator<Item = &ContainerPort> {
    pod.spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .flat_map(|container| container.ports.iter().flatten())
}

fn host_ports(pod: &Pod) -> Vec<u16> {
    container_ports(pod)
        .filter_map(|port| u16::try_from(port.host_port?).ok())
        .collect()
}

async fn node_host(
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

fn quantities(resources: Option<&Resources>) -> Option<BTreeMap<String, Quantity>> {
    let resources = resources?;
    let map: BTreeMap<String, Quantity> = [("cpu", &resources.cpu), ("memory", &resources.memory)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_string(), Quantity(value.clone())))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
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

/// The host ports fixed in the spec, and how many container ports need one from the range.
fn port_needs(scheduler: &Scheduler) -> (Vec<u16>, usize) {
    let ports = scheduler
        .config
        .spec
        .containers
        .iter()
        .flat_map(|container| &container.ports);
    let mut fixed = Vec::new();
    let mut needed = 0;
    for port in ports {
        match port.host_port.and_then(|p| u16::try_from(p).ok()) {
            Some(host_port) => fixed.push(host_port),
            None => needed += 1,
        }
    }
    (fixed, needed)
}

/// The scheduler's port range as `start..end` (end exclusive).
fn port_range(scheduler: &Scheduler) -> Result<(u32, u32), RuntimeError> {
    let name = &scheduler.config.name;
    let range = scheduler.config.port_range.ok_or_else(|| {
        RuntimeError::Rejected(format!(
            "scheduler {name} has container ports without hostPort but no port range"
        ))
    })?;
    if !(1..=65535).contains(&range.start) || !(2..=65536).contains(&range.end) {
        return Err(RuntimeError::Rejected(format!(
            "scheduler {name} has an invalid port range {}-{}",
            range.start, range.end
        )));
    }
    if range.start >= range.end {
        return Err(RuntimeError::Rejected(format!(
            "scheduler {name} has an empty port range {}-{}",
            range.start, range.end
        )));
    }
    Ok((range.start as u32, range.end as u32))
}

// ----------------------------------------------------------------------------------------------
// Errors and retries
// ----------------------------------------------------------------------------------------------

/// Calls `call` until it succeeds, fails for good, or `config.attempts` are spent; a call taking
/// longer than `config.call_timeout` counts as a connection failure.
async fn retry<T, F, Fut>(config: &KubernetesRuntimeConfig, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let attempts = config.attempts.max(1);
    let mut attempt = 1;
    loop {
        let result = match tokio::time::timeout(config.call_timeout, call()).await {
            Ok(result) => result,
            Err(elapsed) => Err(kube::Error::Service(Box::new(elapsed))),
        };
        match result {
            Err(error) if attempt < attempts && is_transient(&error) => {
                let delay = retry_delay(config, attempt, &error);
                tracing::debug!(%error, attempt, ?delay, "Kubernetes API call failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Exponential backoff with jitter, at least what the server asked for (within `max_delay`).
fn retry_delay(config: &KubernetesRuntimeConfig, attempt: u32, error: &kube::Error) -> Duration {
    let exponential = config
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(config.max_delay);
    let jittered = exponential.mul_f64(rand::random_range(0.5..=1.0));
    let asked = match error {
        kube::Error::Api(status) => status
            .details
            .as_ref()
            .map_or(0, |details| details.retry_after_seconds),
        _ => 0,
    };
    jittered.max(Duration::from_secs(asked.into()).min(config.max_delay))
}

/// Whether trying the same call again may work: throttling, server errors, connection errors.
fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500 || status.code == 0,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn runtime_error(what: &str, error: kube::Error) -> RuntimeError {
    match &error {
        kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429 => {
            let detail = format!(
                "{what}: {} ({} {})",
                status.message, status.code, status.reason
            );
            // Writing into a namespace being deleted works again once it is gone and recreated.
            if status.code == 403 && status.message.contains("being terminated") {
                RuntimeError::Unavailable(detail)
            } else {
                RuntimeError::Rejected(detail)
            }
        }
        kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => {
            RuntimeError::Rejected(format!("{what}: {error}"))
        }
        _ => RuntimeError::Unavailable(format!("{what}: {error}")),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ----------------------------------------------------------------------------------------------
// Host ports
// ----------------------------------------------------------------------------------------------

/// The host ports each scheduler's rooms hold, as far as this process knows: seeded and
/// refreshed by listing the scheduler's pods, kept up to date by this process's own creations
/// and by watches (ports are released when a pod is gone, not when its deletion is asked).
#[derive(Debug, Default)]
struct PortBook {
    schedulers: Mutex<HashMap<String, SchedulerPorts>>,
}

impl PortBook {
    fn with<R>(&self, scheduler: &str, change: impl FnOnce(&mut SchedulerPorts) -> R) -> R {
        let mut schedulers = lock(&self.schedulers);
        change(schedulers.entry(scheduler.to_string()).or_default())
    }

    fn forget(&self, scheduler: &str) {
        lock(&self.schedulers).remove(scheduler);
    }
}

#[derive(Debug, Default)]
struct SchedulerPorts {
    /// Orders changes against listings: a listing started at tick `t` knows nothing newer.
    clock: u64,
    synced_at: Option<Instant>,
    /// The last port handed out; the next search starts after it, so that freed ports rest.
    cursor: Option<u32>,
    rooms: HashMap<String, Holding>,
}

/// Settles a reservation if the creation using it is dropped midway (the caller gave up): the
/// pod may exist, so its ports stay held until a listing says otherwise.
struct AbandonedCreation<'a> {
    book: &'a PortBook,
    scheduler: &'a str,
    room: &'a str,
    ports: Vec<u16>,
    armed: bool,
}

impl AbandonedCreation<'_> {
    /// The creation finished: its outcome settles the reservation.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbandonedCreation<'_> {
    fn drop(&mut self) {
        if self.armed {
            let ports = std::mem::take(&mut self.ports);
            self.book
                .with(self.scheduler, |book| book.settle(self.room, ports));
        }
    }
}

#[derive(Debug)]
struct Holding {
    ports: Vec<u16>,
    /// The tick at which this was recorded.
    since: u64,
    /// Reserved for a pod being created right now; only its creation settles or cancels it.
    pending: bool,
}

impl SchedulerPorts {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn is_stale(&self, now: Instant, max_age: Duration) -> bool {
        self.synced_at
            .is_none_or(|synced| now.saturating_duration_since(synced) > max_age)
    }

    fn begin_sync(&mut self) -> u64 {
        self.tick()
    }

    /// Applies a listing of the rooms' pods started at tick `started`.
    fn finish_sync(
        &mut self,
        started: u64,
        listed: impl IntoIterator<Item = (String, Vec<u16>)>,
        now: Instant,
    ) {
        let listed: HashMap<String, Vec<u16>> = listed.into_iter().collect();
        self.rooms.retain(|room, holding| {
            holding.pending || holding.since > started || listed.contains_key(room)
        });
        for (room, ports) in listed {
            match self.rooms.get_mut(&room) {
                Some(holding) if holding.pending => {}
                Some(holding) => holding.ports = ports,
                None => {
                    let holding = Holding {
                        ports,
                        since: started,
                        pending: false,
                    };
                    self.rooms.insert(room, holding);
                }
            }
        }
        self.synced_at = Some(now);
    }

    /// Picks `count` free ports of `range` for `room` (whose own fixed host ports are `fixed`),
    /// continuing after the last port handed out; `None` when too few are free.
    fn reserve(
        &mut self,
        room: &str,
        fixed: &[u16],
        count: usize,
        (start, end): (u32, u32),
    ) -> Option<Vec<u16>> {
        let used: HashSet<u16> = self
            .rooms
            .iter()
            .filter(|(holder, _)| holder.as_str() != room)
            .flat_map(|(_, holding)| holding.ports.iter().copied())
            .chain(fixed.iter().copied())
            .collect();
        let size = end.checked_sub(start).filter(|size| *size > 0)?;
        let first = match self.cursor {
            Some(cursor) if (start..end).contains(&cursor) => cursor + 1 - start,
            _ => 0,
        };
        let picked: Vec<u16> = (0..size)
            .map(|offset| start + (first + offset) % size)
            .filter_map(|port| u16::try_from(port).ok())
            .filter(|port| !used.contains(port))
            .take(count)
            .collect();
        if picked.len() < count {
            return None;
        }
        self.cursor = picked.last().map(|&port| u32::from(port));
        let since = self.tick();
        let ports = fixed.iter().chain(&picked).copied().collect();
        self.rooms.insert(
            room.to_string(),
            Holding {
                ports,
                since,
                pending: true,
            },
        );
        Some(picked)
    }

    /// The room's pod exists (or may) with these host ports.
    fn settle(&mut self, room: &str, ports: Vec<u16>) {
        let since = self.tick();
        self.rooms.insert(
            room.to_string(),
            Holding {
                ports,
                since,
                pending: false,
            },
        );
    }

    /// The room's pod was not created.
    fn cancel(&mut self, room: &str) {
        if self.rooms.get(room).is_some_and(|holding| holding.pending) {
            self.rooms.remove(room);
        }
    }

    /// A watch saw the room's pod.
    fn observe(&mut self, room: &str, ports: Vec<u16>) {
        if !self.rooms.get(room).is_some_and(|holding| holding.pending) {
            self.settle(room, ports);
        }
    }

    /// The room's pod is gone.
    fn release(&mut self, room: &str) {
        if self.rooms.get(room).is_some_and(|holding| !holding.pending) {
            self.rooms.remove(room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use app::domain::scheduler::{SchedulerConfig, SchedulerState};
    use http::{Method, Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};
    use tower_test::mock;

    type Handle = mock::Handle<Request<Body>, Response<Body>>;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn fast() -> KubernetesRuntimeConfig {
        KubernetesRuntimeConfig {
            attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            call_timeout: Duration::from_secs(5),
            port_resync: Duration::from_secs(3600),
        }
    }

    fn mocked() -> (KubernetesRuntime, Handle) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        (KubernetesRuntime::with_config(client, fast()), handle)
    }

    /// One request the runtime made, with the means to answer it.
    struct Call {
        method: Method,
        path: String,
        query: String,
        body: Value,
        respond: mock::SendResponse<Response<Body>>,
    }

    impl Call {
        fn reply(self, status: u16, body: &Value) {
            self.reply_raw(status, serde_json::to_vec(body).unwrap());
        }

        fn reply_raw(self, status: u16, body: Vec<u8>) {
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            self.respond.send_response(response);
        }

        fn assert(&self, method: Method, path: &str) {
            assert_eq!((&self.method, self.path.as_str()), (&method, path));
        }
    }

    async fn next_call(handle: &mut Handle) -> Call {
        let (request, respond) = tokio::time::timeout(TIMEOUT, handle.next_request())
            .await
            .expect("the runtime made no further request")
            .expect("the client is gone");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Call {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body,
            respond,
        }
    }

    /// Asserts that the runtime makes no further request for a moment.
    async fn no_more_calls(handle: &mut Handle) {
        let next = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
        if let Ok(Some((request, _))) = next {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }

    fn status(code: u16, reason: &str, message: &str) -> Value {
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code,
        })
    }

    fn pod_list(items: Vec<Value>) -> Value {
        json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "100"},
            "items": items,
        })
    }

    /// A pod of scheduler `arena` as the API server would return it.
    fn pod_json(room: &str, node: Option<&str>, host_ports: [u16; 2], status: Value) -> Value {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": room, "namespace": "arena", "resourceVersion": "101",
                "labels": {SCHEDULER_LABEL: "arena", ROOM_LABEL: room, VERSION_LABEL: "v2"},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "game", "image": "busybox", "ports": [
                        {"name": "game", "containerPort": 7777, "protocol": "UDP", "hostPort": host_ports[0]},
                        {"name": "admin", "containerPort": 8080, "protocol": "TCP", "hostPort": 30080},
                    ]},
                    {"name": "metrics", "image": "busybox", "ports": [
                        {"name": "metrics", "containerPort": 9100, "protocol": "TCP", "hostPort": host_ports[1]},
                    ]},
                ],
            },
            "status": status,
        });
        if let Some(node) = node {
            pod["spec"]["nodeName"] = json!(node);
        }
        pod
    }

    fn running() -> Value {
        json!({"phase": "Running", "containerStatuses": [
            {"name": "game", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
            {"name": "metrics", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
        ]})
    }

    fn pending() -> Value {
        json!({"phase": "Pending"})
    }

    fn crash_looping() -> Value {
        json!({"phase": "Running", "containerStatuses": [
            {"name": "game", "image": "busybox", "imageID": "", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}}},
            {"name": "metrics", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {}}},
        ]})
    }

    fn node_json(name: &str, addresses: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name},
            "status": {"addresses": addresses},
        })
    }

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn scheduler() -> Scheduler {
        let config: SchedulerConfig = serde_json::from_value(json!({
            "name": "arena", "game": "tennis", "roomsReplicas": 1,
            "portRange": {"start": 40000, "end": 40010},
            "labels": {"team": "racket", SCHEDULER_LABEL: "spoofed"},
            "annotations": {"owner": "tennis@example.com"},
            "spec": {
                "terminationGracePeriod": "100s",
                "toleration": "game-nodes",
                "affinity": "game-pool",
                "containers": [
                    {
                        "name": "game", "image": "registry.example/game:1.2",
                        "imagePullPolicy": "Always", "command": ["/game", "--serve"],
                        "environment": [
                            {"name": "MODE", "value": "ranked"},
                            {"name": "MAESTRO_ROOM_ID", "value": "overridden"},
                        ],
                        "requests": {"memory": "100Mi", "cpu": "100m"},
                        "limits": {"memory": "200Mi", "cpu": "200m"},
                        "ports": [
                            {"name": "game", "protocol": "udp", "port": 7777},
                            {"name": "admin", "protocol": "tcp", "port": 8080, "hostPort": 30080},
                        ],
                    },
                    {
                        "name": "metrics", "image": "registry.example/metrics:3",
                        "ports": [{"name": "metrics", "protocol": "tcp", "port": 9100}],
                    },
                ],
            },
        }))
        .unwrap();
        Scheduler {
            config,
            state: SchedulerState::InSync,
            version: "v2".to_string(),
            created_at: chrono::Utc::now(),
        }
    }

    /// A scheduler whose rooms need no host port.
    fn portless_scheduler() -> Scheduler {
        let mut scheduler = scheduler();
        scheduler.config.port_range = None;
        for container in &mut scheduler.config.spec.containers {
            container.ports.clear();
        }
        scheduler
    }

    fn room_env(room: &str) -> Vec<EnvironmentVariable> {
        [
            ("MAESTRO_SCHEDULER_NAME", "arena"),
            ("MAESTRO_ROOM_ID", room),
            ("BATON_API_URL", "http://baton.example:3000"),
            ("BATON_ROOM_TOKEN", "secret-token"),
        ]
        .into_iter()
        .map(|(name, value)| EnvironmentVariable::plain(name, value))
        .collect()
    }

    /// The pod Baton must send for `room` of [`scheduler`], with the given range ports.
    fn expected_pod(room: &str, game_port: u16, metrics_port: u16) -> Value {
        let env = |extra: Vec<Value>| {
            let mut env = extra;
            env.extend([
                json!({"name": "MAESTRO_SCHEDULER_NAME", "value": "arena"}),
                json!({"name": "MAESTRO_ROOM_ID", "value": room}),
                json!({"name": "BATON_API_URL", "value": "http://baton.example:3000"}),
                json!({"name": "BATON_ROOM_TOKEN", "value": "secret-token"}),
            ]);
            env
        };
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": room,
                "labels": {
                    "team": "racket",
                    "baton.dev/scheduler": "arena",
                    "baton.dev/room": room,
                    "baton.dev/version": "v2",
                },
                "annotations": {"owner": "tennis@example.com"},
            },
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 100,
                "tolerations": [
                    {"key": "game-nodes", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
                ],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "game-pool", "operator": "In", "values": ["true"]},
                    ]}],
                }}},
                "containers": [
                    {
                        "name": "game",
                        "image": "registry.example/game:1.2",
                        "imagePullPolicy": "Always",
                        "command": ["/game", "--serve"],
                        "env": env(vec![json!({"name": "MODE", "value": "ranked"})]),
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "100Mi"},
                            "limits": {"cpu": "200m", "memory": "200Mi"},
                        },
                        "ports": [
                            {"name": "game", "containerPort": 7777, "protocol": "UDP", "hostPort": game_port},
                            {"name": "admin", "containerPort": 8080, "protocol": "TCP", "hostPort": 30080},
                        ],
                    },
                    {
                        "name": "metrics",
                        "image": "registry.example/metrics:3",
                        "imagePullPolicy": "IfNotPresent",
                        "env": env(vec![]),
                        "ports": [
                            {"name": "metrics", "containerPort": 9100, "protocol": "TCP", "hostPort": metrics_port},
                        ],
                    },
                ],
            },
        })
    }

    #[tokio::test]
    async fn create_sends_the_room_pod_with_host_ports_from_the_range() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            // The scheduler's first room creates its namespace.
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces");
            assert_eq!(call.query, "&fieldManager=baton");
            assert_eq!(
                call.body,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": "arena", "labels": {"baton.dev/scheduler": "arena"},
                }})
            );
            let namespace = call.body.clone();
            call.reply(201, &namespace);

            // The ports in use are read from the scheduler's pods: one already holds 40000.
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
            assert!(
                call.query
                    .contains("labelSelector=baton.dev%2Fscheduler%3Darena"),
                "{}",
                call.query
            );
            let existing = pod_json("arena-old", Some("n1"), [40000, 30081], running());
            call.reply(200, &pod_list(vec![existing]));

            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            assert_eq!(call.query, "&fieldManager=baton");
            assert_eq!(call.body, expected_pod("arena-abc", 40001, 40002));
            let mut created = call.body.clone();
            created["metadata"]["namespace"] = json!("arena");
            created["status"] = pending();
            call.reply(201, &created);

            // The next room continues after the last port handed out, without listing again.
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            assert_eq!(call.body, expected_pod("arena-def", 40003, 40004));
            let created = call.body.clone();
            call.reply(201, &created);
            no_more_calls(&mut handle).await;
        });

        let scheduler = scheduler();
        let instance = runtime
            .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap();
        assert_eq!(
            instance,
            RoomInstance {
                scheduler: "arena".to_string(),
                room: "arena-abc".to_string(),
                version: "v2".to_string(),
                address: None,
                crashed: None,
            }
        );
        let instance = runtime
            .create_instance(&scheduler, "arena-def", &room_env("arena-def"))
            .await
            .unwrap();
        assert_eq!(instance.room, "arena-def");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn throttled_creations_are_retried() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces");
            call.reply(
                409,
                &status(409, "AlreadyExists", "namespaces \"arena\" already exists"),
            );

            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            let first = call.body.clone();
            call.reply(429, &status(429, "TooManyRequests", "slow down"));

            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            assert_eq!(call.body, first, "the retry sends the same pod");
            let created = call.body.clone();
            call.reply(201, &created);
            no_more_calls(&mut handle).await;
        });
        let instance = runtime
            .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap();
        assert_eq!(instance.room, "arena-abc");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces");
            let namespace = call.body.clone();
            call.reply(201, &namespace);
            for _ in 0..5 {
                let call = next_call(&mut handle).await;
                call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
                call.reply_raw(503, b"upstream connect error".to_vec());
            }
            no_more_calls(&mut handle).await;
        });
        let error = runtime
            .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RuntimeError::Unavailable(message) if message.contains("upstream connect error")),
            "{error:?}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn calls_that_hang_time_out_and_are_retried() {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let config = KubernetesRuntimeConfig {
            call_timeout: Duration::from_millis(20),
            ..fast()
        };
        let runtime = KubernetesRuntime::with_config(Client::new(service, "default"), config);
        let server = tokio::spawn(async move {
            let mut unanswered = Vec::new();
            for _ in 0..5 {
                let call = next_call(&mut handle).await;
                call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-abc");
                unanswered.push(call);
            }
            no_more_calls(&mut handle).await;
        });
        let error = runtime
            .delete_instance(&scheduler(), "arena-abc")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RuntimeError::Unavailable(message) if message.contains("deadline has elapsed")),
            "{error:?}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn forbidden_creations_are_rejected_without_retry() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            let namespace = call.body.clone();
            call.reply(201, &namespace);
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            call.reply(
                403,
                &status(403, "Forbidden", "pods is forbidden: exceeded quota"),
            );
            no_more_calls(&mut handle).await;
        });
        let error = runtime
            .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            RuntimeError::Rejected(
                "creating pod arena/arena-abc: pods is forbidden: exceeded quota (403 Forbidden)"
                    .to_string()
            )
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn creating_an_existing_pod_of_the_same_room_succeeds() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            let namespace = call.body.clone();
            call.reply(201, &namespace);
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
            call.reply(200, &pod_list(vec![]));
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            call.reply(
                409,
                &status(409, "AlreadyExists", "pods \"arena-abc\" already exists"),
            );
            // An earlier attempt created it, with other ports: those are the room's.
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-abc");
            call.reply(200, &pod_json("arena-abc", None, [40005, 40006], pending()));

            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            call.reply(
                409,
                &status(409, "AlreadyExists", "pods \"arena-xyz\" already exists"),
            );
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-xyz");
            let mut foreign = pod_json("arena-xyz", None, [40007, 40008], pending());
            foreign["metadata"]["labels"] = json!({"app": "something-else"});
            call.reply(200, &foreign);
            no_more_calls(&mut handle).await;
        });
        let scheduler = scheduler();
        let instance = runtime
            .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap();
        assert_eq!(instance.room, "arena-abc");
        let held = runtime.ports.with("arena", |ports| {
            ports
                .rooms
                .get("arena-abc")
                .map(|holding| holding.ports.clone())
        });
        assert_eq!(held, Some(vec![40005, 30080, 40006]));

        let error = runtime
            .create_instance(&scheduler, "arena-xyz", &room_env("arena-xyz"))
            .await
            .unwrap_err();
        assert!(matches!(error, RuntimeError::Rejected(_)), "{error:?}");
        let held = runtime
            .ports
            .with("arena", |ports| ports.rooms.contains_key("arena-xyz"));
        assert!(!held, "a rejected room gives its ports back");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn abandoned_creations_keep_their_ports_until_a_listing_frees_them() {
        let (runtime, mut handle) = mocked();
        let scheduler = scheduler();
        let env = room_env("arena-abc");
        let creating = runtime.create_instance(&scheduler, "arena-abc", &env);
        let server = async {
            let call = next_call(&mut handle).await;
            let namespace = call.body.clone();
            call.reply(201, &namespace);
            let call = next_call(&mut handle).await;
            call.reply(200, &pod_list(vec![]));
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            call
        };
        // The caller gives up while the pod is being posted.
        let _unanswered = tokio::select! {
            result = creating => panic!("the creation finished: {result:?}"),
            call = server => call,
        };
        runtime.ports.with("arena", |ports| {
            let holding = &ports.rooms["arena-abc"];
            assert!(!holding.pending);
            assert_eq!(holding.ports, [40000, 30080, 40001]);
        });
    }

    #[tokio::test]
    async fn exhausted_port_ranges_are_reported() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            let namespace = call.body.clone();
            call.reply(201, &namespace);
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
            let existing = pod_json("arena-old", None, [40000, 40001], running());
            call.reply(200, &pod_list(vec![existing]));
            no_more_calls(&mut handle).await;
        });
        let mut scheduler = scheduler();
        scheduler.config.port_range = Some(app::domain::scheduler::PortRange {
            start: 40000,
            end: 40003,
        });
        let error = runtime
            .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap_err();
        assert_eq!(error, RuntimeError::PortsExhausted("arena".to_string()));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn delete_gives_the_grace_period_and_accepts_missing_pods() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-abc");
            assert_eq!(call.body, json!({"gracePeriodSeconds": 100}));
            call.reply(
                404,
                &status(404, "NotFound", "pods \"arena-abc\" not found"),
            );

            let call = next_call(&mut handle).await;
            call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-def");
            call.reply(500, &status(500, "InternalError", "etcd hiccup"));
            let call = next_call(&mut handle).await;
            call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-def");
            let mut deleting = pod_json("arena-def", Some("n1"), [40000, 40001], running());
            deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            call.reply(200, &deleting);

            let call = next_call(&mut handle).await;
            call.assert(Method::DELETE, "/api/v1/namespaces/arena");
            call.reply(
                404,
                &status(404, "NotFound", "namespaces \"arena\" not found"),
            );
            no_more_calls(&mut handle).await;
        });
        let scheduler = scheduler();
        runtime
            .delete_instance(&scheduler, "arena-abc")
            .await
            .unwrap();
        runtime
            .delete_instance(&scheduler, "arena-def")
            .await
            .unwrap();
        runtime.remove_scheduler("arena").await.unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn instances_map_pods_and_nodes_to_addresses() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
            let mut failed = pod_json(
                "arena-b",
                Some("n2"),
                [40002, 40003],
                json!({
                    "phase": "Failed", "reason": "Evicted", "message": "The node was low on memory.",
                }),
            );
            failed["metadata"]["labels"][VERSION_LABEL] = json!("v1");
            call.reply(
                200,
                &pod_list(vec![
                    pod_json("arena-a", Some("n1"), [40000, 40001], running()),
                    failed,
                    pod_json("arena-c", None, [40004, 40005], pending()),
                ]),
            );
            for _ in 0..2 {
                let call = next_call(&mut handle).await;
                assert_eq!(call.method, Method::GET);
                match call.path.as_str() {
                    "/api/v1/nodes/n1" => call.reply(
                        200,
                        &node_json(
                            "n1",
                            json!([
                                {"type": "InternalIP", "address": "10.0.0.1"},
                                {"type": "ExternalIP", "address": "203.0.113.1"},
                                {"type": "Hostname", "address": "n1"},
                            ]),
                        ),
                    ),
                    "/api/v1/nodes/n2" => call.reply(
                        200,
                        &node_json(
                            "n2",
                            json!([
                                {"type": "InternalIP", "address": "10.0.0.2"},
                            ]),
                        ),
                    ),
                    other => panic!("unexpected request for {other}"),
                }
            }
            no_more_calls(&mut handle).await;
        });
        let instances = runtime.instances("arena").await.unwrap();
        let address = |host: &str, game: u16, metrics: u16| {
            Some(RoomAddress {
                host: host.to_string(),
                ports: vec![
                    RoomPort {
                        name: "game".into(),
                        protocol: "udp".into(),
                        port: game,
                    },
                    RoomPort {
                        name: "admin".into(),
                        protocol: "tcp".into(),
                        port: 30080,
                    },
                    RoomPort {
                        name: "metrics".into(),
                        protocol: "tcp".into(),
                        port: metrics,
                    },
                ],
            })
        };
        assert_eq!(
            instances,
            vec![
                RoomInstance {
                    scheduler: "arena".into(),
                    room: "arena-a".into(),
                    version: "v2".into(),
                    address: address("203.0.113.1", 40000, 40001),
                    crashed: None,
                },
                RoomInstance {
                    scheduler: "arena".into(),
                    room: "arena-b".into(),
                    version: "v1".into(),
                    address: address("10.0.0.2", 40002, 40003),
                    crashed: Some("pod failed: Evicted: The node was low on memory.".into()),
                },
                RoomInstance {
                    scheduler: "arena".into(),
                    room: "arena-c".into(),
                    version: "v2".into(),
                    address: None,
                    crashed: None,
                },
            ]
        );
        server.await.unwrap();
    }

    /// The `PodMetrics` of room `room` of scheduler `arena`, as metrics-server returns it.
    fn pod_metrics_json(room: &str, containers: Value) -> Value {
        json!({
            "metadata": {
                "name": room, "namespace": "arena",
                "creationTimestamp": "2026-01-01T00:00:10Z",
                "labels": {SCHEDULER_LABEL: "arena", ROOM_LABEL: room, VERSION_LABEL: "v2"},
            },
            "timestamp": "2026-01-01T00:00:00Z", "window": "15.021s",
            "containers": containers,
        })
    }

    fn container_usage(name: &str, cpu: &str, memory: &str) -> Value {
        json!({"name": name, "usage": {"cpu": cpu, "memory": memory}})
    }

    #[tokio::test]
    async fn usage_sums_the_containers_of_each_pod_from_the_metrics_api() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(
                Method::GET,
                "/apis/metrics.k8s.io/v1beta1/namespaces/arena/pods",
            );
            assert!(
                call.query
                    .contains("labelSelector=baton.dev%2Fscheduler%3Darena"),
                "{}",
                call.query
            );
            call.reply(
                200,
                &json!({
                    "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {},
                    "items": [
                        pod_metrics_json("arena-b", json!([
                            container_usage("room", "250m", "100Mi"),
                            container_usage("sidecar", "123456n", "2048Ki"),
                        ])),
                        pod_metrics_json("arena-a", json!([
                            container_usage("room", "1", "1Gi"),
                            container_usage("sidecar", "500u", "512Mi"),
                        ])),
                        // Started moments ago: no container measured yet.
                        pod_metrics_json("arena-c", json!([])),
                        // Malformed: left out, the others still count.
                        pod_metrics_json("arena-d", json!([
                            container_usage("room", "lots", "1Mi"),
                        ])),
                    ],
                }),
            );
            no_more_calls(&mut handle).await;
        });
        let usages = runtime.usage("arena").await.unwrap();
        server.await.unwrap();
        let rooms: Vec<&str> = usages.iter().map(|u| u.room.as_str()).collect();
        assert_eq!(rooms, ["arena-a", "arena-b"]);
        let close = |actual: f64, expected: f64| (actual - expected).abs() <= expected * 1e-12;
        let mib = 1024.0 * 1024.0;
        assert!(close(usages[0].cpu_cores, 1.0005), "{usages:?}");
        assert!(close(usages[0].memory_bytes, 1536.0 * mib), "{usages:?}");
        assert!(close(usages[1].cpu_cores, 0.250123456), "{usages:?}");
        assert!(close(usages[1].memory_bytes, 102.0 * mib), "{usages:?}");
    }

    #[tokio::test]
    async fn usage_without_a_metrics_api_is_unavailable() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(
                Method::GET,
                "/apis/metrics.k8s.io/v1beta1/namespaces/arena/pods",
            );
            call.reply(
                404,
                &status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            );
            // Not found is not retried.
            no_more_calls(&mut handle).await;
        });
        let error = runtime.usage("arena").await.unwrap_err();
        server.await.unwrap();
        assert!(
            matches!(&error, RuntimeError::Unavailable(message) if message.contains("metrics-server")),
            "{error:?}"
        );
    }

    fn watch_line(kind: &str, object: Value) -> String {
        format!("{}\n", json!({"type": kind, "object": object}))
    }

    #[tokio::test]
    async fn watch_turns_pod_events_into_instance_events() {
        let (runtime, mut handle) = mocked();
        let server = tokio::spawn(async move {
            // Watches after the scripted one are left hanging, as a quiet cluster would.
            let mut hanging = Vec::new();
            let mut watched = false;
            loop {
                let call = next_call(&mut handle).await;
                assert_eq!(call.method, Method::GET);
                match call.path.as_str() {
                    "/api/v1/namespaces/arena/pods" if !call.query.contains("watch=true") => {
                        assert!(
                            call.query
                                .contains("labelSelector=baton.dev%2Fscheduler%3Darena")
                        );
                        let a = pod_json("arena-a", None, [40000, 40001], pending());
                        call.reply(200, &pod_list(vec![a]));
                    }
                    "/api/v1/namespaces/arena/pods" if !watched => {
                        watched = true;
                        assert!(
                            call.query
                                .contains("labelSelector=baton.dev%2Fscheduler%3Darena")
                        );
                        assert!(call.query.contains("resourceVersion=100"), "{}", call.query);
                        let a = pod_json("arena-a", Some("n1"), [40000, 40001], running());
                        let b = pod_json("arena-b", Some("n1"), [40002, 40003], crash_looping());
                        let body = [
                            watch_line("MODIFIED", a.clone()),
                            watch_line("MODIFIED", a.clone()),
                            watch_line("ADDED", b),
                            watch_line("DELETED", a),
                        ]
                        .concat();
                        call.reply_raw(200, body.into_bytes());
                    }
                    "/api/v1/namespaces/arena/pods" => hanging.push(call),
                    "/api/v1/nodes/n1" => call.reply(
                        200,
                        &node_json(
                            "n1",
                            json!([
                                {"type": "InternalIP", "address": "10.0.0.1"},
                            ]),
                        ),
                    ),
                    other => panic!("unexpected request for {other}"),
                }
            }
        });

        let events: Vec<InstanceEvent> =
            tokio::time::timeout(TIMEOUT, runtime.watch("arena").take(7).collect())
                .await
                .expect("the watch stream stalled");
        let (scheduler, a, b) = (
            "arena".to_string(),
            "arena-a".to_string(),
            "arena-b".to_string(),
        );
        let address = RoomAddress {
            host: "10.0.0.1".into(),
            ports: vec![
                RoomPort {
                    name: "game".into(),
                    protocol: "udp".into(),
                    port: 40000,
                },
                RoomPort {
                    name: "admin".into(),
                    protocol: "tcp".into(),
                    port: 30080,
                },
                RoomPort {
                    name: "metrics".into(),
                    protocol: "tcp".into(),
                    port: 40001,
                },
            ],
        };
        let mut address_b = address.clone();
        address_b.ports[0].port = 40002;
        address_b.ports[2].port = 40003;
        assert_eq!(
            events,
            vec![
                InstanceEvent::Created {
                    scheduler: scheduler.clone(),
                    room: a.clone()
                },
                InstanceEvent::Running {
                    scheduler: scheduler.clone(),
                    room: a.clone()
                },
                InstanceEvent::AddressKnown {
                    scheduler: scheduler.clone(),
                    room: a.clone(),
                    address,
                },
                InstanceEvent::Created {
                    scheduler: scheduler.clone(),
                    room: b.clone()
                },
                InstanceEvent::AddressKnown {
                    scheduler: scheduler.clone(),
                    room: b.clone(),
                    address: address_b,
                },
                InstanceEvent::Crashed {
                    scheduler: scheduler.clone(),
                    room: b,
                    reason: "container game: CrashLoopBackOff: back-off 40s restarting".into(),
                },
                InstanceEvent::Gone { scheduler, room: a },
            ]
        );
        // The watch keeps the port book: arena-a's ports are free again, arena-b's are held.
        let held: BTreeSet<String> = runtime
            .ports
            .with("arena", |ports| ports.rooms.keys().cloned().collect());
        assert_eq!(held, BTreeSet::from(["arena-b".to_string()]));
        server.abort();
    }

    #[test]
    fn pod_events_follow_a_room_from_creation_to_its_address() {
        let events = |seen: Option<&PodSighting>, pod: &Pod, host: Option<&str>| {
            pod_events("arena", seen, pod, host)
        };
        let created = pod(pod_json("arena-a", None, [40000, 40001], pending()));
        let (first, seen) = events(None, &created, None);
        assert_eq!(
            first,
            vec![InstanceEvent::Created {
                scheduler: "arena".into(),
                room: "arena-a".into()
            }]
        );
        assert_eq!(
            events(Some(&seen), &created, None).0,
            vec![],
            "nothing new, nothing said"
        );

        let scheduled = pod(pod_json("arena-a", Some("n1"), [40000, 40001], pending()));
        let (events_now, seen) = events(Some(&seen), &scheduled, Some("203.0.113.1"));
        assert!(
            matches!(&events_now[..], [InstanceEvent::AddressKnown { address, .. }] if address.host == "203.0.113.1"),
            "{events_now:?}"
        );
        let started = pod(pod_json("arena-a", Some("n1"), [40000, 40001], running()));
        let (events_now, seen) = events(Some(&seen), &started, Some("203.0.113.1"));
        assert_eq!(
            events_now,
            vec![InstanceEvent::Running {
                scheduler: "arena".into(),
                room: "arena-a".into()
            }]
        );
        assert!(seen.running && seen.address.is_some() && !seen.crashed);
        assert_eq!(events(Some(&seen), &started, Some("203.0.113.1")).0, vec![]);
    }

    #[test]
    fn crash_reasons() {
        let with_status = |status: Value| pod(pod_json("r", Some("n1"), [1, 2], status));
        assert_eq!(crash_reason(&with_status(running())), None);
        assert_eq!(crash_reason(&with_status(pending())), None);
        assert_eq!(
            crash_reason(&with_status(crash_looping())).as_deref(),
            Some("container game: CrashLoopBackOff: back-off 40s restarting")
        );
        for reason in ["ErrImagePull", "ImagePullBackOff"] {
            let status = json!({"phase": "Pending", "containerStatuses": [
                {"name": "game", "image": "nope", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": reason}}},
            ]});
            assert_eq!(
                crash_reason(&with_status(status)),
                Some(format!("container game: {reason}"))
            );
        }
        // Still pulling or creating is not a failure.
        let creating = json!({"phase": "Pending", "containerStatuses": [
            {"name": "game", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}},
        ]});
        assert_eq!(crash_reason(&with_status(creating)), None);
        let exited = |code: i32| {
            json!({"phase": if code == 0 { "Succeeded" } else { "Failed" }, "containerStatuses": [
                {"name": "game", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }}}},
            ]})
        };
        assert_eq!(
            crash_reason(&with_status(exited(2))).as_deref(),
            Some("container game exited with code 2 (Error)")
        );
        assert_eq!(crash_reason(&with_status(exited(0))), None);
        assert_eq!(
            crash_reason(&with_status(json!({"phase": "Failed"}))).as_deref(),
            Some("pod failed")
        );
        // A pod being deleted has its containers stopped: that is no crash.
        let mut stopping = pod_json("r", Some("n1"), [1, 2], exited(143));
        stopping["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(crash_reason(&pod(stopping)), None);
    }

    #[test]
    fn node_addresses_prefer_the_external_ip() {
        let node = |addresses: Value| -> Node {
            serde_json::from_value(node_json("n", addresses)).unwrap()
        };
        assert_eq!(
            node_address(&node(json!([
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "ExternalIP", "address": "203.0.113.1"},
            ]))),
            Some("203.0.113.1".into())
        );
        assert_eq!(
            node_address(&node(json!([
                {"type": "Hostname", "address": "n"},
                {"type": "InternalIP", "address": "10.0.0.1"},
            ]))),
            Some("10.0.0.1".into())
        );
        assert_eq!(
            node_address(&node(json!([{"type": "Hostname", "address": "n"}]))),
            None
        );
    }

    #[test]
    fn pods_without_toleration_affinity_or_resources_leave_them_out() {
        let mut scheduler = portless_scheduler();
        scheduler.config.spec.toleration.clear();
        scheduler.config.spec.affinity.clear();
        scheduler.config.annotations.clear();
        scheduler.config.labels.clear();
        scheduler.config.spec.containers.truncate(1);
        let container = &mut scheduler.config.spec.containers[0];
        container.requests = None;
        container.limits = Some(Resources {
            memory: "64Mi".into(),
            cpu: String::new(),
        });
        container.command.clear();
        let pod = serde_json::to_value(room_pod(&scheduler, "r", &[], &[])).unwrap();
        assert_eq!(
            pod["spec"],
            json!({
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 100,
                "containers": [{
                    "name": "game",
                    "image": "registry.example/game:1.2",
                    "imagePullPolicy": "Always",
                    "env": [
                        {"name": "MODE", "value": "ranked"},
                        {"name": "MAESTRO_ROOM_ID", "value": "overridden"},
                    ],
                    "resources": {"limits": {"memory": "64Mi"}},
                }],
            })
        );
        assert_eq!(pod["metadata"].get("annotations"), None);
    }

    #[test]
    fn pods_follow_the_spec_restart_policy() {
        let mut scheduler = portless_scheduler();
        scheduler.config.spec.restart_policy = "OnFailure".into();
        let pod = serde_json::to_value(room_pod(&scheduler, "r", &[], &[])).unwrap();
        assert_eq!(pod["spec"]["restartPolicy"], "OnFailure");
    }

    #[test]
    fn ports_are_handed_out_round_the_range() {
        let mut ports = SchedulerPorts::default();
        let range = (100, 105);
        assert_eq!(ports.reserve("a", &[], 2, range), Some(vec![100, 101]));
        assert_eq!(ports.reserve("b", &[102], 1, range), Some(vec![103]));
        assert_eq!(ports.reserve("c", &[], 2, range), None, "only 104 is left");
        ports.settle("a", vec![100, 101]);
        ports.release("a");
        // After 103 comes 104, then the search wraps round to the freed ports.
        assert_eq!(ports.reserve("c", &[], 2, range), Some(vec![104, 100]));
        // A room reserving again gets ports as if it held none.
        assert_eq!(ports.reserve("c", &[], 2, range), Some(vec![101, 104]));
        ports.cancel("c");
        assert!(!ports.rooms.contains_key("c"));
    }

    #[test]
    fn listings_forget_gone_rooms_but_not_newer_ones() {
        let mut ports = SchedulerPorts::default();
        let now = Instant::now();
        assert!(ports.is_stale(now, Duration::from_secs(30)));
        ports.settle("old", vec![100]);
        ports.settle("listed", vec![101]);
        let started = ports.begin_sync();
        // Recorded while the listing was on its way: it may not show them yet.
        ports.settle("fresh", vec![102]);
        ports.reserve("creating", &[], 1, (100, 110)).unwrap();
        ports.finish_sync(
            started,
            [
                ("listed".to_string(), vec![101]),
                ("other".to_string(), vec![104]),
            ],
            now,
        );
        let mut rooms: Vec<&str> = ports.rooms.keys().map(String::as_str).collect();
        rooms.sort();
        assert_eq!(rooms, ["creating", "fresh", "listed", "other"]);
        assert!(!ports.is_stale(now, Duration::from_secs(30)));
        // A watch seeing a pod being created does not take its reservation away.
        ports.observe("creating", vec![]);
        assert!(ports.rooms["creating"].pending);
        ports.release("creating");
        assert!(ports.rooms.contains_key("creating"));
    }
}
