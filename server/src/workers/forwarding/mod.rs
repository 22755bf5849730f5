//! Event forwarding, off the rooms' critical path: handlers and the [`ForwardingRoomStore`]
//! drop a note into a bounded channel (never waiting); one dispatcher turns each note into an
//! event per enabled forwarder of the room's scheduler and queues it on that forwarder's lane;
//! each lane's worker delivers in order, with a deadline per call and retries with backoff.
//! The dispatcher also resyncs every room's status periodically.

mod lanes;
mod options;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::forwarding::{
    ForwardedEvent, ForwardedStatus, PlayerEventType, forwarded_room, forwards, merged_metadata,
};
use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::{Forwarder as ForwarderConfig, Scheduler};
use app::ports::{ForwardError, Forwarder, RoomStore, SchedulerFilter, SchedulerStore};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::observability::Metrics;
pub use lanes::{Lanes, deadline};
pub use options::ForwardingOptions;
pub use store::ForwardingRoomStore;

/// Builds the adapter for one forwarder (the composition root knows the adapters).
pub type ForwarderFactory =
    Arc<dyn Fn(&ForwarderConfig) -> Result<Arc<dyn Forwarder>, ForwardError> + Send + Sync>;

/// How long the dispatcher trusts what it read of a scheduler's forwarders.
const SCHEDULER_TTL: Duration = Duration::from_secs(5);

/// What happened, as the hot paths tell it.
#[derive(Debug)]
enum Note {
    Status {
        scheduler: String,
        room: String,
        status: ForwardedStatus,
        /// The room as it was, when it is gone from the store (boxed: most notes carry none).
        snapshot: Option<Box<GameRoom>>,
    },
    RoomEvent {
        scheduler: String,
        room: String,
        event: String,
        metadata: BTreeMap<String, serde_json::Value>,
    },
    PlayerEvent {
        scheduler: String,
        room: String,
        player: String,
        event: PlayerEventType,
        metadata: BTreeMap<String, serde_json::Value>,
    },
}

impl Note {
    fn scheduler(&self) -> &str {
        match self {
            Self::Status { scheduler, .. }
            | Self::RoomEvent { scheduler, .. }
            | Self::PlayerEvent { scheduler, .. } => scheduler,
        }
    }
    fn room(&self) -> &str {
        match self {
            Self::Status { room, .. }
            | Self::RoomEvent { room, .. }
            | Self::PlayerEvent { room, .. } => room,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Self::Status { .. } => "roomStatus",
            Self::RoomEvent { .. } => "roomEvent",
            Self::PlayerEvent { .. } => "playerEvent",
        }
    }
}

/// The hot paths' handle: every method returns at once.
pub struct Forwarding {
    notes: Option<mpsc::Sender<Note>>,
    metrics: Option<Arc<Metrics>>,
}

impl Forwarding {
    /// Forwards nothing (benchmarks and tests that do not need it).
    pub fn off() -> Arc<Self> {
        Arc::new(Self {
            notes: None,
            metrics: None,
        })
    }

    /// Starts the dispatcher (aborting its task stops every lane's worker too).
    pub fn start(
        options: &ForwardingOptions,
        schedulers: Arc<dyn SchedulerStore>,
        rooms: Arc<dyn RoomStore>,
        metrics: Arc<Metrics>,
        factory: ForwarderFactory,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(options.forwarder_queue.max(1));
        let dispatcher = Dispatcher {
            schedulers,
            rooms,
            lanes: Lanes::new(options, metrics.clone(), factory),
            cache: HashMap::new(),
            resync: Duration::from_millis(options.forwarder_resync_ms),
        };
        let task = tokio::spawn(dispatcher.run(receiver));
        (
            Arc::new(Self {
                notes: Some(sender),
                metrics: Some(metrics),
            }),
            task,
        )
    }

    fn note(&self, note: Note) {
        let Some(notes) = &self.notes else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(note)) = notes.try_send(note) {
            if let Some(metrics) = &self.metrics {
                metrics
                    .forwarding
                    .count(note.scheduler(), "", note.kind(), "dropped");
            }
            tracing::warn!(
                scheduler = note.scheduler(),
                room = note.room(),
                "forwarding queue full: event dropped"
            );
        }
    }

    /// A room's status changed (to one forwarders are told of); `snapshot`: the room as it was
    /// when it is no longer stored.
    pub fn status_changed(
        &self,
        scheduler: &str,
        room: &str,
        status: RoomStatus,
        snapshot: Option<GameRoom>,
    ) {
        if let Some(status) = ForwardedStatus::of(status) {
            self.note(Note::Status {
                scheduler: scheduler.to_string(),
                room: room.to_string(),
                status,
                snapshot: snapshot.map(Box::new),
            });
        }
    }

    pub fn room_event(
        &self,
        scheduler: &str,
        room: &str,
        event: &str,
        metadata: BTreeMap<String, serde_json::Value>,
    ) {
        self.note(Note::RoomEvent {
            scheduler: scheduler.to_string(),
            room: room.to_string(),
            event: event.to_string(),
            metadata,
        });
    }

    pub fn player_event(
        &self,
        scheduler: &str,
        room: &str,
        player: &str,
        event: PlayerEventType,
        metadata: BTreeMap<String, serde_json::Value>,
    ) {
        self.note(Note::PlayerEvent {
            scheduler: scheduler.to_string(),
            room: room.to_string(),
            player: player.to_string(),
            event,
            metadata,
        });
    }
}

