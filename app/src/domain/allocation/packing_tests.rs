use chrono::DateTime;
use proptest::prelude::{Just, prop, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as _;

use super::*;
use crate::domain::allocation::selection::{Selection, pick};
use crate::domain::allocation::{can_take, matches};
use RoomStatus::*;

fn room(id: &str, machine: &str, status: RoomStatus, matches: u32) -> GameRoom {
    GameRoom {
        id: id.into(),
        scheduler: "s".into(),
        version: "v1".into(),
        status,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
        status_changed_at: DateTime::from_timestamp(0, 0).unwrap(),
        last_ping_at: None,
        running_matches: matches,
        metadata: Default::default(),
        address: None,
        region: String::new(),
        machine: machine.into(),
        status_reason: None,
    }
}

fn packed() -> Selection {
    Selection::any(Strategy::Packed)
}

fn picked<'a>(rooms: &'a [GameRoom], claims: &[u32], max: u32, selection: &Selection) -> &'a str {
    let with = rooms.iter().zip(claims.iter().copied());
    pick(with, max, selection).map_or("", |r| r.id.as_str())
}

#[test]
fn a_room_is_busy_while_it_runs_or_is_promised_a_match() {
    assert!(busy(Occupied, 0));
    assert!(busy(Ready, 1));
    assert!(!busy(Ready, 0));
    for status in [Pending, Unready, Terminating, Error, Terminated] {
        assert!(!busy(status, 2), "{status}");
    }
}

#[test]
fn busy_rooms_are_counted_per_machine_of_a_region() {
    let mut eu = room("e", "m1", Occupied, 1);
    eu.region = "eu".into();
    let rooms = [
        room("a", "m1", Occupied, 1),
        room("b", "m1", Ready, 0),
        room("c", "m1", Ready, 0),
        room("d", "m2", Ready, 0),
        room("x", "", Occupied, 1),
        eu,
    ];
    // `c` counts through its claim, `b` is idle, `x` has no known machine.
    let counts = busy_machines(rooms.iter().zip([0, 0, 1, 0, 0, 0]));
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [(("", "m1"), 2), (("eu", "m1"), 1)]
    );
    let counts = busy_machines(rooms.iter().zip([0; 6]));
    assert_eq!(machine_busy(&counts, &rooms[1]), 1);
    assert_eq!(machine_busy(&counts, &rooms[3]), 0);
    assert_eq!(machine_busy(&counts, &rooms[4]), 0);
}

#[test]
fn packed_fills_the_busiest_machine_first() {
    let rooms = [
        room("a1", "a", Occupied, 1),
        room("a2", "a", Ready, 0),
        room("b1", "b", Occupied, 1),
        room("b2", "b", Occupied, 1),
        room("b3", "b", Ready, 0),
        room("c1", "c", Ready, 0),
    ];
    // Machine b runs two matches: its free room goes first, though `c1` has the greatest id.
    assert_eq!(picked(&rooms, &[0; 6], 1, &packed()), "b3");
    let claimed_b3 = [0, 0, 0, 0, 1, 0];
    // b is full now (b3 is claimed): a (one busy room) before c (none).
    assert_eq!(picked(&rooms, &claimed_b3, 1, &packed()), "a2");
    // Distributed ignores machines: the least-loaded, smallest id.
    let distributed = Selection::any(Strategy::Distributed);
    assert_eq!(picked(&rooms, &[0; 6], 1, &distributed), "a2");
}

#[test]
fn the_busier_machine_wins_over_the_busier_room() {
    // Multi-match rooms: c1 runs two of three matches alone on c; b has three busy rooms.
    let rooms = [
        room("b1", "b", Occupied, 3),
        room("b2", "b", Occupied, 3),
        room("b3", "b", Ready, 1),
        room("c1", "c", Occupied, 2),
    ];
    assert_eq!(picked(&rooms, &[0; 4], 3, &packed()), "b3");
    // Equally busy machines: the room order (occupied first, then the most load).
    let rooms = [
        room("b1", "b", Ready, 1),
        room("c1", "c", Occupied, 1),
        room("c0", "", Occupied, 2),
    ];
    assert_eq!(picked(&rooms, &[0; 3], 3, &packed()), "c1");
}

