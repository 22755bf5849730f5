//! Packing: which machine a `packed` allocation fills first, so that empty rooms and empty
//! machines can go.
//!
//! A room keeps its machine busy ([`busy`]) while it is `occupied`, or `ready` with a running
//! match or an open claim. Among the rooms that can take a claim, `packed` takes one on the
//! machine with the most busy rooms ([`busy_machines`]; a machine is named within its region,
//! and a room whose machine is not known yet counts as on a machine with none), and on that
//! machine (or among machines equally busy) the room the room order puts first
//! ([`super::selection::order`]: occupied rooms first, then the most running matches plus
//! claims, then the greatest id). `distributed` ignores machines.
//!
//! The room stores apply the same rule atomically: the in-process store over all its rooms,
//! the Redis store from a per-region count of busy rooms per machine that its scripts keep.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;

use super::selection::{Strategy, order};
use crate::domain::room::{GameRoom, RoomStatus};

/// Whether a room in `status` with `load` (running matches plus open claims) keeps its machine
/// busy.
pub fn busy(status: RoomStatus, load: u64) -> bool {
    status == RoomStatus::Occupied || (status == RoomStatus::Ready && load > 0)
}

/// Busy rooms per machine, by `(region, machine)`, among `(room, open claims)`. Rooms whose
/// machine is unknown (`""`) are not counted.
pub fn busy_machines<'a>(
    rooms: impl IntoIterator<Item = (&'a GameRoom, u32)>,
) -> BTreeMap<(&'a str, &'a str), u32> {
    let mut counts = BTreeMap::new();
    for (room, claims) in rooms {
        let load = u64::from(room.running_matches) + u64::from(claims);
        if !room.machine.is_empty() && busy(room.status, load) {
            *counts
                .entry((room.region.as_str(), room.machine.as_str()))
                .or_default() += 1;
        }
    }
    counts
}

/// How many busy rooms `room`'s machine has (0 when its machine is unknown).
pub fn machine_busy(counts: &BTreeMap<(&str, &str), u32>, room: &GameRoom) -> u32 {
    if room.machine.is_empty() {
        return 0;
    }
    counts
        .get(&(room.region.as_str(), room.machine.as_str()))
        .copied()
        .unwrap_or(0)
}

/// A room that can take a claim, as packing sees it: the room, its load (running matches plus
/// open claims) and its machine's busy rooms.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub room: &'a GameRoom,
    pub load: u64,
    pub machine_busy: u32,
}

/// The order of `strategy` between two candidates (`Less` goes first): `packed` puts the
/// busier machine first, then the room order; `distributed` the room order alone.
pub fn candidate_order(strategy: Strategy, a: &Candidate, b: &Candidate) -> Ordering {
    let rooms = order(strategy, (a.room, a.load), (b.room, b.load));
    match strategy {
        Strategy::Packed => Reverse(a.machine_busy)
            .cmp(&Reverse(b.machine_busy))
            .then(rooms),
        Strategy::Distributed => rooms,
    }
}

#[cfg(test)]
#[path = "packing_tests.rs"]
mod tests;
