//! The health plan: given a scheduler's rooms, the runtime's instances and the desired count,
//! which rooms to create and which to remove, and why. Pure; the health controller carries it out.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use super::quantity::MaxSurge;
use super::rollout::{Fleet, major, wave};
use super::room::{GameRoom, RoomStatus};
use super::scheduler::SchedulerState;

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
    /// Rooms waiting for capacity (pending, with a status reason, no instance): try to start
    /// their instance again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start: Vec<String>,
}

impl HealthPlan {
    pub fn is_empty(&self) -> bool {
        self.create == 0
            && self.remove.is_empty()
            && self.forget.is_empty()
            && self.orphans.is_empty()
            && self.start.is_empty()
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
    /// Rooms an operation owns (say, a validation room of a version not yet active): not counted,
    /// never removed as outdated, surplus or timed out; still forgotten once their instance is
    /// gone, and still removed when in error.
    pub keep: &'a [String],
    /// Rooms with open allocation claims: counted as usual, but never removed (as surplus,
    /// outdated or timed out) while a matchmaker holds them; only an error removes them.
    pub claimed: &'a [String],
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
        claimed,
    } = *input;
    // Each instance, and whether a room has it (those left without one are orphans). The ids
    // are Baton's own: a fast hash is enough.
    let mut instances: HashMap<&str, bool, FixedState> =
        instances.iter().map(|id| (id.as_str(), false)).collect();
    let keep: HashSet<&str, FixedState> = keep.iter().map(String::as_str).collect();
    let mut plan = HealthPlan::default();

    let mut live: Vec<&GameRoom> = Vec::with_capacity(rooms.len());
    for room in rooms {
        let has_instance = match instances.get_mut(room.id.as_str()) {
            Some(roomed) => {
                *roomed = true;
                true
            }
            None => false,
        };
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
            // Waiting for capacity: counted, not timed out, started once capacity frees. One
            // of a version no longer active is not started: it goes as outdated.
            RoomStatus::Pending if !has_instance && is_waiting(room) => {
                if room.version == active_version {
                    plan.start.push(room.id.clone());
                    live.push(room);
                } else if !keep.contains(room.id.as_str()) {
                    plan.remove.push(remove(RemovalReason::Outdated));
                }
            }
            // An operation's room (a validation room) is the operation's to judge and stop,
            // crashed or gone: it reads the reason and the output before the room goes.
            _ if keep.contains(room.id.as_str()) => {}
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

    plan.orphans = instances
        .into_iter()
        .filter(|(_, roomed)| !roomed)
        .map(|(id, _)| id.to_string())
        .collect();
    plan.orphans.sort();

    let decided = wave(&Fleet {
        live: &live,
        active_major: major(active_version),
        desired,
        max_surge,
    });
    plan.create = decided.create;
    plan.remove.extend(decided.remove);
    // A waiting room the wave removes is not started.
    plan.start
        .retain(|room| !plan.remove.iter().any(|removal| &removal.room == room));
    if !claimed.is_empty() {
        let claimed: HashSet<&str, FixedState> = claimed.iter().map(String::as_str).collect();
        plan.remove.retain(|removal| {
            removal.reason == RemovalReason::Error || !claimed.contains(removal.room.as_str())
        });
    }
    plan
}

/// Whether the room waits for capacity: pending with a reason (its instance is not started;
/// the runtime said why).
pub fn is_waiting(room: &GameRoom) -> bool {
    room.status == RoomStatus::Pending && room.status_reason.is_some()
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
mod tests;