struct Dispatcher {
    schedulers: Arc<dyn SchedulerStore>,
    rooms: Arc<dyn RoomStore>,
    lanes: Lanes,
    cache: HashMap<String, (Instant, Option<Arc<Scheduler>>)>,
    resync: Duration,
}

impl Dispatcher {
    async fn run(mut self, mut notes: mpsc::Receiver<Note>) {
        let period = if self.resync.is_zero() {
            Duration::from_secs(365 * 24 * 3600)
        } else {
            self.resync
        };
        let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                note = notes.recv() => match note {
                    Some(note) => self.dispatch(note).await,
                    None => return,
                },
                _ = resync.tick(), if !self.resync.is_zero() => self.resync_all().await,
            }
        }
    }

    /// The scheduler's forwarders that Baton forwards to (empty for an unknown scheduler).
    async fn scheduler(&mut self, name: &str) -> Option<Arc<Scheduler>> {
        if let Some((at, scheduler)) = self.cache.get(name)
            && at.elapsed() < SCHEDULER_TTL
        {
            return scheduler.clone();
        }
        let scheduler = match self.schedulers.get(name, None).await {
            Ok(scheduler) => Some(Arc::new(scheduler)),
            Err(app::ports::StoreError::NotFound(_)) => None,
            Err(err) => {
                tracing::warn!(%err, scheduler = name, "forwarding: reading the scheduler failed");
                return None;
            }
        };
        if self.cache.len() > 10_000 {
            self.cache.clear();
        }
        self.cache
            .insert(name.to_string(), (Instant::now(), scheduler.clone()));
        scheduler
    }

    async fn dispatch(&mut self, note: Note) {
        let Some(scheduler) = self.scheduler(note.scheduler()).await else {
            return;
        };
        if !scheduler.config.forwarders.iter().any(forwards) {
            return;
        }
        let room = match &note {
            Note::Status {
                snapshot: Some(room),
                ..
            } => (**room).clone(),
            _ => match self.rooms.get(note.scheduler(), note.room()).await {
                Ok(room) => room,
                Err(err) => {
                    tracing::warn!(%err, room = note.room(), "forwarding: reading the room failed");
                    return;
                }
            },
        };
        for forwarder in scheduler.config.forwarders.iter().filter(|f| forwards(f)) {
            let forwarded = forwarded_room(&scheduler.config.game, &room, forwarder);
            let event = match &note {
                Note::Status { status, .. } => ForwardedEvent::RoomStatus {
                    room: forwarded,
                    status: *status,
                    resync: false,
                },
                Note::RoomEvent {
                    event, metadata, ..
                } => ForwardedEvent::RoomEvent {
                    room: forwarded,
                    event_type: event.clone(),
                    metadata: merged_metadata(metadata, forwarder),
                },
                Note::PlayerEvent {
                    player,
                    event,
                    metadata,
                    ..
                } => ForwardedEvent::PlayerEvent {
                    room: forwarded,
                    player_id: player.clone(),
                    event_type: *event,
                    metadata: merged_metadata(metadata, forwarder),
                },
            };
            self.lanes.push(&scheduler.config.name, forwarder, event);
        }
    }

    /// Tells every forwarder the current status of each room of its scheduler.
    async fn resync_all(&mut self) {
        let schedulers = match self.schedulers.list(&SchedulerFilter::default()).await {
            Ok(schedulers) => schedulers,
            Err(err) => {
                tracing::warn!(%err, "forwarding resync: listing schedulers failed");
                return;
            }
        };
        for scheduler in schedulers {
            if !scheduler.config.forwarders.iter().any(forwards) {
                continue;
            }
            let rooms = match self.rooms.list(&scheduler.config.name).await {
                Ok(rooms) => rooms,
                Err(err) => {
                    tracing::warn!(%err, scheduler = scheduler.config.name, "forwarding resync: listing rooms failed");
                    continue;
                }
            };
            for room in rooms {
                let Some(status) = ForwardedStatus::of(room.status) else {
                    continue;
                };
                for forwarder in scheduler.config.forwarders.iter().filter(|f| forwards(f)) {
                    let event = ForwardedEvent::RoomStatus {
                        room: forwarded_room(&scheduler.config.game, &room, forwarder),
                        status,
                        resync: true,
                    };
                    self.lanes.push(&scheduler.config.name, forwarder, event);
                }
            }
        }
    }
}
