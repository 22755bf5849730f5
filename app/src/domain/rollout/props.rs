//! Properties of the plan over random rooms, and of whole rollouts simulated tick by tick.
//!
//! Invariants (`D` desired, `S` surge rooms, rooms healthy and not kept unless said):
//! - ready floor: with `R` the ready rooms now, the ready rooms a plan leaves are at least
//!   `min(D, R)` whenever it removes a ready room as outdated, and whenever it removes nothing as
//!   surplus;
//! - no occupied room is removed as outdated, and no outdated occupied room at all;
//! - `create <= S - in flight` (so `create <= S`) and `create <= D - current`;
//! - current rooms are removed only above `D`, exactly `current - D` of them;
//! - the rooms left plus those created are at least `min(D, rooms + created)`;
//! - kept rooms are removed only in error, and the plan for the other rooms is the plan without
//!   the kept rooms;
//! - a simulated rollout from `N` ready rooms settles (all of the active major, ready, `D` of
//!   them) within `(N + D + 2) * (delay + 1)` ticks, never with fewer than `min(D, N)` ready
//!   rooms, creating exactly `D` rooms; with a switch back to the old major at a random tick it
//!   still settles within that many ticks after the switch, creating `D - old rooms left` after
//!   it, so at most `2 * D` in all.

use proptest::prelude::*;

use super::major;
use super::sim::{Sim, at, room};
use crate::domain::health::{HealthInput, HealthPlan, HealthTimeouts, RemovalReason, plan};
use crate::domain::quantity::MaxSurge;
use crate::domain::room::{GameRoom, RoomStatus};
use chrono::Duration;

fn status() -> impl Strategy<Value = RoomStatus> {
    prop_oneof![
        Just(RoomStatus::Pending),
        Just(RoomStatus::Unready),
        Just(RoomStatus::Ready),
        Just(RoomStatus::Occupied),
        Just(RoomStatus::Error),
    ]
}

