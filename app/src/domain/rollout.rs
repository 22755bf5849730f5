//! Waves: how a scheduler's healthy rooms move to the active major version, and down to the
//! desired count. Pure; [`super::health::plan`] calls it on the rooms that passed its checks.
//!
//! The rules, for `D` desired rooms and a surge of `S` rooms:
//! - Rooms of the active major count as current; `create = min(D - current, S - in flight)`,
//!   where in flight are the pending and unready rooms of any version.
//! - Current rooms are removed (`Surplus`) only when there are more than `D` of them,
//!   pending first, occupied last.
//! - Outdated rooms go (`Outdated`) while the rooms after this tick are more than `D`:
//!   pending and unready ones first, then ready ones, but a ready one only while the ready rooms
//!   left after this tick's removals stay at least `min(D, ready rooms now)`. Occupied outdated
//!   rooms are never removed; once free they are outdated ready rooms like the others.
//!
//! So a rollout never lowers the ready pool below what it was (or `D`), never cuts a match, and,
//! since current rooms are only removed above `D`, never creates a room it removes again.

use std::cmp::Reverse;

use super::health::{Removal, RemovalReason};
use super::quantity::MaxSurge;
use super::room::{GameRoom, RoomStatus};
use super::version::VersionNumber;

/// The major version of a version name; `0` for a name that is not a version.
pub fn major(version: &str) -> u32 {
    VersionNumber::parse(version).map_or(0, |v| v.major)
}

/// This tick's part of the plan decided by the rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wave {
    pub create: u32,
    /// Outdated removals first, then surplus ones.
    pub remove: Vec<Removal>,
}

/// The rollout's view of one tick.
pub struct Fleet<'a> {
    /// The healthy rooms (pending, unready, ready or occupied) that no operation keeps.
    pub live: &'a [&'a GameRoom],
    pub active_major: u32,
    pub desired: u32,
    pub max_surge: MaxSurge,
}

fn in_flight(room: &GameRoom) -> bool {
    matches!(room.status, RoomStatus::Pending | RoomStatus::Unready)
}

fn is_ready(room: &GameRoom) -> bool {
    room.status == RoomStatus::Ready
}

/// The least useful first: pending, unready, ready, occupied; among equals the newest first,
/// keeping long-lived warm rooms.
fn by_usefulness(rooms: &mut [&GameRoom]) {
    rooms.sort_by_key(|room| {
        let rank: u8 = match room.status {
            RoomStatus::Pending => 0,
            RoomStatus::Unready => 1,
            RoomStatus::Ready => 2,
            _ => 3,
        };
        (rank, Reverse(room.created_at), room.id.as_str())
    });
}

fn removal(room: &GameRoom, reason: RemovalReason) -> Removal {
    Removal {
        room: room.id.clone(),
        reason,
    }
}

pub fn wave(fleet: &Fleet) -> Wave {
    let desired = fleet.desired as usize;
    let surge = fleet.max_surge.rooms(fleet.desired) as usize;
    let (mut current, mut outdated): (Vec<&GameRoom>, Vec<&GameRoom>) = fleet
        .live
        .iter()
        .partition(|room| major(&room.version) == fleet.active_major);
    let in_flight_now = fleet.live.iter().filter(|r| in_flight(r)).count();
    let create = desired
        .saturating_sub(current.len())
        .min(surge.saturating_sub(in_flight_now));
    let ready_now = fleet.live.iter().filter(|r| is_ready(r)).count();
    let ready_floor = desired.min(ready_now);

    // Scale-down: only current rooms above the desired count (then `create` is zero).
    by_usefulness(&mut current);
    let excess = current.len().saturating_sub(desired);
    let surplus: Vec<Removal> = current[..excess]
        .iter()
        .map(|room| removal(room, RemovalReason::Surplus))
        .collect();
    let mut ready_left = ready_now - current[..excess].iter().filter(|r| is_ready(r)).count();

    // Outdated rooms beyond the desired count, within the ready floor; never occupied ones.
    let current_after = current.len() - excess + create;
    let mut budget = (current_after + outdated.len()).saturating_sub(desired);
    by_usefulness(&mut outdated);
    let mut remove = Vec::new();
    for room in outdated {
        if budget == 0 || room.status == RoomStatus::Occupied {
            break;
        }
        if is_ready(room) {
            if ready_left <= ready_floor {
                break;
            }
            ready_left -= 1;
        }
        remove.push(removal(room, RemovalReason::Outdated));
        budget -= 1;
    }
    remove.extend(surplus);
    Wave {
        create: create as u32,
        remove,
    }
}

pub mod progress;
#[cfg(test)]
mod props;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
