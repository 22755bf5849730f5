//! The `RoomStore` contract: one suite of scenarios, run against every adapter
//! (`MemoryRoomStore`, the reference behaviour, and `RedisRoomStore`).
//!
//! Redis: 127.0.0.1:6379 unless `BATON_TEST_REDIS_URL` says otherwise. Each test uses a random
//! key prefix and deletes its keys afterwards, even when it fails.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::room::{GameRoom, Ping, PingError, RoomAddress, RoomCounts, RoomPort, RoomStatus};
use app::ports::{Pinged, RoomStore, StoreError};
use chrono::{DateTime, Utc};
use serde_json::json;
use server::adapters::storage::memory::MemoryRoomStore;
use server::adapters::storage::redis::RedisRoomStore;

#[path = "room_store_contract/allocation.rs"]
mod allocation;
use allocation::{
    concurrent_allocations_hand_each_room_out_once, expiry_frees_unconfirmed_claims,
    multi_match_rooms_take_claims_up_to_max_matches, pings_answer_the_rooms_open_claims,
    pings_confirm_claims, release_returns_the_room_at_once,
    removed_or_terminating_rooms_are_never_allocated, reserve_claims_that_room_or_refuses,
    rooms_stored_before_the_index_are_allocatable,
    two_stores_sharing_redis_hand_each_room_out_once,
};

#[path = "room_store_contract/selection.rs"]
mod selection;
use selection::{
    metadata_selectors_match_the_rooms_metadata, multi_match_rooms_take_selected_claims_up_to_max,
    regions_are_tried_in_order_of_preference, selectors_find_the_last_match_among_many,
    strategies_order_the_rooms, version_selectors_take_rooms_of_those_versions,
};

#[path = "room_store_contract/packing.rs"]
mod packing;
use packing::{
    machine_busy_counts_follow_claims_pings_expiry_moves_and_removal,
    packed_fills_the_busiest_machine_first,
    redis_packs_like_the_reference_through_random_operations, set_machine_sets_and_replaces,
};

#[path = "room_store_contract/history.rs"]
mod history;
use history::{
    count_history_is_bounded_per_tier, count_history_keeps_what_each_tier_takes,
    count_history_reads_a_window, forget_counts_forgets_only_that_scheduler,
    region_health_is_stored_per_scheduler_and_forgotten,
};

#[path = "room_store_contract/outcomes.rs"]
mod outcomes;
use outcomes::{
    allocation_outcomes_are_counted_per_bucket_and_scheduler,
    forget_counts_forgets_allocation_outcomes,
    reservations_count_when_they_claim_and_empty_selections_are_refused,
};

#[path = "room_store_contract/tick_listing.rs"]
mod tick_listing;
use tick_listing::{
    tick_listing_reads_rooms_stored_before_it, tick_listing_sees_what_another_process_changed,
    tick_listing_shows_every_change_and_the_silent_rooms,
};

const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

fn redis_url() -> String {
    std::env::var("BATON_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string())
}

/// Runs each listed `async fn(Ctx)` scenario once per adapter.
macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::run(super::Adapter::Memory, super::$scenario).await
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::run(super::Adapter::Redis, super::$scenario).await
                }
            )*
        }
    };
}

contract!(
    insert_then_get_round_trips_every_field,
    duplicate_insert_conflicts_and_keeps_the_first,
    unknown_rooms_are_not_found,
    list_is_sorted_by_creation_then_id,
    pings_follow_the_documented_table_for_every_transition,
    ping_updates_metadata_and_running_matches_only_when_given,
    counts_follow_pings_status_changes_and_removals,
    set_status_changes_the_time_only_on_change,
    set_address_sets_and_replaces,
    status_reasons_are_set_cleared_and_stored_with_the_room,
    remove_forgets_and_unknown_is_fine,
    schedulers_are_isolated,
    concurrent_pings_keep_every_room_counted_once,
    concurrent_pings_to_many_schedulers_each_get_their_own_answer,
    count_history_keeps_what_each_tier_takes,
    count_history_is_bounded_per_tier,
    count_history_reads_a_window,
    forget_counts_forgets_only_that_scheduler,
    region_health_is_stored_per_scheduler_and_forgotten,
    allocation_outcomes_are_counted_per_bucket_and_scheduler,
    reservations_count_when_they_claim_and_empty_selections_are_refused,
    forget_counts_forgets_allocation_outcomes,
    concurrent_allocations_hand_each_room_out_once,
    multi_match_rooms_take_claims_up_to_max_matches,
    release_returns_the_room_at_once,
    reserve_claims_that_room_or_refuses,
    expiry_frees_unconfirmed_claims,
    pings_confirm_claims,
    pings_answer_the_rooms_open_claims,
    removed_or_terminating_rooms_are_never_allocated,
    strategies_order_the_rooms,
    version_selectors_take_rooms_of_those_versions,
    metadata_selectors_match_the_rooms_metadata,
    regions_are_tried_in_order_of_preference,
    multi_match_rooms_take_selected_claims_up_to_max,
    selectors_find_the_last_match_among_many,
    set_machine_sets_and_replaces,
    packed_fills_the_busiest_machine_first,
    machine_busy_counts_follow_claims_pings_expiry_moves_and_removal,
    tick_listing_shows_every_change_and_the_silent_rooms,
);