#[test]
fn rooms_of_unknown_machines_come_after_busy_machines() {
    let rooms = [
        room("a1", "a", Occupied, 1),
        room("a2", "a", Ready, 0),
        room("z", "", Ready, 0),
    ];
    assert_eq!(picked(&rooms, &[0; 3], 1, &packed()), "a2");
    // No machine busy: the room order alone (greatest id first among idle rooms).
    let rooms = [room("a2", "a", Ready, 0), room("z", "", Ready, 0)];
    assert_eq!(picked(&rooms, &[0; 2], 1, &packed()), "z");
}

const MACHINES: [&str; 4] = ["", "m1", "m2", "m3"];

fn arb_room() -> impl proptest::strategy::Strategy<Value = (GameRoom, u32)> {
    (
        prop_oneof![
            Just(Ready),
            Just(Occupied),
            Just(Pending),
            Just(Terminating)
        ],
        0u32..4,
        0u32..3,
        0usize..4,
        0usize..2,
    )
        .prop_map(|(status, matches, claims, machine, region)| {
            let mut r = room("", MACHINES[machine], status, matches);
            r.region = ["", "eu"][region].into();
            (r, claims)
        })
}

proptest! {
    #[test]
    fn packed_never_skips_a_busier_machine_nor_a_better_room_on_an_equal_one(
        mut rooms in prop::collection::vec(arb_room(), 0..24),
        max in 1u32..4,
    ) {
        for (i, (room, _)) in rooms.iter_mut().enumerate() {
            room.id = format!("r{i:02}");
        }
        let selection = packed();
        let chosen = pick(rooms.iter().map(|(r, c)| (r, *c)), max, &selection);
        // Busy rooms per machine, counted here from the definition.
        let busy_on = |machine: &str, region: &str| -> u32 {
            if machine.is_empty() {
                return 0;
            }
            rooms
                .iter()
                .filter(|(r, c)| {
                    r.machine == machine
                        && r.region == region
                        && (r.status == Occupied || (r.status == Ready && r.running_matches + c > 0))
                })
                .count() as u32
        };
        let eligible: Vec<&(GameRoom, u32)> = rooms
            .iter()
            .filter(|(r, c)| can_take(r.status, r.running_matches, *c, max) && matches(r, &selection))
            .collect();
        match chosen {
            None => prop_assert!(eligible.is_empty()),
            Some(room) => {
                let own = busy_on(&room.machine, &room.region);
                let (_, claims) = rooms.iter().find(|(r, _)| r.id == room.id).unwrap();
                let load = u64::from(room.running_matches) + u64::from(*claims);
                prop_assert!(can_take(room.status, room.running_matches, *claims, max));
                for (rival, rival_claims) in &eligible {
                    let theirs = busy_on(&rival.machine, &rival.region);
                    prop_assert!(own >= theirs, "{} on a machine with {theirs} busy rooms", rival.id);
                    if own == theirs && rival.id != room.id {
                        let rival_load = u64::from(rival.running_matches) + u64::from(*rival_claims);
                        prop_assert_eq!(
                            order(Strategy::Packed, (room, load), (rival, rival_load)),
                            Ordering::Less
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn distributed_ignores_machines(
        mut rooms in prop::collection::vec(arb_room(), 0..24),
        max in 1u32..4,
    ) {
        for (i, (room, _)) in rooms.iter_mut().enumerate() {
            room.id = format!("r{i:02}");
        }
        let selection = Selection::any(Strategy::Distributed);
        let with_machines = pick(rooms.iter().map(|(r, c)| (r, *c)), max, &selection);
        let without: Vec<(GameRoom, u32)> = rooms
            .iter()
            .map(|(r, c)| (GameRoom { machine: String::new(), ..r.clone() }, *c))
            .collect();
        let plain = pick(without.iter().map(|(r, c)| (r, *c)), max, &selection);
        prop_assert_eq!(with_machines.map(|r| &r.id), plain.map(|r| &r.id));
    }
}
