//! The `OperationStore` and `Leases` contracts, run against `SqlStore` on SQLite and on
//! PostgreSQL (a fresh database per test; see `common`).

#[macro_use]
mod common;

use app::domain::operation::{
    Operation, OperationDefinition, OperationEvent, OperationLease, OperationOrder,
    OperationStatus, Stage, push_event,
};
use app::ports::{Leases, OperationStore, StoreError};
use chrono::{DateTime, Utc};
use common::{Backend, TestDb};
use server::adapters::storage::sql::SqlStore;

on_databases!(
    enqueue_then_get_round_trips,
    unknown_and_foreign_operations_are_not_found,
    list_filters_by_stage_orders_and_pages,
    unfinished_are_oldest_first,
    busy_schedulers_are_those_with_unfinished_operations,
    a_new_version_waits_for_nobody_and_room_changes_queue,
    racing_new_versions_let_exactly_one_in,
    start_happens_once_and_not_after_a_cancel,
    update_is_for_the_holder_of_a_running_operation_only,
    cancel_cancels_pending_and_flags_running,
    forget_removes_one_schedulers_operations,
    leases_are_taken_renewed_refused_and_taken_over,
    racing_holders_get_a_free_or_expired_lease_once,
    release_is_for_the_holder_only,
    renew_held_extends_the_holders_live_leases_only,
);

/// A fresh database and the store on it (the store is dropped first).
async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    (db, store)
}

/// Whole seconds: both databases keep them exactly.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn new_version(version: &str) -> OperationDefinition {
    OperationDefinition::NewVersion {
        version: version.into(),
        previous: "v1".into(),
        major: true,
    }
}

fn add_rooms(amount: u32) -> OperationDefinition {
    OperationDefinition::AddRooms { amount }
}

fn op(id: &str, scheduler: &str, definition: OperationDefinition) -> Operation {
    Operation::new(id.into(), scheduler, definition, at(0))
}

fn event(seconds: i64, text: &str) -> OperationEvent {
    OperationEvent {
        at: at(seconds),
        event: text.into(),
    }
}

fn ids(operations: &[Operation]) -> Vec<&str> {
    operations.iter().map(|o| o.id.as_str()).collect()
}

async fn enqueued(store: &SqlStore, operation: &Operation) {
    store
        .enqueue(operation)
        .await
        .unwrap()
        .unwrap_or_else(|busy| panic!("{} was refused: {busy}", operation.id));
}

/// `operation` as `start` takes it: in progress under `holder`'s lease, with a line of history.
fn running(operation: &Operation, holder: &str) -> Operation {
    let mut running = operation.clone();
    running.status = OperationStatus::InProgress;
    running.lease = Some(OperationLease {
        holder: holder.into(),
        expires_at: at(60),
    });
    push_event(&mut running.history, event(1, "Started"));
    running
}

