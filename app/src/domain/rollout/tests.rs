use super::sim::{Sim, at, room};
use crate::domain::health::{HealthInput, HealthPlan, HealthTimeouts, RemovalReason, plan};
use crate::domain::quantity::MaxSurge;
use crate::domain::room::{GameRoom, RoomStatus};
use chrono::Duration;

use RoomStatus::{Occupied, Pending, Ready};

/// Rooms `(id, version, status)`, all healthy, all with an instance.
fn rooms(spec: &[(&str, &str, RoomStatus)]) -> Vec<GameRoom> {
    spec.iter()
        .enumerate()
        .map(|(i, (id, version, status))| room(id, version, *status, i as i64))
        .collect()
}

fn tick(desired: u32, surge: u32, active: &str, rooms: &[GameRoom], keep: &[&str]) -> HealthPlan {
    let instances: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let keep: Vec<String> = keep.iter().map(|id| id.to_string()).collect();
    plan(&HealthInput {
        desired,
        max_surge: MaxSurge::Count(surge),
        active_version: active,
        rooms,
        instances: &instances,
        now: at(20),
        timeouts: HealthTimeouts::default(),
        grace_period: Duration::seconds(10),
        keep: &keep,
        claimed: &[],
    })
}

fn removed(plan: &HealthPlan) -> Vec<(&str, RemovalReason)> {
    plan.remove
        .iter()
        .map(|r| (r.room.as_str(), r.reason))
        .collect()
}

#[test]
fn outdated_ready_rooms_wait_for_their_replacements() {
    let old = rooms(&[("a", "v1", Ready), ("b", "v1", Ready), ("c", "v1", Ready)]);
    let first = tick(3, 1, "v2", &old, &[]);
    assert_eq!((first.create, removed(&first)), (1, vec![]));
    // The replacement is still pending: nothing goes yet.
    let mut next = old.clone();
    next.push(room("n1", "v2", Pending, 10));
    assert_eq!(tick(3, 1, "v2", &next, &[]), HealthPlan::default());
    // Ready: one outdated room goes, the next replacement starts.
    next[3].status = Ready;
    let second = tick(3, 1, "v2", &next, &[]);
    assert_eq!(second.create, 1);
    assert_eq!(removed(&second), [("c", RemovalReason::Outdated)]);
}

#[test]
fn ready_rooms_stay_at_least_min_of_desired_and_ready_now() {
    // Two ready, fewer than desired: neither may go while their replacements are pending.
    let few = rooms(&[
        ("a", "v1", Ready),
        ("b", "v1", Ready),
        ("n1", "v2", Pending),
        ("n2", "v2", Pending),
    ]);
    let plan = tick(3, 5, "v2", &few, &[]);
    assert_eq!((plan.create, removed(&plan)), (1, vec![]));
    // Four ready for three desired: exactly one outdated ready room may go.
    let more = rooms(&[
        ("a", "v1", Ready),
        ("b", "v1", Ready),
        ("c", "v1", Ready),
        ("n1", "v2", Ready),
        ("n2", "v2", Pending),
    ]);
    let plan = tick(3, 5, "v2", &more, &[]);
    assert_eq!(plan.create, 1);
    assert_eq!(removed(&plan), [("c", RemovalReason::Outdated)]);
    // Above the desired count the floor is the desired count.
    let surplus = rooms(&[
        ("a", "v1", Ready),
        ("b", "v1", Ready),
        ("c", "v1", Ready),
        ("n1", "v2", Ready),
        ("n2", "v2", Ready),
    ]);
    let plan = tick(2, 5, "v2", &surplus, &[]);
    assert_eq!(plan.create, 0);
    assert_eq!(plan.remove.len(), 3);
    assert!(
        plan.remove
            .iter()
            .all(|r| r.reason == RemovalReason::Outdated)
    );
}

#[test]
fn outdated_occupied_rooms_are_never_removed() {
    let busy = rooms(&[("a", "v1", Occupied), ("b", "v1", Occupied)]);
    let plan = tick(1, 5, "v2", &busy, &[]);
    assert_eq!((plan.create, removed(&plan)), (1, vec![]));
    // Nor do they push the replacements out: no surplus removal, so no creation loop.
    let replaced = rooms(&[
        ("a", "v1", Occupied),
        ("n1", "v2", Ready),
        ("n2", "v2", Ready),
    ]);
    assert_eq!(tick(2, 5, "v2", &replaced, &[]), HealthPlan::default());
    // Once free it is an outdated ready room, replaced like the others.
    let mut free = replaced.clone();
    free[0].status = Ready;
    let plan = tick(2, 5, "v2", &free, &[]);
    assert_eq!(removed(&plan), [("a", RemovalReason::Outdated)]);
}

#[test]
fn outdated_rooms_in_flight_go_as_soon_as_the_rooms_exceed_the_desired_count() {
    let fleet = rooms(&[
        ("o1", "v1", Pending),
        ("n1", "v2", Ready),
        ("n2", "v2", Ready),
    ]);
    assert_eq!(
        removed(&tick(2, 5, "v2", &fleet, &[])),
        [("o1", RemovalReason::Outdated)]
    );
    // Not more than desired (and no room to create within the surge): it stays.
    let plan = tick(3, 1, "v2", &fleet, &[]);
    assert_eq!(plan, HealthPlan::default());
}