fn max_surge() -> impl Strategy<Value = MaxSurge> {
    prop_oneof![
        (1u32..10).prop_map(MaxSurge::Count),
        (1u32..=100).prop_map(MaxSurge::Percent),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    desired: u32,
    max_surge: MaxSurge,
    active: &'static str,
    rooms: Vec<GameRoom>,
    keep: Vec<String>,
}

fn case() -> impl Strategy<Value = Case> {
    let rooms = prop::collection::vec((any::<bool>(), status(), prop::bool::weighted(0.1)), 0..40);
    (0u32..30, max_surge(), any::<bool>(), rooms).prop_map(|(desired, max_surge, v2, specs)| {
        let mut keep = Vec::new();
        let rooms = specs
            .into_iter()
            .enumerate()
            .map(|(i, (old, status, kept))| {
                let id = format!("r{i}");
                if kept {
                    keep.push(id.clone());
                }
                room(&id, if old { "v1" } else { "v2" }, status, (i % 20) as i64)
            })
            .collect();
        Case {
            desired,
            max_surge,
            active: if v2 { "v2" } else { "v1" },
            rooms,
            keep,
        }
    })
}

fn run(case: &Case, rooms: &[GameRoom], keep: &[String]) -> HealthPlan {
    let instances: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    plan(&HealthInput {
        desired: case.desired,
        max_surge: case.max_surge,
        active_version: case.active,
        rooms,
        instances: &instances,
        now: at(25),
        timeouts: HealthTimeouts::default(),
        grace_period: Duration::seconds(10),
        keep,
        claimed: &[],
    })
}

fn reason(plan: &HealthPlan, room: &GameRoom) -> Option<RemovalReason> {
    plan.remove
        .iter()
        .find(|removal| removal.room == room.id)
        .map(|removal| removal.reason)
}

proptest! {
    #[test]
    fn single_ticks_keep_the_invariants(case in case()) {
        let plan = run(&case, &case.rooms, &case.keep);
        let desired = case.desired as usize;
        let active = major(case.active);
        let kept = |r: &GameRoom| case.keep.contains(&r.id);
        let live: Vec<&GameRoom> = case
            .rooms
            .iter()
            .filter(|r| !kept(r) && r.status != RoomStatus::Error)
            .collect();

        // The ready floor.
        let ready_now = live.iter().filter(|r| r.status == RoomStatus::Ready).count();
        let ready_left = live
            .iter()
            .filter(|r| r.status == RoomStatus::Ready)
            .filter(|r| reason(&plan, r).is_none())
            .count();
        let outdated_ready_removed = live
            .iter()
            .filter(|r| r.status == RoomStatus::Ready)
            .any(|r| reason(&plan, r) == Some(RemovalReason::Outdated));
        let any_surplus = plan.remove.iter().any(|r| r.reason == RemovalReason::Surplus);
        if outdated_ready_removed || !any_surplus {
            prop_assert!(ready_left >= desired.min(ready_now), "{ready_left} of {ready_now} ready");
        }

        // Occupied rooms.
        for room in live.iter().filter(|r| r.status == RoomStatus::Occupied) {
            let why = reason(&plan, room);
            prop_assert_ne!(why, Some(RemovalReason::Outdated));
            if major(&room.version) != active {
                prop_assert_eq!(why, None);
            }
        }

        // Creation within the surge and the desired count.
        let surge = case.max_surge.rooms(case.desired) as usize;
        let in_flight = live
            .iter()
            .filter(|r| matches!(r.status, RoomStatus::Pending | RoomStatus::Unready))
            .count();
        let current = live.iter().filter(|r| major(&r.version) == active).count();
        let create = plan.create as usize;
        prop_assert!(create <= surge.saturating_sub(in_flight));
        prop_assert!(create <= desired.saturating_sub(current));

        // Current rooms go only above the desired count; the rooms never drop below it.
        let current_removed = live
            .iter()
            .filter(|r| major(&r.version) == active && reason(&plan, r).is_some())
            .count();
        prop_assert_eq!(current_removed, current.saturating_sub(desired));
        let removed = live.iter().filter(|r| reason(&plan, r).is_some()).count();
        prop_assert!(live.len() - removed + create >= desired.min(live.len() + create));

        // Kept rooms: removed only in error, and invisible to the rest of the plan.
        for room in case.rooms.iter().filter(|r| kept(r)) {
            let why = reason(&plan, room);
            prop_assert!(why.is_none() || why == Some(RemovalReason::Error));
        }
        let others: Vec<GameRoom> = case.rooms.iter().filter(|r| !kept(r)).cloned().collect();
        let without = run(&case, &others, &[]);
        let mut with = plan.clone();
        with.remove.retain(|removal| !case.keep.contains(&removal.room));
        prop_assert_eq!(with, without);
    }

    #[test]
    fn rollouts_settle_without_dropping_ready_rooms(
        initial in 0usize..30,
        desired in 0u32..30,
        max_surge in max_surge(),
        delay in 1i64..=3,
        switch_back in prop::option::of(0i64..40),
    ) {
        let limit = (initial as i64 + desired as i64 + 2) * (delay + 1);
        let floor = (desired as usize).min(initial);
        let mut sim = Sim::new(initial, "v1", desired, max_surge);
        sim.delay = delay;
        sim.active = "v2".into();
        match switch_back {
            None => {
                prop_assert!(sim.run(limit).is_some(), "not settled after {limit} ticks");
                prop_assert_eq!(sim.created, desired);
            }
            Some(at_tick) => {
                for _ in 0..at_tick {
                    sim.step();
                }
                let before = sim.created;
                prop_assert!(before <= desired);
                let old_left = sim.rooms.iter().filter(|r| r.version == "v1").count() as u32;
                sim.active = "v1".into();
                prop_assert!(sim.run(limit).is_some(), "not settled back after {limit} ticks");
                prop_assert_eq!(sim.created - before, desired.saturating_sub(old_left));
                prop_assert!(sim.created <= 2 * desired);
            }
        }
        prop_assert!(sim.min_ready >= floor, "{} ready, floor {floor}", sim.min_ready);
    }
}