/// Enqueues and starts `operation` under `holder`; answers it as stored.
async fn started(store: &SqlStore, operation: &Operation, holder: &str) -> Operation {
    enqueued(store, operation).await;
    let running = running(operation, holder);
    assert!(store.start(&running).await.unwrap());
    running
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

async fn enqueue_then_get_round_trips(backend: Backend) {
    let (_db, store) = open(backend).await;
    let remove = op(
        "op-1",
        "s",
        OperationDefinition::RemoveRooms {
            amount: 2,
            room_ids: vec!["r1".into(), "r2".into()],
        },
    );
    enqueued(&store, &remove).await;
    assert_eq!(store.get("s", "op-1").await.unwrap(), remove);

    let create = op("op-2", "s", OperationDefinition::CreateScheduler);
    enqueued(&store, &create).await;
    assert_eq!(store.get("s", "op-2").await.unwrap(), create);

    // An id is never stored twice.
    let again = op("op-1", "s", add_rooms(1));
    assert!(matches!(
        store.enqueue(&again).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get("s", "op-1").await.unwrap(), remove);
}

async fn unknown_and_foreign_operations_are_not_found(backend: Backend) {
    let (_db, store) = open(backend).await;
    let theirs = op("op-1", "other", add_rooms(1));
    enqueued(&store, &theirs).await;
    assert_not_found(store.get("s", "op-1").await);
    assert_not_found(store.get("s", "nope").await);
    assert_not_found(store.cancel("s", "op-1", "Canceled by user", at(5)).await);
    assert_not_found(store.cancel("s", "nope", "Canceled by user", at(5)).await);
    // The other scheduler's operation was left alone.
    assert_eq!(store.get("other", "op-1").await.unwrap(), theirs);
}

async fn list_filters_by_stage_orders_and_pages(backend: Backend) {
    let (_db, store) = open(backend).await;
    // Same creation time for all: the order they were accepted in decides.
    let a = started(&store, &op("a", "s", add_rooms(1)), "me").await;
    let mut finished = a.clone();
    finished.status = OperationStatus::Finished;
    assert!(store.update(&finished, "me", Utc::now()).await.unwrap());
    started(&store, &op("b", "s", add_rooms(2)), "me").await;
    for id in ["c", "d", "e"] {
        enqueued(&store, &op(id, "s", add_rooms(3))).await;
    }
    store
        .cancel("s", "e", "Canceled by user", at(2))
        .await
        .unwrap();
    enqueued(&store, &op("x", "other", add_rooms(1))).await;

    let list = |stage: Option<Stage>, order: OperationOrder, page: u32, per_page: u32| {
        let store = store.clone();
        async move {
            let page = store.list("s", stage, order, page, per_page).await.unwrap();
            let ids: Vec<String> = page.operations.iter().map(|o| o.id.clone()).collect();
            (ids, page.total)
        }
    };
    use OperationOrder::{NewestFirst, OldestFirst};
    assert_eq!(
        list(None, NewestFirst, 1, 10).await,
        (
            vec!["e".into(), "d".into(), "c".into(), "b".into(), "a".into()],
            5
        )
    );
    assert_eq!(
        list(None, OldestFirst, 1, 10).await,
        (
            vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
            5
        )
    );
    assert_eq!(
        list(None, OldestFirst, 2, 2).await,
        (vec!["c".into(), "d".into()], 5)
    );
    assert_eq!(list(None, OldestFirst, 3, 2).await, (vec!["e".into()], 5));
    assert_eq!(list(None, OldestFirst, 4, 2).await, (vec![], 5));
    assert_eq!(
        list(Some(Stage::Pending), NewestFirst, 1, 10).await,
        (vec!["d".into(), "c".into()], 2)
    );
    assert_eq!(
        list(Some(Stage::Active), NewestFirst, 1, 10).await,
        (vec!["b".into()], 1)
    );
    assert_eq!(
        list(Some(Stage::Final), OldestFirst, 1, 10).await,
        (vec!["a".into(), "e".into()], 2)
    );
    assert_eq!(
        list(Some(Stage::Final), OldestFirst, 2, 1).await,
        (vec!["e".into()], 2)
    );
    let page = store
        .list("s", Some(Stage::Active), NewestFirst, 1, 10)
        .await
        .unwrap();
    assert_eq!(
        page.operations[0],
        running(&op("b", "s", add_rooms(2)), "me")
    );
    assert_eq!(
        store
            .list("nobody", None, NewestFirst, 1, 10)
            .await
            .unwrap()
            .total,
        0
    );
}

async fn unfinished_are_oldest_first(backend: Backend) {
    let (_db, store) = open(backend).await;
    // Created later but accepted first: acceptance decides.
    let mut first = op("z-first", "s", add_rooms(1));
    first.created_at = at(10);
    enqueued(&store, &first).await;
    let second = started(&store, &op("a-second", "s", add_rooms(2)), "me").await;
    enqueued(&store, &op("m-third", "s", add_rooms(3))).await;
    enqueued(&store, &op("gone", "s", add_rooms(3))).await;
    store.cancel("s", "gone", "Canceled", at(3)).await.unwrap();
    let unfinished = store.unfinished("s").await.unwrap();
    assert_eq!(ids(&unfinished), ["z-first", "a-second", "m-third"]);
    assert_eq!(unfinished[1], second);
    assert!(store.unfinished("other").await.unwrap().is_empty());
}

async fn busy_schedulers_are_those_with_unfinished_operations(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert!(store.busy_schedulers().await.unwrap().is_empty());
    enqueued(&store, &op("p1", "pending", add_rooms(1))).await;
    enqueued(&store, &op("p2", "pending", add_rooms(2))).await;
    started(&store, &op("r", "running", add_rooms(1)), "me").await;
    enqueued(&store, &op("c", "canceled", add_rooms(1))).await;
    store
        .cancel("canceled", "c", "Canceled", at(3))
        .await
        .unwrap();
    let mut finished = started(&store, &op("f", "finished", add_rooms(1)), "me").await;
    finished.status = OperationStatus::Finished;
    assert!(store.update(&finished, "me", at(5)).await.unwrap());
    let mut busy = store.busy_schedulers().await.unwrap();
    busy.sort();
    assert_eq!(
        busy,
        ["pending", "running"],
        "each once, finished ones left out"
    );
    store.forget("pending").await.unwrap();
    assert_eq!(store.busy_schedulers().await.unwrap(), ["running"]);
}

async fn a_new_version_waits_for_nobody_and_room_changes_queue(backend: Backend) {
    let (_db, store) = open(backend).await;
    enqueued(&store, &op("v2", "s", new_version("v2"))).await;
    let busy = store
        .enqueue(&op("v3", "s", new_version("v3")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(busy.operation_id, "v2");
    assert_eq!(busy.status, "pending");
    assert_eq!(busy.scheduler, "s");
    // Room changes queue behind anything.
    enqueued(&store, &op("add", "s", add_rooms(2))).await;
    // Another scheduler is not held up.
    enqueued(&store, &op("elsewhere", "t", new_version("v2"))).await;

    // Once v2 runs, it is the one named.
    let v2 = running(&op("v2", "s", new_version("v2")), "me");
    assert!(store.start(&v2).await.unwrap());
    let switch = op(
        "switch",
        "s",
        OperationDefinition::SwitchActiveVersion {
            version: "v1".into(),
            previous: "v2".into(),
        },
    );
    let busy = store.enqueue(&switch).await.unwrap().unwrap_err();
    assert_eq!(
        (busy.operation_id.as_str(), busy.status),
        ("v2", "in_progress")
    );

    // Nothing unfinished: a new version is accepted.
    let mut done = v2.clone();
    done.status = OperationStatus::Finished;
    assert!(store.update(&done, "me", Utc::now()).await.unwrap());
    store.cancel("s", "add", "Canceled", at(2)).await.unwrap();
    enqueued(&store, &op("v3", "s", new_version("v3"))).await;
    assert_eq!(ids(&store.unfinished("s").await.unwrap()), ["v3"]);
}

async fn racing_new_versions_let_exactly_one_in(backend: Backend) {
    let (_db, store) = open(backend).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("op-{i}");
                let answer = store.enqueue(&op(&id, "s", new_version("v2"))).await;
                (id, answer)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut refusals = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (id, Ok(Ok(()))) => accepted.push(id),
            (_, Ok(Err(busy))) => refusals.push(busy.operation_id),
            (id, Err(err)) => panic!("enqueuing {id} failed: {err}"),
        }
    }
    assert_eq!(accepted.len(), 1, "accepted: {accepted:?}");
    assert_eq!(refusals.len(), 9);
    assert!(
        refusals.iter().all(|id| *id == accepted[0]),
        "refusals name the winner {}: {refusals:?}",
        accepted[0]
    );
    assert_eq!(
        ids(&store.unfinished("s").await.unwrap()),
        [accepted[0].as_str()]
    );
}

async fn start_happens_once_and_not_after_a_cancel(backend: Backend) {
    let (_db, store) = open(backend).await;
    let first = op("first", "s", add_rooms(1));
    enqueued(&store, &first).await;
    let ours = running(&first, "me");
    assert!(store.start(&ours).await.unwrap());
    assert!(!store.start(&running(&first, "someone-else")).await.unwrap());
    assert_eq!(store.get("s", "first").await.unwrap(), ours);

    let second = op("second", "s", add_rooms(2));
    enqueued(&store, &second).await;
    store
        .cancel("s", "second", "Canceled by user", at(3))
        .await
        .unwrap();
    assert!(!store.start(&running(&second, "me")).await.unwrap());
    let stored = store.get("s", "second").await.unwrap();
    assert_eq!(stored.status, OperationStatus::Canceled);
    assert_eq!(stored.lease, None);

    // Unknown: nothing to start.
    assert!(
        !store
            .start(&running(&op("nope", "s", add_rooms(1)), "me"))
            .await
            .unwrap()
    );
}

async fn update_is_for_the_holder_of_a_running_operation_only(backend: Backend) {
    let (_db, store) = open(backend).await;
    let pending = op("pending", "s", add_rooms(1));
    enqueued(&store, &pending).await;
    // Not in progress yet: not updated.
    assert!(
        !store
            .update(&running(&pending, "me"), "me", at(1))
            .await
            .unwrap()
    );
    assert_eq!(store.get("s", "pending").await.unwrap(), pending);

    let mut ours = started(&store, &op("run", "s", add_rooms(1)), "me").await;
    let before = ours.clone();
    let mut theirs = ours.clone();
    theirs.history.push(event(2, "Someone else's step"));
    assert!(!store.update(&theirs, "other", at(3)).await.unwrap());
    assert_eq!(store.get("s", "run").await.unwrap(), before);

    ours.history.push(event(2, "Created 1 room"));
    ours.lease = Some(OperationLease {
        holder: "me".into(),
        expires_at: at(120),
    });
    assert!(store.update(&ours, "me", at(3)).await.unwrap());
    assert_eq!(store.get("s", "run").await.unwrap(), ours);

    // A new lease holder (e.g. after a takeover) then owns the updates.
    let mut handed = ours.clone();
    handed.lease = Some(OperationLease {
        holder: "next".into(),
        expires_at: at(180),
    });
    assert!(store.update(&handed, "me", at(3)).await.unwrap());
    assert!(!store.update(&ours, "me", at(3)).await.unwrap());

    // The runner stops it after a cancel request: final, no more updates.
    store.cancel("s", "run", "Cancel", at(4)).await.unwrap();
    let mut canceled = store.get("s", "run").await.unwrap();
    canceled.status = OperationStatus::Canceled;
    canceled.history.push(event(5, "Canceled"));
    assert!(store.update(&canceled, "next", at(3)).await.unwrap());
    let mut later = canceled.clone();
    later.status = OperationStatus::InProgress;
    later.history.push(event(6, "Too late"));
    assert!(!store.update(&later, "next", at(3)).await.unwrap());
    assert_eq!(store.get("s", "run").await.unwrap(), canceled);

    // An expired lease is taken over by whoever runs the scheduler now.
    let mut stale = started(&store, &op("stale", "s", add_rooms(1)), "gone").await;
    stale.history.push(event(7, "Resumed"));
    assert!(
        !store.update(&stale, "heir", at(3)).await.unwrap(),
        "not before it expires"
    );
    let expiry = store
        .get("s", "stale")
        .await
        .unwrap()
        .lease
        .unwrap()
        .expires_at;
    stale.lease = Some(OperationLease {
        holder: "heir".into(),
        expires_at: expiry + chrono::Duration::seconds(60),
    });
    assert!(
        store
            .update(&stale, "heir", expiry + chrono::Duration::seconds(1))
            .await
            .unwrap()
    );
    assert_eq!(store.get("s", "stale").await.unwrap(), stale);
}

async fn cancel_cancels_pending_and_flags_running(backend: Backend) {
    let (_db, store) = open(backend).await;
    let running_op = started(&store, &op("run", "s", add_rooms(1)), "me").await;
    let pending = op("wait", "s", add_rooms(2));
    enqueued(&store, &pending).await;

    let canceled = store
        .cancel("s", "wait", "Canceled by user", at(7))
        .await
        .unwrap();
    assert_eq!(canceled.status, OperationStatus::Canceled);
    assert_eq!(
        canceled.history,
        vec![pending.history[0].clone(), event(7, "Canceled by user")]
    );
    assert_eq!(store.get("s", "wait").await.unwrap(), canceled);

    let flagged = store
        .cancel("s", "run", "Canceled by user", at(8))
        .await
        .unwrap();
    assert_eq!(flagged.status, OperationStatus::InProgress);
    assert!(flagged.cancel_requested);
    assert_eq!(flagged.history, running_op.history);

    // The runner's next save, made from its own copy, keeps the request.
    let mut step = running_op.clone();
    assert!(!step.cancel_requested);
    step.history.push(event(9, "Created 1 room"));
    assert!(store.update(&step, "me", at(3)).await.unwrap());
    let stored = store.get("s", "run").await.unwrap();
    assert!(stored.cancel_requested);
    assert_eq!(stored.history, step.history);

    // Final ones are answered as they are.
    assert_eq!(
        store.cancel("s", "wait", "Again", at(10)).await.unwrap(),
        canceled
    );
    let mut done = stored.clone();
    done.status = OperationStatus::Finished;
    assert!(store.update(&done, "me", Utc::now()).await.unwrap());
    assert_eq!(
        store.cancel("s", "run", "Again", at(11)).await.unwrap(),
        done
    );
}

async fn forget_removes_one_schedulers_operations(backend: Backend) {
    let (_db, store) = open(backend).await;
    started(&store, &op("a", "s", add_rooms(1)), "me").await;
    enqueued(&store, &op("b", "s", add_rooms(2))).await;
    let kept = op("c", "t", add_rooms(3));
    enqueued(&store, &kept).await;
    store.forget("s").await.unwrap();
    assert_not_found(store.get("s", "a").await);
    assert_not_found(store.get("s", "b").await);
    assert_eq!(
        store
            .list("s", None, OperationOrder::NewestFirst, 1, 10)
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(store.get("t", "c").await.unwrap(), kept);
    // A scheduler of the same name starts with an empty queue.
    enqueued(&store, &op("d", "s", new_version("v2"))).await;
}

async fn leases_are_taken_renewed_refused_and_taken_over(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.holder("scheduler:s").await.unwrap(), None);
    assert!(
        store
            .acquire("scheduler:s", "a", at(0), at(10))
            .await
            .unwrap()
    );
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some(("a".into(), at(10)))
    );
    // Renewed by its holder.
    assert!(
        store
            .acquire("scheduler:s", "a", at(5), at(15))
            .await
            .unwrap()
    );
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some(("a".into(), at(15)))
    );
    // Refused to another while live.
    assert!(
        !store
            .acquire("scheduler:s", "b", at(14), at(30))
            .await
            .unwrap()
    );
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some(("a".into(), at(15)))
    );
    // Other names are other leases.
    assert!(
        store
            .acquire("scheduler:t", "b", at(14), at(30))
            .await
            .unwrap()
    );
    // Taken over once expired.
    assert!(
        store
            .acquire("scheduler:s", "b", at(16), at(26))
            .await
            .unwrap()
    );
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some(("b".into(), at(26)))
    );
    assert!(
        !store
            .acquire("scheduler:s", "a", at(17), at(27))
            .await
            .unwrap()
    );
}

