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
        status_reason: None,
        created_at: at(created),
        status_changed_at: at(last_ping.unwrap_or(created)),
        last_ping_at: last_ping.map(at),
        running_matches: 0,
        metadata: BTreeMap::new(),
        address: None,
        region: String::new(),
        machine: String::new(),
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
        claimed: &[],
    });
    assert_eq!(plan.forget, ["no-instance", "done"]);
    assert_eq!(plan.orphans, ["orphan"]);
    assert_eq!(plan.create, 1);
}

#[test]
fn rooms_an_operation_keeps_are_left_to_it_even_crashed_or_gone() {
    let mut crashed = room("crashed", RoomStatus::Error, 0, None);
    crashed.version = "v2".into();
    let mut gone = room("gone", RoomStatus::Pending, 0, None);
    gone.version = "v2".into();
    let rooms = [crashed, gone, room("other", RoomStatus::Error, 0, None)];
    let plan = plan(&HealthInput {
        desired: 0,
        max_surge: MaxSurge::Count(5),
        active_version: "v1",
        rooms: &rooms,
        instances: &["crashed".to_string(), "other".to_string()],
        now: at(100),
        timeouts: HealthTimeouts::default(),
        grace_period: Duration::seconds(10),
        keep: &["crashed".to_string(), "gone".to_string()],
        claimed: &[],
    });
    assert_eq!(removed(&plan), [("other", RemovalReason::Error)]);
    assert!(plan.forget.is_empty(), "{:?}", plan.forget);
}

#[test]
fn stuck_terminating_rooms_are_forgotten() {
    let rooms = [room("t", RoomStatus::Terminating, 0, Some(0))];
    assert!(run(0, &rooms, 30).forget.is_empty());
    assert_eq!(run(0, &rooms, 41).forget, ["t"]);
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

#[test]
fn claimed_rooms_are_never_removed_but_for_errors() {
    let rooms = [
        room("a", RoomStatus::Ready, 0, Some(100)),
        room("b", RoomStatus::Ready, 1, Some(100)),
        room("stale", RoomStatus::Ready, 2, Some(10)),
        room("broken", RoomStatus::Error, 3, Some(100)),
    ];
    let instances: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let claimed: Vec<String> = ["a", "b", "stale", "broken"].map(String::from).to_vec();
    let input = |claimed: &'static [String]| HealthInput {
        desired: 0,
        max_surge: MaxSurge::Count(5),
        active_version: "v1",
        rooms: &rooms,
        instances: &instances,
        now: at(101),
        timeouts: HealthTimeouts::default(),
        grace_period: Duration::seconds(10),
        keep: &[],
        claimed,
    };
    let unclaimed = plan(&input(&[]));
    assert_eq!(unclaimed.remove.len(), 4, "without claims all go");
    let claimed: &'static [String] = Box::leak(claimed.into_boxed_slice());
    let held = plan(&input(claimed));
    assert_eq!(removed(&held), [("broken", RemovalReason::Error)]);
}

#[test]
fn claimed_outdated_rooms_wait_for_their_claims_in_a_rolling_update() {
    let mut rooms: Vec<GameRoom> = (0..3)
        .map(|i| room(&format!("old{i}"), RoomStatus::Ready, i, Some(100)))
        .collect();
    for i in 0..3 {
        let mut new = room(&format!("new{i}"), RoomStatus::Ready, 10 + i, Some(100));
        new.version = "v2".into();
        rooms.push(new);
    }
    let instances: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    let claimed = vec!["old1".to_string()];
    let input = |claimed: &[String]| {
        plan(&HealthInput {
            desired: 3,
            max_surge: MaxSurge::Count(5),
            active_version: "v2",
            rooms: &rooms,
            instances: &instances,
            now: at(101),
            timeouts: HealthTimeouts::default(),
            grace_period: Duration::seconds(10),
            keep: &[],
            claimed,
        })
    };
    let unclaimed = input(&[]);
    let mut all: Vec<&str> = removed(&unclaimed).iter().map(|(id, _)| *id).collect();
    all.sort_unstable();
    assert_eq!(all, ["old0", "old1", "old2"]);
    let held = input(&claimed);
    assert!(
        removed(&held)
            .iter()
            .all(|(id, reason)| *id != "old1" && *reason == RemovalReason::Outdated)
    );
    assert_eq!(held.remove.len(), 2);
}

fn without_instances(desired: u32, rooms: &[GameRoom], running: &[&str], now: i64) -> HealthPlan {
    let instances: Vec<String> = running.iter().map(|id| id.to_string()).collect();
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
        claimed: &[],
    })
}

fn waiting(id: &str, version: &str) -> GameRoom {
    GameRoom {
        version: version.into(),
        status_reason: Some("no capacity: MemoryMB".into()),
        ..room(id, RoomStatus::Pending, 0, None)
    }
}

#[test]
fn a_room_waiting_for_capacity_is_counted_kept_past_every_timeout_and_started_again() {
    let rooms = [
        room("up", RoomStatus::Ready, 0, Some(995)),
        waiting("w", "v1"),
    ];
    // Long after the creation grace and the initialization timeout: still there, no new room.
    let plan = without_instances(2, &rooms, &["up"], 1000);
    assert_eq!(plan.start, ["w"]);
    assert_eq!(plan.create, 0);
    assert!(plan.forget.is_empty() && plan.remove.is_empty(), "{plan:?}");
    assert!(!plan.is_empty());
    assert!(is_waiting(&rooms[1]) && !is_waiting(&rooms[0]));
}

#[test]
fn a_pending_room_without_a_reason_and_without_an_instance_is_still_forgotten() {
    let rooms = [room("gone", RoomStatus::Pending, 0, None)];
    let plan = without_instances(1, &rooms, &[], 1000);
    assert_eq!(plan.forget, ["gone"]);
    assert!(plan.start.is_empty());
}

#[test]
fn a_waiting_room_not_wanted_any_more_is_removed_not_started() {
    // Surplus: one room wanted, the ready one stays, the waiting one goes.
    let rooms = [
        room("up", RoomStatus::Ready, 0, Some(995)),
        waiting("w", "v1"),
    ];
    let plan = without_instances(1, &rooms, &["up"], 1000);
    assert!(plan.start.is_empty(), "{plan:?}");
    assert_eq!(removed(&plan), [("w", RemovalReason::Surplus)]);
    // Of a version no longer active: removed as outdated, never started.
    let rooms = [waiting("old", "v0")];
    let plan = without_instances(1, &rooms, &[], 1000);
    assert!(plan.start.is_empty(), "{plan:?}");
    assert_eq!(removed(&plan), [("old", RemovalReason::Outdated)]);
}
