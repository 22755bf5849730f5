//! A scheduler's view of machines: of every machine a source reports, the rooms that are this
//! scheduler's payloads, and those of them that are busy (occupied, running matches, or held by
//! an open allocation claim) and so must never be moved or have their machine released.

use std::collections::HashSet;

use super::machine::Machine;
use crate::domain::allocation::Claim;
use crate::domain::room::{GameRoom, RoomStatus};

/// Whether `room` has players, or is promised to a match (an open claim names it).
fn busy(room: &GameRoom, claimed: &HashSet<&str>) -> bool {
    room.status == RoomStatus::Occupied
        || room.running_matches > 0
        || claimed.contains(room.id.as_str())
}

/// The rooms of `scheduler` that are busy: occupied, running matches or claimed.
pub fn busy_rooms(scheduler: &str, rooms: &[GameRoom], claims: &[Claim]) -> Vec<String> {
    let claimed: HashSet<&str> = claims
        .iter()
        .filter(|c| c.scheduler == scheduler)
        .map(|c| c.room.as_str())
        .collect();
    let mut busy_ids: Vec<String> = rooms
        .iter()
        .filter(|r| r.scheduler == scheduler && busy(r, &claimed))
        .map(|r| r.id.clone())
        .collect();
    // A claim on a room the store no longer lists still holds the room.
    for room in claimed {
        if !busy_ids.iter().any(|id| id == room) {
            busy_ids.push(room.to_string());
        }
    }
    busy_ids.sort();
    busy_ids
}

/// Every reported machine, with `payloads` the rooms of `scheduler` placed on it and
/// `busy_payloads` those of them that are busy (see [`busy_rooms`]). `reports` pairs each
/// machine with the `(scheduler, room)` of every room placed on it.
pub fn machines_of<'a>(
    reports: impl IntoIterator<Item = (&'a Machine, &'a [(String, String)])>,
    scheduler: &str,
    rooms: &[GameRoom],
    claims: &[Claim],
) -> Vec<Machine> {
    let busy_ids = busy_rooms(scheduler, rooms, claims);
    reports
        .into_iter()
        .map(|(machine, placed)| {
            let ours: Vec<&str> = placed
                .iter()
                .filter(|(s, _)| s == scheduler)
                .map(|(_, room)| room.as_str())
                .collect();
            let busy = ours
                .iter()
                .filter(|room| busy_ids.iter().any(|b| b == *room))
                .count();
            Machine {
                payloads: u32::try_from(ours.len()).unwrap_or(u32::MAX),
                busy_payloads: u32::try_from(busy).unwrap_or(u32::MAX),
                ..machine.clone()
            }
        })
        .collect()
}

/// The rooms of `scheduler` on `placed` that are busy: the ones a drain must leave in place.
pub fn busy_on(
    placed: &[(String, String)],
    scheduler: &str,
    rooms: &[GameRoom],
    claims: &[Claim],
) -> Vec<String> {
    let busy_ids = busy_rooms(scheduler, rooms, claims);
    placed
        .iter()
        .filter(|(s, room)| s == scheduler && busy_ids.contains(room))
        .map(|(_, room)| room.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::machine::MachineKind;
    use super::super::test_support::seed_machine;
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn room(id: &str, scheduler: &str, status: RoomStatus) -> GameRoom {
        let at = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default();
        serde_json::from_value(serde_json::json!({
            "id": id, "scheduler": scheduler, "version": "v1",
            "status": serde_json::to_value(status).unwrap(),
            "createdAt": at, "statusChangedAt": at,
        }))
        .expect("a room")
    }

    fn claim(scheduler: &str, room: &str) -> Claim {
        let at = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default();
        Claim {
            id: format!("c-{room}"),
            scheduler: scheduler.into(),
            room: room.into(),
            metadata: serde_json::Value::Null,
            created_at: at,
            expires_at: at,
        }
    }

    fn placed(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(s, r)| (s.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn counts_only_this_schedulers_rooms_and_their_busy_ones() {
        let a = seed_machine("a", "eu", MachineKind::BareMetal, 4);
        let b = seed_machine("b", "eu", MachineKind::Cloud, 4);
        let on_a = placed(&[("s", "r1"), ("s", "r2"), ("other", "x1"), ("s", "r3")]);
        let on_b = placed(&[("other", "x2")]);
        let rooms = vec![
            room("r1", "s", RoomStatus::Occupied),
            room("r2", "s", RoomStatus::Ready),
            room("r3", "s", RoomStatus::Ready),
            room("x1", "other", RoomStatus::Occupied),
        ];
        let claims = vec![claim("s", "r3")];
        let reports = [(&a, on_a.as_slice()), (&b, on_b.as_slice())];
        let machines = machines_of(reports, "s", &rooms, &claims);
        assert_eq!(machines.len(), 2);
        assert_eq!((machines[0].payloads, machines[0].busy_payloads), (3, 2));
        assert_eq!((machines[1].payloads, machines[1].busy_payloads), (0, 0));
        assert_eq!(machines[0].allocatable, a.allocatable);
        assert_eq!(busy_on(&on_a, "s", &rooms, &claims), vec!["r1", "r3"]);
    }

    #[test]
    fn a_claimed_room_the_store_does_not_list_is_busy() {
        let a = seed_machine("a", "eu", MachineKind::BareMetal, 4);
        let on_a = placed(&[("s", "gone")]);
        let machines = machines_of([(&a, on_a.as_slice())], "s", &[], &[claim("s", "gone")]);
        assert_eq!((machines[0].payloads, machines[0].busy_payloads), (1, 1));
    }

    proptest! {
        /// Busy never exceeds payloads; payloads are exactly this scheduler's placed rooms.
        #[test]
        fn busy_is_within_payloads(
            layout in proptest::collection::vec((0u8..3, 0u8..2, 0u8..4, any::<bool>()), 0..40)
        ) {
            // (machine, scheduler, status, claimed) per room.
            let machines: Vec<Machine> = (0..3)
                .map(|i| seed_machine(&format!("m{i}"), "eu", MachineKind::BareMetal, 4))
                .collect();
            let mut on: Vec<Vec<(String, String)>> = vec![Vec::new(); 3];
            let mut rooms = Vec::new();
            let mut claims = Vec::new();
            for (i, (m, s, status, claimed)) in layout.iter().enumerate() {
                let scheduler = if *s == 0 { "s" } else { "t" };
                let id = format!("r{i}");
                on[usize::from(*m)].push((scheduler.to_string(), id.clone()));
                let status = [RoomStatus::Ready, RoomStatus::Occupied, RoomStatus::Pending, RoomStatus::Unready][usize::from(*status)];
                rooms.push(room(&id, scheduler, status));
                if *claimed { claims.push(claim(scheduler, &id)); }
            }
            let reports = machines.iter().zip(&on).map(|(m, p)| (m, p.as_slice()));
            let seen = machines_of(reports, "s", &rooms, &claims);
            for (i, machine) in seen.iter().enumerate() {
                let ours = on[i].iter().filter(|(s, _)| s == "s").count() as u32;
                prop_assert_eq!(machine.payloads, ours);
                prop_assert!(machine.busy_payloads <= machine.payloads);
                let expected = on[i].iter().filter(|(s, id)| s == "s" && {
                    let r = rooms.iter().find(|r| &r.id == id).unwrap();
                    r.status == RoomStatus::Occupied || claims.iter().any(|c| &c.room == id)
                }).count() as u32;
                prop_assert_eq!(machine.busy_payloads, expected);
            }
        }
    }
}
