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
        // Counted by borrowed keys in a short list (a scheduler has few regions and statuses):
        // a region's name is copied once, not once per room.
        let mut counted: Vec<((&str, RoomStatus), u64)> = Vec::new();
        for room in rooms {
            let key = (room.region.as_str(), room.status);
            match counted.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counted.push((key, 1)),
            }
        }
        let counts = counted
            .into_iter()
            .map(|((region, status), n)| ((region.to_string(), status), n))
            .collect();
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;

    use super::*;
    use crate::observability::Metrics;

    fn scheduler(name: &str) -> Scheduler {
        let config = serde_json::from_value(serde_json::json!({
            "name": name, "game": "g", "roomsReplicas": 0,
            "spec": {"terminationGracePeriod": "5s", "containers": [{
                "name": "game", "image": "i", "command": ["/bin/true"]}]}
        }))
        .expect("a scheduler");
        Scheduler {
            config,
            version: "v1".into(),
            state: Default::default(),
            created_at: Utc::now(),
        }
    }

    fn room(id: &str, region: &str, status: RoomStatus) -> GameRoom {
        GameRoom {
            id: id.into(),
            scheduler: "s".into(),
            version: "v1".into(),
            status,
            status_reason: None,
            created_at: Utc::now(),
            status_changed_at: Utc::now(),
            last_ping_at: None,
            running_matches: 0,
            metadata: BTreeMap::new(),
            address: None,
            region: region.into(),
            machine: String::new(),
        }
    }

    #[test]
    fn rooms_are_counted_by_region_and_status_without_their_ids() {
        let metrics = Metrics::new(Duration::from_secs(60));
        let rooms = [
            room("room-a1", "eu", RoomStatus::Ready),
            room("room-a2", "eu", RoomStatus::Ready),
            room("room-a3", "us", RoomStatus::Ready),
            room("room-a4", "", RoomStatus::Occupied),
        ];
        metrics.rooms.record(&scheduler("s"), &rooms, 5);
        let text = metrics.render();
        for line in [
            r#"baton_rooms{game="g",scheduler="s",region="eu",status="ready"} 2"#,
            r#"baton_rooms{game="g",scheduler="s",region="us",status="ready"} 1"#,
            r#"baton_rooms{game="g",scheduler="s",region="",status="occupied"} 1"#,
            r#"baton_worker_gru_ready{game="g",scheduler="s"} 3"#,
            r#"baton_worker_gru_occupied{game="g",scheduler="s"} 1"#,
            r#"baton_worker_gru_error{game="g",scheduler="s"} 0"#,
            r#"baton_worker_current_rooms{game="g",scheduler="s"} 4"#,
            r#"baton_worker_desired_rooms{game="g",scheduler="s"} 5"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("room-a"), "{text}");
        // A later tick replaces the counts: nothing left of the old ones.
        metrics.rooms.record(&scheduler("s"), &rooms[..1], 1);
        let text = metrics.render();
        assert!(
            text.contains(r#"baton_worker_gru_ready{game="g",scheduler="s"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"region="us""#), "{text}");
    }

    #[test]
    fn schedulers_no_longer_ticked_here_disappear() {
        let metrics = Metrics::new(Duration::ZERO);
        metrics
            .rooms
            .record(&scheduler("gone"), &[room("r", "", RoomStatus::Ready)], 1);
        std::thread::sleep(Duration::from_millis(5));
        let text = metrics.render();
        assert!(!text.contains(r#"scheduler="gone""#), "{text}");
    }
}
