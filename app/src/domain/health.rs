//! The health plan: given a scheduler's rooms, the runtime's instances and the desired count,
//! which rooms to create and which to remove, and why. Pure; the health controller carries it out.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::quantity::MaxSurge;
use super::room::{GameRoom, RoomStatus};
use super::scheduler::SchedulerState;
use super::version::VersionNumber;

/// How long rooms may take before they are replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthTimeouts {
    /// A room must ping ready (or unready) this soon after creation.
    pub initialization: Duration,
    /// A running room must ping at least this often.
    pub ping: Duration,
    /// A terminating room must be gone this soon after it was asked to stop (on top of its grace period).
    pub termination: Duration,
    /// A room just created may not have an instance yet; give the runtime this long.
    pub creation_grace: Duration,
}

impl Default for HealthTimeouts {
    fn default() -> Self {
        Self {
            initialization: Duration::seconds(120),
            ping: Duration::seconds(30),
            termination: Duration::seconds(30),
            creation_grace: Duration::seconds(10),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RemovalReason {
    /// Its instance crashed or failed.
    Error,
    /// It never became ready in time.
    InitializationTimeout,
    /// It stopped pinging.
    PingTimeout,
    /// Built from a version whose rooms are no longer wanted.
    Outdated,
    /// More rooms than desired.
    Surplus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub room: String,
    pub reason: RemovalReason,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthPlan {
    /// How many new rooms to create now.
    pub create: u32,
    /// Rooms to stop (they turn terminating, then are forgotten once their instance is gone).
    pub remove: Vec<Removal>,
    /// Rooms whose instance is gone, or that were stuck terminating: drop them from the store.
    pub forget: Vec<String>,
    /// Instances with no room in the store: stop them.
    pub orphans: Vec<String>,
}

impl HealthPlan {
    pub fn is_empty(&self) -> bool {
        self.create == 0
            && self.remove.is_empty()
            && self.forget.is_empty()
            && self.orphans.is_empty()
    }
}

/// Everything the plan depends on.
pub struct HealthInput<'a> {
    pub desired: u32,
    pub max_surge: MaxSurge,
    /// The scheduler's active version; rooms of another major version are replaced.
    pub active_version: &'a str,
    pub rooms: &'a [GameRoom],
    /// Ids of the rooms the runtime has an instance for.
    pub instances: &'a [String],
    pub now: DateTime<Utc>,
    pub timeouts: HealthTimeouts,
    /// The scheduler's termination grace period.
    pub grace_period: Duration,
    /// Rooms an operation owns (a validation room): neither counted nor removed here.
    pub keep: &'a [String],
}

fn major(version: &str) -> u32 {
    VersionNumber::parse(version).map_or(0, |v| v.major)
}

/// The order in which surplus rooms go: the least useful first, occupied rooms last.
fn surplus_rank(room: &GameRoom, active_major: u32) -> (u8, u8) {
    let outdated = major(&room.version) != active_major;
    let status = match room.status {
        RoomStatus::Pending => 0,
        RoomStatus::Unready => 1,
        RoomStatus::Ready => 2,
        _ => 3,
    };
    // Occupied rooms go last even when outdated: never cut a running match for a surplus.
    let occupied = u8::from(room.status == RoomStatus::Occupied);
    (occupied, if outdated { 0 } else { 1 + status })
}

pub fn plan(input: &HealthInput) -> HealthPlan {
    let HealthInput {
        desired,
        max_surge,
        active_version,
        rooms,
        instances,
        now,
        timeouts,
        grace_period,
        keep,
    } = *input;
    let active_major = major(active_version);
    let instances: HashSet<&str> = instances.iter().map(String::as_str).collect();
    let known: HashSet<&str> = rooms.iter().map(|r| r.id.as_str()).collect();
    let mut plan = HealthPlan {
        orphans: instances
            .iter()
            .filter(|id| !known.contains(*id))
            .map(|id| id.to_string())
            .collect(),
        ..HealthPlan::default()
    };
    plan.orphans.sort();

    let mut live: Vec<&GameRoom> = Vec::new();
    for room in rooms.iter().filter(|r| !keep.contains(&r.id)) {
        let has_instance = instances.contains(room.id.as_str());
        let since_change = now - room.status_changed_at;
        let since_created = now - room.created_at;
        let remove = |reason| Removal {
            room: room.id.clone(),
            reason,
        };
        match room.status {
            RoomStatus::Terminated => plan.forget.push(room.id.clone()),
            RoomStatus::Terminating => {
                if !has_instance || since_change > grace_period + timeouts.termination {
                    plan.forget.push(room.id.clone());
                }
            }
            _ if !has_instance && since_created > timeouts.creation_grace => {
                plan.forget.push(room.id.clone())
            }
            RoomStatus::Error => plan.remove.push(remove(RemovalReason::Error)),
            RoomStatus::Pending | RoomStatus::Unready if since_change > timeouts.initialization => {
                plan.remove
                    .push(remove(RemovalReason::InitializationTimeout))
            }
            RoomStatus::Ready | RoomStatus::Occupied | RoomStatus::Unready
                if room.last_ping_at.is_some_and(|at| now - at > timeouts.ping) =>
            {
                plan.remove.push(remove(RemovalReason::PingTimeout))
            }
            _ => live.push(room),
        }
    }

    let desired = desired as usize;
    let current = live
        .iter()
        .filter(|r| major(&r.version) == active_major)
        .count();
    let in_flight = live
        .iter()
        .filter(|r| matches!(r.status, RoomStatus::Pending | RoomStatus::Unready))
        .count();
    let surge = max_surge.rooms(desired as u32) as usize;
    plan.create = desired
        .saturating_sub(current)
        .min(surge.saturating_sub(in_flight)) as u32;

    let total = live.len() + plan.create as usize;
    let surplus = total.saturating_sub(desired);
    if surplus > 0 {
        let mut candidates: Vec<&GameRoom> = live.clone();
        // Least useful first; among equals the newest first, keeping long-lived warm rooms.
        candidates.sort_by(|a, b| {
            surplus_rank(a, active_major)
                .cmp(&surplus_rank(b, active_major))
                .then(b.created_at.cmp(&a.created_at))
                .then(a.id.cmp(&b.id))
        });
        for room in candidates.into_iter().take(surplus) {
            let reason = if major(&room.version) != active_major {
                RemovalReason::Outdated
            } else {
                RemovalReason::Surplus
            };
            plan.remove.push(Removal {
                room: room.id.clone(),
                reason,
            });
        }
    }
    plan
}

/// How many rooms of the active version may crash in a row, none of them ready, before the
/// scheduler is `on-error`.
pub const CRASHES_BEFORE_ON_ERROR: u32 = 3;

/// What the health controller remembers of a scheduler between ticks: how many rooms of the
/// active version crashed since one of them was last ready.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashStreak {
    /// The active version the count is about; another version starts again from zero.
    pub version: String,
    pub crashes: u32,
}

/// Everything the scheduler's state depends on, as one tick sees it.
pub struct StateInput<'a> {
    /// The state stored now.
    pub stored: SchedulerState,
    pub streak: &'a CrashStreak,
    pub active_version: &'a str,
    pub rooms: &'a [GameRoom],
    /// This tick's plan (its `Error` removals are the crashes it saw).
    pub plan: &'a HealthPlan,
}

/// The scheduler's state after a tick, and the streak to remember. `on-error` once
/// [`CRASHES_BEFORE_ON_ERROR`] rooms of the active version crashed with none of them ready
/// (and it stays so, also for a controller that starts afresh, until one is ready or another
/// version is active); otherwise `in-sync` when nothing is left to do and every room is ready
/// or occupied, else `pending-sync`.
pub fn scheduler_state(input: &StateInput) -> (SchedulerState, CrashStreak) {
    let active_major = major(input.active_version);
    let of_active = |room: &GameRoom| major(&room.version) == active_major;
    let running = input
        .rooms
        .iter()
        .any(|r| of_active(r) && matches!(r.status, RoomStatus::Ready | RoomStatus::Occupied));
    let crashed = input
        .plan
        .remove
        .iter()
        .filter(|removal| removal.reason == RemovalReason::Error)
        .filter(|removal| {
            input
                .rooms
                .iter()
                .any(|r| r.id == removal.room && of_active(r))
        })
        .count() as u32;
    let before = if input.streak.version == input.active_version {
        input.streak.crashes
    } else {
        0
    };
    let crashes = if running {
        0
    } else {
        before.saturating_add(crashed)
    };
    let streak = CrashStreak {
        version: input.active_version.to_string(),
        crashes,
    };
    // A controller that starts afresh (another process, a restart) trusts the stored state; one
    // that has watched an older version does not (a new version was stored meanwhile).
    let inherited = input.streak.version.is_empty() && input.stored == SchedulerState::OnError;
    let on_error = !running && (crashes >= CRASHES_BEFORE_ON_ERROR || inherited);
    let settled = input.plan.is_empty()
        && input
            .rooms
            .iter()
            .all(|r| matches!(r.status, RoomStatus::Ready | RoomStatus::Occupied));
    let state = if on_error {
        SchedulerState::OnError
    } else if settled {
        SchedulerState::InSync
    } else {
        SchedulerState::PendingSync
    };
    (state, streak)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000 + seconds, 0).unwrap()
    }

    fn room(id: &str, status: RoomStatus, created: i64, last_ping: Option<i64>) -> GameRoom {
        GameRoom {
            id: id.into(),
            scheduler: "s".into(),
            version: "v1".into(),
            status,
            created_at: at(created),
            status_changed_at: at(last_ping.unwrap_or(created)),
            last_ping_at: last_ping.map(at),
            running_matches: 0,
            metadata: BTreeMap::new(),
            address: None,
        }
    }

    fn run(desired: u32, rooms: &[GameRoom], now: i64) -> HealthPlan {
        let instances: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
        plan(&HealthInput {
            desired,
            max_surge: MaxSurge::Count(5),
            active_version: "v1",
            rooms,
            instances: &instances,
            now: at(now),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
            keep: &[],
        })
    }

    fn removed(plan: &HealthPlan) -> Vec<(&str, RemovalReason)> {
        plan.remove
            .iter()
            .map(|r| (r.room.as_str(), r.reason))
            .collect()
    }

    #[test]
    fn creates_up_to_the_surge_per_round() {
        assert_eq!(run(3, &[], 0).create, 3);
        assert_eq!(run(12, &[], 0).create, 5);
        let pending: Vec<GameRoom> = (0..4)
            .map(|i| room(&format!("p{i}"), RoomStatus::Pending, 0, None))
            .collect();
        // Four in flight, a surge of five: one more now.
        assert_eq!(run(12, &pending, 1).create, 1);
    }

    #[test]
    fn steady_state_does_nothing() {
        let rooms = [
            room("a", RoomStatus::Ready, 0, Some(100)),
            room("b", RoomStatus::Occupied, 0, Some(100)),
        ];
        assert!(run(2, &rooms, 110).is_empty());
    }

    #[test]
    fn removes_surplus_occupied_last() {
        let rooms = [
            room("occ", RoomStatus::Occupied, 0, Some(100)),
            room("old-ready", RoomStatus::Ready, 0, Some(100)),
            room("new-ready", RoomStatus::Ready, 50, Some(100)),
            room("pending", RoomStatus::Pending, 95, None),
        ];
        let plan = run(1, &rooms, 101);
        assert_eq!(plan.create, 0);
        assert_eq!(
            removed(&plan),
            [
                ("pending", RemovalReason::Surplus),
                ("new-ready", RemovalReason::Surplus),
                ("old-ready", RemovalReason::Surplus)
            ]
        );
    }

    #[test]
    fn replaces_rooms_that_fail_time_out_or_stop_pinging() {
        let rooms = [
            room("err", RoomStatus::Error, 0, None),
            room("stuck", RoomStatus::Pending, 0, None),
            room("silent", RoomStatus::Ready, 0, Some(10)),
            room("fine", RoomStatus::Ready, 0, Some(190)),
        ];
        let plan = run(4, &rooms, 200);
        assert_eq!(
            removed(&plan),
            [
                ("err", RemovalReason::Error),
                ("stuck", RemovalReason::InitializationTimeout),
                ("silent", RemovalReason::PingTimeout)
            ]
        );
        assert_eq!(plan.create, 3);
    }

    #[test]
    fn reconciles_store_and_runtime_both_ways() {
        let rooms = [
            room("no-instance", RoomStatus::Ready, 0, Some(95)),
            room("just-created", RoomStatus::Pending, 98, None),
            room("done", RoomStatus::Terminating, 0, Some(50)),
        ];
        let plan = plan(&HealthInput {
            desired: 2,
            max_surge: MaxSurge::Count(5),
            active_version: "v1",
            rooms: &rooms,
            instances: &["orphan".to_string()],
            now: at(100),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
            keep: &[],
        });
        assert_eq!(plan.forget, ["no-instance", "done"]);
        assert_eq!(plan.orphans, ["orphan"]);
        assert_eq!(plan.create, 1);
    }

    #[test]
    fn stuck_terminating_rooms_are_forgotten() {
        let rooms = [room("t", RoomStatus::Terminating, 0, Some(0))];
        assert!(run(0, &rooms, 30).forget.is_empty());
        assert_eq!(run(0, &rooms, 41).forget, ["t"]);
    }

    #[test]
    fn rolls_out_a_new_major_version_within_the_surge() {
        let mut rooms: Vec<GameRoom> = ["a", "b", "c"]
            .iter()
            .map(|id| room(id, RoomStatus::Ready, 0, Some(100)))
            .collect();
        rooms[2].status = RoomStatus::Occupied;
        let plan = plan(&HealthInput {
            desired: 3,
            max_surge: MaxSurge::Count(1),
            active_version: "v2",
            rooms: &rooms,
            instances: &["a".into(), "b".into(), "c".into()],
            now: at(101),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
            keep: &[],
        });
        assert_eq!(plan.create, 1);
        assert_eq!(removed(&plan), [("a", RemovalReason::Outdated)]);
        // Minor versions keep their rooms.
        let mut minor = rooms.clone();
        minor.iter_mut().for_each(|r| r.version = "v1.3".into());
        let instances: Vec<String> = minor.iter().map(|r| r.id.clone()).collect();
        let input = HealthInput {
            desired: 3,
            max_surge: MaxSurge::Count(1),
            active_version: "v1.4",
            rooms: &minor,
            instances: &instances,
            now: at(101),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
        };
        assert!(super::plan(&input).is_empty());
    }

    fn crash_tick(
        stored: SchedulerState,
        streak: &CrashStreak,
        rooms: &[GameRoom],
    ) -> (SchedulerState, CrashStreak) {
        let plan = run(1, rooms, 5);
        scheduler_state(&StateInput {
            stored,
            streak,
            active_version: "v1",
            rooms,
            plan: &plan,
        })
    }

    #[test]
    fn rooms_that_keep_crashing_put_the_scheduler_on_error() {
        let crashed = [room("c", RoomStatus::Error, 0, None)];
        let mut streak = CrashStreak::default();
        let mut state = SchedulerState::Creating;
        let mut seen = Vec::new();
        for _ in 0..CRASHES_BEFORE_ON_ERROR {
            (state, streak) = crash_tick(state, &streak, &crashed);
            seen.push(state);
        }
        assert_eq!(
            seen,
            [
                SchedulerState::PendingSync,
                SchedulerState::PendingSync,
                SchedulerState::OnError
            ]
        );
        // Still none ready, nothing crashed this tick (a new room is pending): still on error,
        // also for a controller that starts afresh.
        let pending = [room("p", RoomStatus::Pending, 4, None)];
        assert_eq!(
            crash_tick(state, &streak, &pending).0,
            SchedulerState::OnError
        );
        let fresh = CrashStreak::default();
        assert_eq!(
            crash_tick(state, &fresh, &pending).0,
            SchedulerState::OnError
        );
        // A ready room of the active version: back to normal, the count starts again.
        let ready = [room("r", RoomStatus::Ready, 4, Some(5))];
        let (state, streak) = crash_tick(state, &streak, &ready);
        assert_eq!(state, SchedulerState::InSync);
        assert_eq!(streak.crashes, 0);
    }

    #[test]
    fn crashes_of_old_versions_or_between_ready_rooms_do_not_count() {
        let mut old = room("old", RoomStatus::Error, 0, None);
        old.version = "v0".into();
        let (state, streak) = crash_tick(
            SchedulerState::InSync,
            &CrashStreak {
                version: "v1".into(),
                crashes: 2,
            },
            &[old],
        );
        assert_eq!((state, streak.crashes), (SchedulerState::PendingSync, 2));
        // A crash while another room of the version is ready resets the count.
        let rooms = [
            room("c", RoomStatus::Error, 0, None),
            room("r", RoomStatus::Ready, 0, Some(5)),
        ];
        let streak = CrashStreak {
            version: "v1".into(),
            crashes: 2,
        };
        let (state, streak) = crash_tick(SchedulerState::InSync, &streak, &rooms);
        assert_eq!((state, streak.crashes), (SchedulerState::PendingSync, 0));
        // Another active version starts from zero.
        let streak = CrashStreak {
            version: "v0".into(),
            crashes: 2,
        };
        let crashed = [room("c", RoomStatus::Error, 0, None)];
        let (state, streak) = crash_tick(SchedulerState::PendingSync, &streak, &crashed);
        assert_eq!((state, streak.crashes), (SchedulerState::PendingSync, 1));
        // Even when the old version's on-error was stored after the new version was.
        let old = CrashStreak {
            version: "v0".into(),
            crashes: 5,
        };
        let pending = [room("p", RoomStatus::Pending, 4, None)];
        let (state, _) = crash_tick(SchedulerState::OnError, &old, &pending);
        assert_eq!(state, SchedulerState::PendingSync);
    }

    #[test]
    fn settled_schedulers_are_in_sync() {
        let rooms = [room("r", RoomStatus::Ready, 0, Some(5))];
        let (state, _) = crash_tick(SchedulerState::Creating, &CrashStreak::default(), &rooms);
        assert_eq!(state, SchedulerState::InSync);
        let (state, _) = crash_tick(SchedulerState::Creating, &CrashStreak::default(), &[]);
        assert_eq!(state, SchedulerState::PendingSync);
    }
}