#[test]
fn outdated_rooms_go_before_current_ones() {
    let mut fleet = rooms(&[
        ("o1", "v1", Ready),
        ("n1", "v2", Ready),
        ("n2", "v2", Ready),
        ("n3", "v2", Ready),
    ]);
    // Four rooms, three desired: the outdated one goes.
    let plan = tick(3, 5, "v2", &fleet, &[]);
    assert_eq!(removed(&plan), [("o1", RemovalReason::Outdated)]);
    // Not while it is one of the three ready rooms.
    fleet[2].status = Pending;
    assert_eq!(tick(3, 5, "v2", &fleet, &[]), HealthPlan::default());
    // Scale-down of current rooms (pending first, then the newest) comes on top, and may lower
    // ready to the desired count.
    let plan = tick(1, 5, "v2", &fleet, &[]);
    assert_eq!(
        removed(&plan),
        [
            ("o1", RemovalReason::Outdated),
            ("n2", RemovalReason::Surplus),
            ("n3", RemovalReason::Surplus)
        ]
    );
}

#[test]
fn kept_rooms_are_neither_counted_nor_removed_as_outdated_or_surplus() {
    let mut fleet = rooms(&[
        ("a", "v1", Ready),
        ("b", "v1", Ready),
        ("check", "v2", Pending),
    ]);
    // A validation room of v2 while v1 is active: not in flight, not surplus, not outdated.
    assert_eq!(tick(2, 1, "v1", &fleet, &["check"]), HealthPlan::default());
    assert_eq!(tick(3, 1, "v1", &fleet, &["check"]).create, 1);
    // Not surplus either when nothing is desired, nor outdated while ready.
    fleet[2].status = Ready;
    let none_desired = tick(0, 1, "v1", &fleet, &["check"]);
    assert_eq!(
        removed(&none_desired),
        [("b", RemovalReason::Surplus), ("a", RemovalReason::Surplus)]
    );
    // Nor current: v2 active, the kept room does not stand for one of the two.
    assert_eq!(tick(2, 5, "v2", &fleet, &["check"]).create, 2);
    // In error, or with its instance gone, it is left to the operation that keeps it (which
    // reads why before it stops it); once no longer kept, it is removed or forgotten.
    fleet[2].status = RoomStatus::Error;
    assert_eq!(removed(&tick(2, 1, "v1", &fleet, &["check"])), []);
    assert_eq!(
        removed(&tick(2, 1, "v1", &fleet, &[])),
        [("check", RemovalReason::Error)]
    );
    let gone = |keep: &[String]| {
        plan(&HealthInput {
            desired: 2,
            max_surge: MaxSurge::Count(1),
            active_version: "v1",
            rooms: &fleet,
            instances: &["a".to_string(), "b".to_string()],
            now: at(20),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
            keep,
            claimed: &[],
        })
        .forget
    };
    assert!(gone(&["check".to_string()]).is_empty());
    assert_eq!(gone(&[]), ["check"]);
}

#[test]
fn kept_rooms_do_not_time_out() {
    let mut stuck = room("check", "v2", Pending, 0);
    stuck.status_changed_at = at(-500);
    let plan = tick(0, 1, "v1", &[stuck.clone()], &["check"]);
    assert!(plan.remove.is_empty());
    // Unkept, it would.
    assert_eq!(
        removed(&tick(0, 1, "v1", &[stuck], &[])),
        [("check", RemovalReason::InitializationTimeout)]
    );
}

#[test]
fn minor_versions_keep_their_rooms() {
    let fleet = rooms(&[("a", "v1.3", Ready), ("b", "v1.3", Occupied)]);
    assert_eq!(tick(2, 1, "v1.4", &fleet, &[]), HealthPlan::default());
}

#[test]
fn twenty_rooms_with_a_surge_of_25_percent_never_drop_below_twenty_ready() {
    for delay in 1..=3 {
        let mut sim = Sim::new(20, "v1", 20, MaxSurge::Percent(25));
        sim.delay = delay;
        sim.active = "v2".into();
        let ticks = sim.run(100).expect("the rollout finishes");
        assert_eq!(sim.min_ready, 20, "delay {delay}");
        assert_eq!(sim.created, 20);
        assert!(ticks <= 5 * (delay + 1), "{ticks} ticks, delay {delay}");
    }
}

#[test]
fn switching_back_mid_rollout_converges_without_a_creation_loop() {
    let mut sim = Sim::new(20, "v1", 20, MaxSurge::Percent(25));
    sim.active = "v2".into();
    for _ in 0..3 {
        sim.step();
    }
    let created = sim.created;
    assert!(created > 0 && sim.rooms.iter().any(|r| r.version == "v1"));
    let old_left = sim.rooms.iter().filter(|r| r.version == "v1").count() as u32;
    sim.active = "v1".into();
    sim.run(100).expect("converges back");
    assert_eq!(sim.min_ready, 20);
    assert_eq!(sim.created - created, 20 - old_left);
}