/// Scenarios that only make sense for Redis.
mod redis_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_prefixes_are_isolated() {
        super::run(super::Adapter::Redis, super::key_prefixes_are_isolated).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn removing_every_room_leaves_no_keys() {
        super::run(
            super::Adapter::Redis,
            super::removing_every_room_leaves_no_keys,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scripts_are_reloaded_after_the_server_lost_them() {
        super::run(
            super::Adapter::Redis,
            super::scripts_are_reloaded_after_the_server_lost_them,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_sharing_redis_hand_each_room_out_once() {
        super::run(
            super::Adapter::Redis,
            super::two_stores_sharing_redis_hand_each_room_out_once,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rooms_stored_before_the_index_are_allocatable() {
        super::run(
            super::Adapter::Redis,
            super::rooms_stored_before_the_index_are_allocatable,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_packs_like_the_reference_through_random_operations() {
        super::run(
            super::Adapter::Redis,
            super::redis_packs_like_the_reference_through_random_operations,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tick_listing_sees_what_another_process_changed() {
        super::run(
            super::Adapter::Redis,
            super::tick_listing_sees_what_another_process_changed,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tick_listing_reads_rooms_stored_before_it() {
        super::run(
            super::Adapter::Redis,
            super::tick_listing_reads_rooms_stored_before_it,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreachable_redis_is_unavailable() {
        super::unreachable_redis_is_unavailable().await
    }
}

#[derive(Clone, Copy, Debug)]
enum Adapter {
    Memory,
    Redis,
}

/// What a scenario gets: the store under test and, for Redis, where its keys live.
#[derive(Clone)]
struct Ctx {
    store: Arc<dyn RoomStore>,
    redis: Option<RedisCtx>,
}

#[derive(Clone)]
struct RedisCtx {
    url: String,
    prefix: String,
    store: RedisRoomStore,
}

fn random_prefix() -> String {
    format!("baton-test-{}", uuid::Uuid::new_v4().simple())
}

async fn connect_redis(url: &str, prefix: &str) -> RedisRoomStore {
    RedisRoomStore::connect(url, prefix)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {url}: {e}\n\
             The Redis room store tests need a local Redis. Start it with:\n    \
             redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" \
             --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log\n\
             or point BATON_TEST_REDIS_URL at another server (default {DEFAULT_REDIS_URL})."
            )
        })
}

/// Every key under `prefix:`.
async fn keys_under(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a Redis connection");
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

async fn delete_keys_under(url: &str, prefix: &str) {
    let keys = keys_under(url, prefix).await;
    if keys.is_empty() {
        return;
    }
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a Redis connection");
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("UNLINK")
            .arg(chunk)
            .query_async(&mut connection)
            .await
            .expect("UNLINK");
    }
}

/// Runs `scenario` on a fresh store; for Redis, deletes the test's keys afterwards, also when
/// the scenario panicked (it runs in its own task so that its panic can be caught).
async fn run<F, Fut>(adapter: Adapter, scenario: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ctx = match adapter {
        Adapter::Memory => Ctx {
            store: Arc::new(MemoryRoomStore::default()),
            redis: None,
        },
        Adapter::Redis => {
            let url = redis_url();
            let prefix = random_prefix();
            let store = connect_redis(&url, &prefix).await;
            Ctx {
                store: Arc::new(store.clone()),
                redis: Some(RedisCtx { url, prefix, store }),
            }
        }
    };
    let redis = ctx.redis.clone();
    let outcome = tokio::spawn(scenario(ctx)).await;
    if let Some(redis) = redis {
        delete_keys_under(&redis.url, &redis.prefix).await;
    }
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A time with nanoseconds, to check that stores keep timestamps exactly.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 123_456_789).unwrap()
}

fn room(scheduler: &str, id: &str, status: RoomStatus) -> GameRoom {
    GameRoom {
        id: id.to_string(),
        scheduler: scheduler.to_string(),
        version: "v1".to_string(),
        status,
        status_reason: None,
        created_at: at(1_700_000_000),
        status_changed_at: at(1_700_000_000),
        last_ping_at: None,
        running_matches: 0,
        metadata: BTreeMap::new(),
        address: None,
        region: "eu-west".to_string(),
        machine: String::new(),
    }
}

fn ping(status: RoomStatus) -> Ping {
    Ping {
        status,
        timestamp: None,
        metadata: None,
        running_matches: None,
    }
}

fn address(host: &str, port: u16) -> RoomAddress {
    RoomAddress {
        host: host.to_string(),
        ports: vec![RoomPort {
            name: "game".to_string(),
            protocol: "UDP".to_string(),
            port,
        }],
    }
}

fn counts_of(rooms: &[GameRoom]) -> RoomCounts {
    let mut counts = RoomCounts::default();
    for room in rooms {
        counts.add(room.status);
    }
    counts
}

fn not_found(scheduler: &str, id: &str) -> StoreError {
    StoreError::NotFound(format!("room {id} of scheduler {scheduler}"))
}

/// What `RoomStore::ping` answers when the rule refuses the change.
fn refused(from: RoomStatus, to: RoomStatus) -> Result<Result<Pinged, PingError>, StoreError> {
    Ok(Err(PingError::Transition { from, to }))
}

/// What `RoomStore::ping` answers when it applied a ping to a room that was `previous` and
/// has no open claim.
fn applied(previous: RoomStatus) -> Result<Result<Pinged, PingError>, StoreError> {
    Ok(Ok(Pinged::unclaimed(previous)))
}

fn counts(
    pending: u64,
    unready: u64,
    ready: u64,
    occupied: u64,
    terminating: u64,
    error: u64,
) -> RoomCounts {
    RoomCounts {
        pending,
        unready,
        ready,
        occupied,
        terminating,
        error,
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn insert_then_get_round_trips_every_field(ctx: Ctx) {
    let store = ctx.store;
    let mut full = room("s", "full", RoomStatus::Occupied);
    full.version = "v2.1".to_string();
    full.status_changed_at = at(1_700_000_100);
    full.last_ping_at = Some(at(1_700_000_200));
    full.running_matches = 7;
    full.metadata = BTreeMap::from([
        ("map".to_string(), json!("de_dust")),
        ("players".to_string(), json!([1, 2, 3])),
        ("nested".to_string(), json!({"a": {"b": null}, "ok": true})),
    ]);
    full.address = Some(address("10.0.0.7", 7777));
    full.machine = "node-7".to_string();
    full.status_reason = Some("no capacity: MemoryMB".to_string());
    store.insert(&full).await.unwrap();
    assert_eq!(store.get("s", "full").await.unwrap(), full);

    // The optional fields stay absent.
    let bare = room("s", "bare", RoomStatus::Pending);
    store.insert(&bare).await.unwrap();
    let got = store.get("s", "bare").await.unwrap();
    assert_eq!(got, bare);
    assert_eq!((got.last_ping_at, got.address), (None, None));
}

async fn duplicate_insert_conflicts_and_keeps_the_first(ctx: Ctx) {
    let store = ctx.store;
    let first = room("s", "r1", RoomStatus::Pending);
    store.insert(&first).await.unwrap();
    let mut second = room("s", "r1", RoomStatus::Ready);
    second.version = "v9".to_string();
    assert_eq!(
        store.insert(&second).await,
        Err(StoreError::Conflict("room r1 already exists".to_string()))
    );
    assert_eq!(store.get("s", "r1").await.unwrap(), first);
    assert_eq!(store.counts("s").await.unwrap(), counts(1, 0, 0, 0, 0, 0));
    assert_eq!(store.list("s").await.unwrap(), vec![first]);
}

async fn unknown_rooms_are_not_found(ctx: Ctx) {
    let store = ctx.store;
    store
        .insert(&room("s", "r1", RoomStatus::Ready))
        .await
        .unwrap();
    let now = at(1_800_000_000);
    assert_eq!(store.get("s", "nope").await, Err(not_found("s", "nope")));
    assert_eq!(
        store.get("other", "r1").await,
        Err(not_found("other", "r1"))
    );
    assert_eq!(
        store.ping("s", "nope", &ping(RoomStatus::Ready), now).await,
        Err(not_found("s", "nope"))
    );
    assert_eq!(
        store.set_status("s", "nope", RoomStatus::Error, now).await,
        Err(not_found("s", "nope"))
    );
    assert_eq!(
        store.set_address("s", "nope", &address("h", 1)).await,
        Err(not_found("s", "nope"))
    );
    // Nothing was created by the failed calls.
    assert_eq!(store.list("s").await.unwrap().len(), 1);
    assert_eq!(store.counts("s").await.unwrap(), counts(0, 0, 1, 0, 0, 0));
    assert!(store.list("other").await.unwrap().is_empty());
    assert_eq!(store.counts("other").await.unwrap(), RoomCounts::default());
}

async fn list_is_sorted_by_creation_then_id(ctx: Ctx) {
    let store = ctx.store;
    assert!(store.list("s").await.unwrap().is_empty());
    let mut rooms = Vec::new();
    for (id, created) in [("c", 30), ("b", 10), ("a", 20), ("d", 10), ("a2", 20)] {
        let mut r = room("s", id, RoomStatus::Ready);
        r.created_at = at(1_700_000_000 + created);
        store.insert(&r).await.unwrap();
        rooms.push(r);
    }
    let ids: Vec<String> = store
        .list("s")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["b", "d", "a", "a2", "c"]);
    rooms.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    assert_eq!(store.list("s").await.unwrap(), rooms);
}

/// The README's table ("Statuses a room may report"), written out: what a room in each status
/// may report. `pending` and `error` are never reportable. Checked here against each store, the
/// Redis one applying it in Lua, independently of the domain code that builds that Lua table.
const DOCUMENTED: [(RoomStatus, &[RoomStatus]); 7] = {
    use RoomStatus::*;
    const LIVE: &[RoomStatus] = &[Unready, Ready, Occupied, Terminating, Terminated];
    [
        (Pending, LIVE),
        (Unready, LIVE),
        (Ready, LIVE),
        (Occupied, LIVE),
        (Error, LIVE),
        (Terminating, &[Terminating, Terminated]),
        (Terminated, &[Terminated]),
    ]
};

/// Every (current status, reported status) pair: the store accepts exactly the documented
/// ones, applies them whole, and a refused ping changes nothing.
async fn pings_follow_the_documented_table_for_every_transition(ctx: Ctx) {
    use RoomStatus::*;
    let store = ctx.store;
    let now = at(1_800_000_000);
    let mut expected_counts = RoomCounts::default();
    for (from, reportable) in DOCUMENTED {
        for to in RoomStatus::ALL {
            let id = format!("{from}-to-{to}");
            let mut before = room("s", &id, from);
            before.running_matches = 1;
            before.metadata = BTreeMap::from([("old".to_string(), json!(1))]);
            store.insert(&before).await.unwrap();
            let mut p = ping(to);
            p.running_matches = Some(4);
            p.metadata = Some(BTreeMap::from([("new".to_string(), json!("x"))]));

            let got = store.ping("s", &id, &p, now).await;
            let stored = store.get("s", &id).await.unwrap();
            if reportable.contains(&to) {
                assert_eq!(got, applied(from), "{from} -> {to}");
                let mut after = before.clone();
                after.status = to;
                after.last_ping_at = Some(now);
                if from != to {
                    after.status_changed_at = now;
                }
                after.running_matches = 4;
                after.metadata = BTreeMap::from([("new".to_string(), json!("x"))]);
                assert_eq!(stored, after, "{from} -> {to}: stored room");
            } else {
                let refusal = if matches!(to, Pending | Error) {
                    Ok(Err(PingError::OrchestratorOnly))
                } else {
                    refused(from, to)
                };
                assert_eq!(got, refusal, "{from} -> {to}");
                assert_eq!(
                    stored, before,
                    "{from} -> {to}: a refused ping changes nothing"
                );
            }
            expected_counts.add(if reportable.contains(&to) { to } else { from });
        }
    }
    assert_eq!(store.counts("s").await.unwrap(), expected_counts);
}

async fn ping_updates_metadata_and_running_matches_only_when_given(ctx: Ctx) {
    let store = ctx.store;
    store
        .insert(&room("s", "r", RoomStatus::Pending))
        .await
        .unwrap();

    let mut p = ping(RoomStatus::Ready);
    p.metadata = Some(BTreeMap::from([("map".to_string(), json!("arena"))]));
    p.running_matches = Some(2);
    assert_eq!(
        store.ping("s", "r", &p, at(1_800_000_001)).await,
        applied(RoomStatus::Pending)
    );
    let first = store.get("s", "r").await.unwrap();
    assert_eq!(first.status, RoomStatus::Ready);
    assert_eq!(first.status_changed_at, at(1_800_000_001));
    assert_eq!(first.last_ping_at, Some(at(1_800_000_001)));
    assert_eq!(first.running_matches, 2);
    assert_eq!(first.metadata["map"], json!("arena"));

    // Same status, nothing else given: only the ping time moves.
    assert_eq!(
        store
            .ping("s", "r", &ping(RoomStatus::Ready), at(1_800_000_002))
            .await,
        applied(RoomStatus::Ready)
    );
    let second = store.get("s", "r").await.unwrap();
    assert_eq!(
        second,
        GameRoom {
            last_ping_at: Some(at(1_800_000_002)),
            ..first.clone()
        }
    );

    // Explicit zero and empty metadata replace the old values.
    let mut p = ping(RoomStatus::Occupied);
    p.metadata = Some(BTreeMap::new());
    p.running_matches = Some(0);
    assert_eq!(
        store.ping("s", "r", &p, at(1_800_000_003)).await,
        applied(RoomStatus::Ready)
    );
    let third = store.get("s", "r").await.unwrap();
    assert_eq!(third.status, RoomStatus::Occupied);
    assert_eq!(third.status_changed_at, at(1_800_000_003));
    assert_eq!(third.running_matches, 0);
    assert!(third.metadata.is_empty());
    // Everything else is as the room was created.
    assert_eq!(
        third,
        GameRoom {
            status: RoomStatus::Occupied,
            status_reason: None,
            status_changed_at: at(1_800_000_003),
            last_ping_at: Some(at(1_800_000_003)),
            running_matches: 0,
            metadata: BTreeMap::new(),
            ..room("s", "r", RoomStatus::Pending)
        }
    );
}

async fn counts_follow_pings_status_changes_and_removals(ctx: Ctx) {
    let store = ctx.store;
    let now = at(1_800_000_000);
    assert_eq!(store.counts("s").await.unwrap(), RoomCounts::default());
    for i in 0..6 {
        store
            .insert(&room("s", &format!("r{i}"), RoomStatus::Pending))
            .await
            .unwrap();
    }
    assert_eq!(store.counts("s").await.unwrap(), counts(6, 0, 0, 0, 0, 0));

    assert_eq!(
        store.ping("s", "r0", &ping(RoomStatus::Ready), now).await,
        applied(RoomStatus::Pending)
    );
    assert_eq!(
        store.ping("s", "r1", &ping(RoomStatus::Ready), now).await,
        applied(RoomStatus::Pending)
    );
    assert_eq!(
        store
            .ping("s", "r2", &ping(RoomStatus::Occupied), now)
            .await,
        applied(RoomStatus::Pending)
    );
    assert_eq!(
        store.ping("s", "r3", &ping(RoomStatus::Unready), now).await,
        applied(RoomStatus::Pending)
    );
    assert_eq!(store.counts("s").await.unwrap(), counts(2, 1, 2, 1, 0, 0));

    // A refused ping moves nothing.
    store
        .set_status("s", "r4", RoomStatus::Terminating, now)
        .await
        .unwrap();
    assert_eq!(
        store.ping("s", "r4", &ping(RoomStatus::Ready), now).await,
        refused(RoomStatus::Terminating, RoomStatus::Ready)
    );
    store
        .set_status("s", "r5", RoomStatus::Error, now)
        .await
        .unwrap();
    assert_eq!(store.counts("s").await.unwrap(), counts(0, 1, 2, 1, 1, 1));

    // Terminated rooms are not counted, but still listed until removed.
    assert_eq!(
        store
            .ping("s", "r4", &ping(RoomStatus::Terminated), now)
            .await,
        applied(RoomStatus::Terminating)
    );
    assert_eq!(store.counts("s").await.unwrap(), counts(0, 1, 2, 1, 0, 1));
    assert_eq!(store.list("s").await.unwrap().len(), 6);

    store.remove("s", "r4").await.unwrap();
    store.remove("s", "r0").await.unwrap();
    let expected = counts(0, 1, 1, 1, 0, 1);
    assert_eq!(store.counts("s").await.unwrap(), expected);
    assert_eq!(counts_of(&store.list("s").await.unwrap()), expected);
}

async fn set_status_changes_the_time_only_on_change(ctx: Ctx) {
    let store = ctx.store;
    store
        .insert(&room("s", "r", RoomStatus::Ready))
        .await
        .unwrap();
    // The orchestrator may set statuses a ping may not, whatever the room said.
    store
        .set_status("s", "r", RoomStatus::Error, at(1_800_000_001))
        .await
        .unwrap();
    let got = store.get("s", "r").await.unwrap();
    assert_eq!(got.status, RoomStatus::Error);
    assert_eq!(got.status_changed_at, at(1_800_000_001));
    assert_eq!(got.last_ping_at, None);

    store
        .set_status("s", "r", RoomStatus::Error, at(1_800_000_002))
        .await
        .unwrap();
    assert_eq!(
        store.get("s", "r").await.unwrap().status_changed_at,
        at(1_800_000_001)
    );

    store
        .set_status("s", "r", RoomStatus::Terminated, at(1_800_000_003))
        .await
        .unwrap();
    store
        .set_status("s", "r", RoomStatus::Pending, at(1_800_000_004))
        .await
        .unwrap();
    let got = store.get("s", "r").await.unwrap();
    assert_eq!(got.status, RoomStatus::Pending);
    assert_eq!(got.status_changed_at, at(1_800_000_004));
    assert_eq!(store.counts("s").await.unwrap(), counts(1, 0, 0, 0, 0, 0));
}

async fn set_address_sets_and_replaces(ctx: Ctx) {
    let store = ctx.store;
    let original = room("s", "r", RoomStatus::Pending);
    store.insert(&original).await.unwrap();
    store
        .set_address("s", "r", &address("10.0.0.1", 7000))
        .await
        .unwrap();
    assert_eq!(
        store.get("s", "r").await.unwrap().address,
        Some(address("10.0.0.1", 7000))
    );
    let mut two_ports = address("game-1.example.com", 7001);
    two_ports.ports.push(RoomPort {
        name: "admin".to_string(),
        protocol: "TCP".to_string(),
        port: 9000,
    });
    store.set_address("s", "r", &two_ports).await.unwrap();
    let got = store.get("s", "r").await.unwrap();
    assert_eq!(got.address, Some(two_ports));
    // Nothing else changed.
    assert_eq!(
        GameRoom {
            address: None,
            ..got
        },
        original
    );
}

async fn status_reasons_are_set_cleared_and_stored_with_the_room(ctx: Ctx) {
    let store = ctx.store;
    let original = room("s", "r", RoomStatus::Pending);
    store.insert(&original).await.unwrap();
    let why = "room not started: a new payload would break this host's safety limits: MemoryMB";
    store
        .set_status_reason("s", "r", Some(why), at(1_700_000_500))
        .await
        .unwrap();
    let got = store.get("s", "r").await.unwrap();
    assert_eq!(got.status_reason.as_deref(), Some(why));
    // The status means something else from then on.
    assert_eq!(got.status_changed_at, at(1_700_000_500));
    assert_eq!(
        GameRoom {
            status_reason: None,
            status_changed_at: original.status_changed_at,
            ..got
        },
        original
    );
    assert_eq!(
        store.list("s").await.unwrap()[0].status_reason.as_deref(),
        Some(why)
    );
    store
        .set_status_reason("s", "r", None, at(1_700_000_600))
        .await
        .unwrap();
    let got = store.get("s", "r").await.unwrap();
    assert_eq!(got.status_reason, None);
    assert_eq!(got.status_changed_at, at(1_700_000_600));
    assert_eq!(store.counts("s").await.unwrap(), counts(1, 0, 0, 0, 0, 0));
    assert_eq!(
        store
            .set_status_reason("s", "nope", Some(why), at(1_700_000_700))
            .await,
        Err(not_found("s", "nope"))
    );
}

async fn remove_forgets_and_unknown_is_fine(ctx: Ctx) {
    let store = ctx.store;
    store.remove("s", "never-existed").await.unwrap();
    store.remove("no-such-scheduler", "r").await.unwrap();
    store
        .insert(&room("s", "r1", RoomStatus::Ready))
        .await
        .unwrap();
    store
        .insert(&room("s", "r2", RoomStatus::Occupied))
        .await
        .unwrap();
    store.remove("s", "r1").await.unwrap();
    assert_eq!(store.get("s", "r1").await, Err(not_found("s", "r1")));
    assert_eq!(
        store
            .list("s")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        ["r2"]
    );
    assert_eq!(store.counts("s").await.unwrap(), counts(0, 0, 0, 1, 0, 0));
    // Removing twice is fine, and the id can be used again.
    store.remove("s", "r1").await.unwrap();
    let again = room("s", "r1", RoomStatus::Pending);
    store.insert(&again).await.unwrap();
    assert_eq!(store.get("s", "r1").await.unwrap(), again);
    assert_eq!(store.counts("s").await.unwrap(), counts(1, 0, 0, 1, 0, 0));
}

async fn schedulers_are_isolated(ctx: Ctx) {
    let store = ctx.store;
    let now = at(1_800_000_000);
    // The same id in two schedulers: two rooms.
    let a = room("alpha", "r", RoomStatus::Pending);
    let mut b = room("beta", "r", RoomStatus::Pending);
    b.version = "v7".to_string();
    store.insert(&a).await.unwrap();
    store.insert(&b).await.unwrap();
    store
        .insert(&room("beta", "only-beta", RoomStatus::Ready))
        .await
        .unwrap();

    assert_eq!(
        store
            .ping("alpha", "r", &ping(RoomStatus::Occupied), now)
            .await,
        applied(RoomStatus::Pending)
    );
    assert_eq!(store.get("beta", "r").await.unwrap(), b);
    store
        .set_address("beta", "r", &address("h", 1))
        .await
        .unwrap();
    assert_eq!(store.get("alpha", "r").await.unwrap().address, None);

    assert_eq!(
        store.counts("alpha").await.unwrap(),
        counts(0, 0, 0, 1, 0, 0)
    );
    assert_eq!(
        store.counts("beta").await.unwrap(),
        counts(1, 0, 1, 0, 0, 0)
    );
    assert_eq!(store.list("alpha").await.unwrap().len(), 1);
    assert_eq!(store.list("beta").await.unwrap().len(), 2);
    assert_eq!(
        store.get("alpha", "only-beta").await,
        Err(not_found("alpha", "only-beta"))
    );

    store.remove("alpha", "r").await.unwrap();
    assert_eq!(store.get("alpha", "r").await, Err(not_found("alpha", "r")));
    assert_eq!(store.get("beta", "r").await.unwrap().version, "v7");
    assert_eq!(
        store.counts("beta").await.unwrap(),
        counts(1, 0, 1, 0, 0, 0)
    );
}

/// 50 pings at once on one room (and 50 more spread over its neighbours), mixing statuses
/// including terminating: every ping is either applied or refused by the rule, and afterwards
/// every room is counted exactly once, in the status it is in.
async fn concurrent_pings_keep_every_room_counted_once(ctx: Ctx) {
    use RoomStatus::*;
    let store = ctx.store.clone();
    const ROOMS: usize = 10;
    for i in 0..ROOMS {
        store
            .insert(&room("s", &format!("r{i}"), Pending))
            .await
            .unwrap();
    }
    let cycle = [Ready, Occupied, Unready, Ready, Occupied, Terminating];
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let store = store.clone();
        // The first 50 all hit r0.
        let id = if i < 50 {
            "r0".to_string()
        } else {
            format!("r{}", 1 + (i as usize % (ROOMS - 1)))
        };
        let status = cycle[i as usize % cycle.len()];
        tasks.push(tokio::spawn(async move {
            let mut p = ping(status);
            p.running_matches = Some(i);
            let result = store.ping("s", &id, &p, at(1_800_000_000 + i as i64)).await;
            (id, status, i, result)
        }));
    }
    let mut applied: HashMap<String, Vec<(RoomStatus, u32)>> = HashMap::new();
    let mut previous_statuses: HashMap<String, Vec<RoomStatus>> = HashMap::new();
    for task in tasks {
        let (id, status, i, result) = task.await.unwrap();
        match result {
            Ok(Ok(Pinged { previous, .. })) => {
                assert!(
                    previous.accepts_ping(status),
                    "ping {i} on {id} applied {status} to a {previous} room"
                );
                applied.entry(id.clone()).or_default().push((status, i));
                previous_statuses.entry(id).or_default().push(previous);
            }
            // Only pings after the room started terminating may be refused.
            refusal => assert_eq!(refusal, refused(Terminating, status), "ping {i} on {id}"),
        }
    }
    // Each room left pending exactly once: no two pings saw the same starting state.
    for (id, previous) in &previous_statuses {
        assert_eq!(
            previous.iter().filter(|s| **s == Pending).count(),
            1,
            "{id}: statuses before its pings {previous:?}"
        );
    }

    let rooms = store.list("s").await.unwrap();
    assert_eq!(rooms.len(), ROOMS);
    let counted = store.counts("s").await.unwrap();
    assert_eq!(counted, counts_of(&rooms));
    assert_eq!(counted.live() + counted.terminating, ROOMS as u64);
    for room in &rooms {
        let applied = &applied[&room.id];
        // The stored room is the result of one of the applied pings...
        assert!(
            applied.contains(&(room.status, room.running_matches)),
            "{} ended {:?} with {} matches, not from an applied ping",
            room.id,
            room.status,
            room.running_matches
        );
        // ...and nothing brought a terminating room back.
        if applied.iter().any(|(s, _)| *s == Terminating) {
            assert_eq!(room.status, Terminating, "{}", room.id);
        }
    }

    // Redis: each id is in exactly one status set, the one of its status.
    if let Some(redis) = &ctx.redis {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut seen: HashMap<String, Vec<RoomStatus>> = HashMap::new();
        for status in RoomStatus::ALL {
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(format!("{}:{{s}}:status:{status}", redis.prefix))
                .query_async(&mut connection)
                .await
                .unwrap();
            for id in members {
                seen.entry(id).or_default().push(status);
            }
        }
        for room in &rooms {
            assert_eq!(
                seen.remove(&room.id),
                Some(vec![room.status]),
                "{}",
                room.id
            );
        }
        assert!(
            seen.is_empty(),
            "ids in status sets without a room: {seen:?}"
        );
    }
}

/// Pings arriving together (which the Redis store answers in shared batches) to rooms of
/// several schedulers, some unknown and some refused: each gets its own answer and changes only
/// its own room.
async fn concurrent_pings_to_many_schedulers_each_get_their_own_answer(ctx: Ctx) {
    use RoomStatus::*;
    let store = ctx.store.clone();
    let schedulers = ["s-a", "s-b", "s-c"];
    for scheduler in schedulers {
        for i in 0..20u32 {
            // Every fourth room is terminating: its `ready` pings are refused.
            let status = if i.is_multiple_of(4) {
                Terminating
            } else {
                Ready
            };
            store
                .insert(&room(scheduler, &format!("r{i}"), status))
                .await
                .unwrap();
        }
    }
    let mut tasks = Vec::new();
    for scheduler in schedulers {
        // r20..r24 do not exist.
        for i in 0..25 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("r{i}");
                let mut p = ping(Occupied);
                p.running_matches = Some(i);
                let result = store.ping(scheduler, &id, &p, at(1_900_000_000)).await;
                (scheduler, id, i, result)
            }));
        }
    }
    for task in tasks {
        let (scheduler, id, i, result) = task.await.unwrap();
        let expected = if i >= 20 {
            Err(not_found(scheduler, &id))
        } else if i.is_multiple_of(4) {
            refused(Terminating, Occupied)
        } else {
            applied(Ready)
        };
        assert_eq!(result, expected, "{scheduler}/{id}");
    }
    for scheduler in schedulers {
        for room in store.list(scheduler).await.unwrap() {
            let i: u32 = room.id[1..].parse().unwrap();
            if i.is_multiple_of(4) {
                assert_eq!((room.status, room.running_matches), (Terminating, 0));
            } else {
                assert_eq!((room.status, room.running_matches), (Occupied, i));
            }
        }
        assert_eq!(
            store.counts(scheduler).await.unwrap(),
            counts(0, 0, 0, 15, 5, 0)
        );
    }
}

async fn key_prefixes_are_isolated(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let other_prefix = random_prefix();
    let other = connect_redis(&redis.url, &other_prefix).await;
    assert_eq!(redis.store.key_prefix(), redis.prefix);
    let url = redis.url.clone();
    let result = async move {
        redis
            .store
            .insert(&room("s", "r", RoomStatus::Ready))
            .await
            .unwrap();
        assert_eq!(other.get("s", "r").await, Err(not_found("s", "r")));
        assert!(other.list("s").await.unwrap().is_empty());
        assert_eq!(other.counts("s").await.unwrap(), RoomCounts::default());
        other
            .insert(&room("s", "r", RoomStatus::Pending))
            .await
            .unwrap();
        assert_eq!(
            redis.store.get("s", "r").await.unwrap().status,
            RoomStatus::Ready
        );
        assert!(
            keys_under(&redis.url, &redis.prefix)
                .await
                .iter()
                .all(|k| k.starts_with(&format!("{}:", redis.prefix)))
        );
    };
    // Clean the second prefix even if an assertion fails.
    let outcome = tokio::spawn(result).await;
    delete_keys_under(&url, &other_prefix).await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

async fn removing_every_room_leaves_no_keys(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let store = &redis.store;
    let now = at(1_800_000_000);
    for (i, status) in RoomStatus::ALL.into_iter().enumerate() {
        let id = format!("r{i}");
        store.insert(&room("s", &id, status)).await.unwrap();
        store.set_address("s", &id, &address("h", 1)).await.unwrap();
        store.set_machine("s", &id, "m1").await.unwrap();
        let _ = store
            .ping("s", &id, &ping(RoomStatus::Terminating), now)
            .await;
    }
    assert!(!keys_under(&redis.url, &redis.prefix).await.is_empty());
    assert_eq!(
        store.list_for_tick("s", now).await.unwrap().len(),
        RoomStatus::ALL.len()
    );
    for i in 0..RoomStatus::ALL.len() {
        store.remove("s", &format!("r{i}")).await.unwrap();
    }
    assert!(store.list_for_tick("s", now).await.unwrap().is_empty());
    assert_eq!(
        keys_under(&redis.url, &redis.prefix).await,
        Vec::<String>::new()
    );
}

/// After a Redis restart or failover the scripts are gone: every operation loads its script
/// again. (SCRIPT FLUSH empties the script cache of the whole test server; the other tests
/// running meanwhile take the same reload path.)
async fn scripts_are_reloaded_after_the_server_lost_them(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let store = &redis.store;
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let flush = || redis::cmd("SCRIPT").arg("FLUSH").arg("SYNC").clone();
    let now = at(1_800_000_000);

    let _: () = flush().query_async(&mut connection).await.unwrap();
    store
        .insert(&room("s", "r", RoomStatus::Pending))
        .await
        .unwrap();
    let _: () = flush().query_async(&mut connection).await.unwrap();
    assert_eq!(
        store.ping("s", "r", &ping(RoomStatus::Ready), now).await,
        applied(RoomStatus::Pending)
    );
    assert_eq!(store.get("s", "r").await.unwrap().status, RoomStatus::Ready);
    let _: () = flush().query_async(&mut connection).await.unwrap();
    assert_eq!(
        store.ping("s", "nope", &ping(RoomStatus::Ready), now).await,
        Err(not_found("s", "nope"))
    );
    let _: () = flush().query_async(&mut connection).await.unwrap();
    store
        .set_status("s", "r", RoomStatus::Terminating, now)
        .await
        .unwrap();
    let _: () = flush().query_async(&mut connection).await.unwrap();
    assert_eq!(
        store.ping("s", "r", &ping(RoomStatus::Ready), now).await,
        refused(RoomStatus::Terminating, RoomStatus::Ready)
    );
    let _: () = flush().query_async(&mut connection).await.unwrap();
    store.set_address("s", "r", &address("h", 1)).await.unwrap();
    assert_eq!(store.counts("s").await.unwrap(), counts(0, 0, 0, 0, 1, 0));
    assert_eq!(
        store.get("s", "r").await.unwrap().address,
        Some(address("h", 1))
    );
}

async fn unreachable_redis_is_unavailable() {
    // Nothing listens on port 1 of loopback.
    let started = Instant::now();
    let result = RedisRoomStore::connect("redis://:secret@127.0.0.1:1", "baton-test").await;
    match result {
        // Worth retrying (the API answers 503 UNAVAILABLE), and the password is not shown.
        Err(StoreError::Unavailable { store, detail }) => {
            assert_eq!(store, app::ports::Store::Redis);
            assert!(!detail.contains("secret"), "{detail}");
        }
        Err(other) => panic!("expected Redis to be unavailable, got {other:?}"),
        Ok(_) => panic!("connected to 127.0.0.1:1"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}
