//! Room gauges: what each health tick of this process saw (it lists the scheduler's rooms
//! anyway), kept per scheduler and written into the gauges at scrape time. Nothing is added to
//! the ping's path, and a scrape does no I/O. A scheduler whose ticks stopped here (its lease
//! moved to another replica, or it was deleted) disappears after `stale_after`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::Scheduler;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoomLabels {
    game: String,
    scheduler: String,
    /// The region of the room's runtime; empty for the default one.
    region: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SchedulerLabels {
    game: String,
    scheduler: String,
}

/// What one tick saw of one scheduler.
#[derive(Debug)]
struct Snapshot {
    game: String,
    at: Instant,
    desired: u32,
    total: u64,
    /// Rooms by (region, status).
    rooms: BTreeMap<(String, RoomStatus), u64>,
}

/// The statuses Maestro reports one gauge each for (`maestro_worker_gru_<status>`).
const GRU: [RoomStatus; 6] = [
    RoomStatus::Pending,
    RoomStatus::Unready,
    RoomStatus::Ready,
    RoomStatus::Occupied,
    RoomStatus::Terminating,
    RoomStatus::Error,
];

#[derive(Debug)]
pub struct RoomGauges {
    stale_after: Duration,
    snapshots: Mutex<HashMap<String, Snapshot>>,
    rooms: Family<RoomLabels, Gauge>,
    current: Family<SchedulerLabels, Gauge>,
    desired: Family<SchedulerLabels, Gauge>,
    gru: Vec<(RoomStatus, Family<SchedulerLabels, Gauge>)>,
}

impl RoomGauges {
    pub(super) fn new(registry: &mut Registry, stale_after: Duration) -> Self {
        let rooms = Family::<RoomLabels, Gauge>::default();
        registry.register(
            "rooms",
            "Rooms by game, scheduler, region and status, as the last health tick saw them",
            rooms.clone(),
        );
        let current = Family::<SchedulerLabels, Gauge>::default();
        registry.register(
            "worker_current_rooms",
            "Current number of rooms of a scheduler",
            current.clone(),
        );
        let desired = Family::<SchedulerLabels, Gauge>::default();
        registry.register(
            "worker_desired_rooms",
            "Desired number of rooms of a scheduler (its autoscaling policy's answer)",
            desired.clone(),
        );
        let gru = GRU
            .into_iter()
            .map(|status| {
                let family = Family::<SchedulerLabels, Gauge>::default();
                registry.register(
                    format!("worker_gru_{}", status.as_str()),
                    format!("The number of game rooms with status {}", status.as_str()),
                    family.clone(),
                );
                (status, family)
            })
            .collect();
        Self {
            stale_after,
            snapshots: Mutex::new(HashMap::new()),
            rooms,
            current,
            desired,
            gru,
        }
    }

    /// What a health tick saw: the scheduler's rooms and how many it wants.
    pub fn record(&self, scheduler: &Scheduler, rooms: &[GameRoom], desired: u32) {
        let mut counts = BTreeMap::new();
        for room in rooms {
            *counts.entry((room.region.clone(), room.status)).or_insert(0) += 1;
        }
        let snapshot = Snapshot {
            game: scheduler.config.game.clone(),
            at: Instant::now(),
            desired,
            total: rooms.len() as u64,
            rooms: counts,
        };
        if let Ok(mut snapshots) = self.snapshots.lock() {
            snapshots.insert(scheduler.config.name.clone(), snapshot);
        }
    }

    /// Writes the snapshots that are still fresh into the gauges (at scrape time).
    pub(super) fn refresh(&self) {
        let Ok(mut snapshots) = self.snapshots.lock() else {
            return;
        };
        snapshots.retain(|_, s| s.at.elapsed() <= self.stale_after);
        self.rooms.clear();
        self.current.clear();
        self.desired.clear();
        for (_, family) in &self.gru {
            family.clear();
        }
        for (name, snapshot) in snapshots.iter() {
            let labels = SchedulerLabels {
                game: snapshot.game.clone(),
                scheduler: name.clone(),
            };
            self.current
                .get_or_create(&labels)
                .set(snapshot.total as i64);
            self.desired
                .get_or_create(&labels)
                .set(i64::from(snapshot.desired));
            let mut by_status: HashMap<RoomStatus, u64> = HashMap::new();
            for ((region, status), count) in &snapshot.rooms {
                *by_status.entry(*status).or_insert(0) += count;
                self.rooms
                    .get_or_create(&RoomLabels {
                        game: snapshot.game.clone(),
                        scheduler: name.clone(),
                        region: region.clone(),
                        status: status.as_str().to_string(),
                    })
                    .set(*count as i64);
            }
            for (status, family) in &self.gru {
                family
                    .get_or_create(&labels)
                    .set(by_status.get(status).copied().unwrap_or(0) as i64);
            }
        }
    }
}
