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

use app::domain::room::{RoomAddress, RoomPort};
use app::domain::scheduler::{EnvironmentVariable, Resources, Scheduler};
use app::ports::{InstanceEvent, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvVar, Namespace, Node, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, ResourceRequirements, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
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
    /// the pod's service account when running in a cluster.
    pub async fn from_environment() -> Result<Self, RuntimeError> {
        let client = Client::try_default().await.map_err(|error| {
            RuntimeError::Unavailable(format!(
                "no usable Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): {error}"
            ))
        })?;
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
        let created = self.post_pod(name, room, &pod).await;
        if range.is_some() {
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
            restart_policy: Some("Never".to_string()),
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

/// Calls `call` until it succeeds, fails for good, or `config.attempts` are spent.
async fn retry<T, F, Fut>(config: &KubernetesRuntimeConfig, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let attempts = config.attempts.max(1);
    let mut attempt = 1;
    loop {
        match call().await {
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