async fn racing_holders_get_a_free_or_expired_lease_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let race = |now: i64| {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let holder = format!("process-{i}");
                    let won = store
                        .acquire("scheduler:s", &holder, at(now), at(now + 10))
                        .await
                        .unwrap();
                    (holder, won)
                })
            })
            .collect::<Vec<_>>();
        async move {
            let mut winners = Vec::new();
            for task in tasks {
                let (holder, won) = task.await.unwrap();
                if won {
                    winners.push(holder);
                }
            }
            winners
        }
    };
    let winners = race(0).await;
    assert_eq!(winners.len(), 1, "winners of a free lease: {winners:?}");
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some((winners[0].clone(), at(10)))
    );
    let winners = race(20).await;
    assert_eq!(winners.len(), 1, "winners of an expired lease: {winners:?}");
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some((winners[0].clone(), at(30)))
    );
}

async fn release_is_for_the_holder_only(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert!(
        store
            .acquire("scheduler:s", "a", at(0), at(10))
            .await
            .unwrap()
    );
    store.release("scheduler:s", "b").await.unwrap();
    assert_eq!(
        store.holder("scheduler:s").await.unwrap(),
        Some(("a".into(), at(10)))
    );
    assert!(
        !store
            .acquire("scheduler:s", "b", at(1), at(11))
            .await
            .unwrap()
    );
    store.release("scheduler:s", "a").await.unwrap();
    assert_eq!(store.holder("scheduler:s").await.unwrap(), None);
    // Free again, for anyone.
    assert!(
        store
            .acquire("scheduler:s", "b", at(2), at(12))
            .await
            .unwrap()
    );
    // Releasing what nobody holds is fine.
    store.release("nothing", "a").await.unwrap();
}

