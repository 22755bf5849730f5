//! A scheduler simulated tick by tick for the rollout's tests: the health plan is applied at
//! once (removed rooms vanish, created rooms are pending), and a created room turns ready
//! `delay` ticks after it was created. Nothing fails, nobody plays.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::major;
use crate::domain::health::{HealthInput, HealthPlan, HealthTimeouts, plan};
use crate::domain::quantity::MaxSurge;
use crate::domain::room::{GameRoom, RoomStatus};

pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_000_000 + seconds, 0).expect("a valid time")
}

pub fn room(id: &str, version: &str, status: RoomStatus, created: i64) -> GameRoom {
    GameRoom {
        id: id.into(),
        scheduler: "s".into(),
        version: version.into(),
        status,
        status_reason: None,
        created_at: at(created),
        status_changed_at: at(created),
        last_ping_at: (status != RoomStatus::Pending).then(|| at(created)),
        running_matches: 0,
        metadata: BTreeMap::new(),
        address: None,
        region: String::new(),
        machine: String::new(),
    }
}

pub struct Sim {
    pub rooms: Vec<GameRoom>,
    pub desired: u32,
    pub max_surge: MaxSurge,
    pub active: String,
    /// Ticks a created room stays pending (at least one).
    pub delay: i64,
    pub tick: i64,
    pub created: u32,
    /// The fewest ready rooms seen, at the start and after each tick's removals.
    pub min_ready: usize,
    ready_at: BTreeMap<String, i64>,
}

impl Sim {
    /// `initial` ready rooms of `version`.
    pub fn new(initial: usize, version: &str, desired: u32, max_surge: MaxSurge) -> Self {
        let rooms: Vec<GameRoom> = (0..initial)
            .map(|i| room(&format!("init-{i}"), version, RoomStatus::Ready, 0))
            .collect();
        Self {
            min_ready: initial,
            rooms,
            desired,
            max_surge,
            active: version.to_string(),
            delay: 1,
            tick: 1,
            created: 0,
            ready_at: BTreeMap::new(),
        }
    }

    fn now(&self) -> i64 {
        self.tick * 5
    }

    pub fn ready(&self) -> usize {
        self.rooms
            .iter()
            .filter(|r| r.status == RoomStatus::Ready)
            .count()
    }

    /// Pings, then one health tick, carried out.
    pub fn step(&mut self) -> HealthPlan {
        let now = self.now();
        for room in &mut self.rooms {
            if self.ready_at.get(&room.id).is_some_and(|&t| t <= self.tick) {
                self.ready_at.remove(&room.id);
                room.status = RoomStatus::Ready;
                room.status_changed_at = at(now);
            }
            if room.status != RoomStatus::Pending {
                room.last_ping_at = Some(at(now));
            }
        }
        let instances: Vec<String> = self.rooms.iter().map(|r| r.id.clone()).collect();
        let decided = plan(&HealthInput {
            desired: self.desired,
            max_surge: self.max_surge,
            active_version: &self.active,
            rooms: &self.rooms,
            instances: &instances,
            now: at(now),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
            keep: &[],
            claimed: &[],
        });
        self.rooms
            .retain(|r| !decided.remove.iter().any(|removal| removal.room == r.id));
        self.min_ready = self.min_ready.min(self.ready());
        for _ in 0..decided.create {
            let id = format!("new-{}", self.created);
            self.created += 1;
            self.ready_at.insert(id.clone(), self.tick + self.delay);
            self.rooms
                .push(room(&id, &self.active, RoomStatus::Pending, now));
        }
        self.tick += 1;
        decided
    }

    /// Every room ready, of the active major, as many as desired.
    pub fn settled(&self) -> bool {
        let active = major(&self.active);
        self.rooms.len() == self.desired as usize
            && self
                .rooms
                .iter()
                .all(|r| r.status == RoomStatus::Ready && major(&r.version) == active)
    }

    /// Steps until settled and a tick plans nothing; the ticks it took, or `None` past `limit`.
    pub fn run(&mut self, limit: i64) -> Option<i64> {
        let start = self.tick;
        while self.tick - start < limit {
            let decided = self.step();
            if decided.is_empty() && self.settled() {
                return Some(self.tick - start);
            }
        }
        None
    }
}
