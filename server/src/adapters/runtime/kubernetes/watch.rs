//! Watching a scheduler's pods: kube's watcher, turned into [`InstanceEvent`]s by the pure
//! [`pod_events`], keeping the port book up to date on the way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use app::domain::room::RoomAddress;
use app::ports::InstanceEvent;
use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::runtime::{WatchStreamExt, watcher};

use super::ports::PortBook;
use super::status::{
    all_running, crash_reason, host_ports, node_host, node_of, pod_address, room_of,
};
use super::{KubernetesRuntime, KubernetesRuntimeConfig, scheduler_selector};

impl KubernetesRuntime {
    /// The events of the scheduler's rooms, from now on.
    pub(super) fn pod_watch(&self, scheduler: &str) -> BoxStream<'static, InstanceEvent> {
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
}

/// The state behind a [`app::ports::Runtime::watch`] stream: what was last seen of each room's pod.
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
    /// The node the pod was scheduled on.
    pub machine: Option<String>,
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
    if let Some(node) = node_of(pod)
        && before.machine.as_deref() != Some(node)
    {
        now.machine = Some(node.to_string());
        events.push(InstanceEvent::Placed {
            scheduler: scheduler.to_string(),
            room: room.clone(),
            machine: node.to_string(),
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