async fn renew_held_extends_the_holders_live_leases_only(backend: Backend) {
    let (_db, store) = open(backend).await;
    for (name, holder, until) in [
        ("scheduler:live-1", "a", 10),
        ("scheduler:live-2", "a", 12),
        ("scheduler:over", "a", 5),
        ("scheduler:other", "b", 10),
    ] {
        assert!(store.acquire(name, holder, at(0), at(until)).await.unwrap());
    }
    assert_eq!(
        store.renew_held("a", at(5), at(20)).await.unwrap(),
        vec!["scheduler:live-1", "scheduler:live-2"],
        "a lease over at `now` is not renewed"
    );
    for (name, expected) in [
        ("scheduler:live-1", ("a", 20)),
        ("scheduler:live-2", ("a", 20)),
        ("scheduler:over", ("a", 5)),
        ("scheduler:other", ("b", 10)),
    ] {
        assert_eq!(
            store.holder(name).await.unwrap(),
            Some((expected.0.to_string(), at(expected.1))),
            "{name}"
        );
    }
    // The expired one is anybody's, and then no longer a's to renew.
    assert!(
        store
            .acquire("scheduler:over", "b", at(6), at(16))
            .await
            .unwrap()
    );
    assert_eq!(
        store.renew_held("a", at(7), at(27)).await.unwrap(),
        vec!["scheduler:live-1", "scheduler:live-2"]
    );
    assert_eq!(
        store.renew_held("b", at(7), at(27)).await.unwrap(),
        vec!["scheduler:other", "scheduler:over"]
    );
    assert!(
        store
            .renew_held("nobody", at(7), at(27))
            .await
            .unwrap()
            .is_empty()
    );
}
