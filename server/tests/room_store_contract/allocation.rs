//! Allocation scenarios of the `RoomStore` contract: atomic claims under concurrency,
//! multi-match capacity, release, expiry, confirmation by ping, and rooms that may not be
//! allocated.

use std::collections::HashSet;
use std::sync::Arc;

use app::domain::allocation::{Claim, NewClaim, Selection, Strategy};
use app::domain::room::{Ping, PingError, RoomStatus};
use app::ports::{Pinged, RoomStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{Ctx, at, ping, room};

const NOW: i64 = 1_800_000_000;
/// Any room, packed.
const ANY: Selection = Selection {
    strategy: Strategy::Packed,
    versions: None,
    metadata: std::collections::BTreeMap::new(),
    regions: Vec::new(),
};

pub(super) fn new_claim(id: &str, ttl: i64) -> NewClaim {
    NewClaim {
        id: id.to_string(),
        metadata: json!({"match": id}),
        created_at: at(NOW),
        expires_at: at(NOW) + Duration::seconds(ttl),
    }
}

pub(super) async fn ready_rooms(store: &dyn RoomStore, scheduler: &str, n: usize) {
    for i in 0..n {
        store
            .insert(&room(scheduler, &format!("r{i:03}"), RoomStatus::Ready))
            .await
            .unwrap();
    }
}

async fn allocate(store: &dyn RoomStore, max: u32, id: &str) -> Option<Claim> {
    store
        .allocate("s", max, &ANY, &new_claim(id, 60))
        .await
        .unwrap()
        .map(|claimed| claimed.claim)
}

pub(super) async fn concurrent_allocations_hand_each_room_out_once(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 200).await;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .allocate("s", 1, &ANY, &new_claim(&format!("c{i}"), 60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut rooms = Vec::new();
    for task in tasks {
        if let Some(claimed) = task.await.unwrap() {
            // The room's region and address come with the claim.
            assert_eq!(
                (claimed.region.as_str(), &claimed.address),
                ("eu-west", &None)
            );
            assert_eq!(claimed.claim.scheduler, "s");
            rooms.push(claimed.claim.room);
        }
    }
    assert_eq!(rooms.len(), 200, "one success per room");
    let distinct: HashSet<&String> = rooms.iter().collect();
    assert_eq!(distinct.len(), 200, "no room twice");
    assert_eq!(store.claims("s", None).await.unwrap().len(), 200);
    assert_eq!(allocate(store.as_ref(), 1, "late").await, None);
}

pub(super) async fn multi_match_rooms_take_claims_up_to_max_matches(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 1).await;
    for i in 0..3 {
        let claim = allocate(store.as_ref(), 3, &format!("c{i}")).await;
        assert_eq!(claim.map(|c| c.room).as_deref(), Some("r000"), "claim {i}");
    }
    assert_eq!(allocate(store.as_ref(), 3, "c3").await, None);
    let claims = store.claims("s", Some("r000")).await.unwrap();
    assert_eq!(claims.len(), 3);
    assert_eq!(claims[0].metadata, json!({"match": "c0"}));
    // Running matches count too: an occupied room running two takes one more claim.
    store
        .insert(&room("s", "busy", RoomStatus::Occupied))
        .await
        .unwrap();
    let two = Ping {
        running_matches: Some(2),
        ..ping(RoomStatus::Occupied)
    };
    store
        .ping("s", "busy", &two, at(NOW))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        allocate(store.as_ref(), 3, "c4")
            .await
            .map(|c| c.room)
            .as_deref(),
        Some("busy")
    );
    assert_eq!(allocate(store.as_ref(), 3, "c5").await, None);
    // A single-match scheduler never hands out an occupied room.
    store
        .insert(&room("s", "idle-occupied", RoomStatus::Occupied))
        .await
        .unwrap();
    assert_eq!(allocate(store.as_ref(), 1, "c6").await, None);
}

pub(super) async fn release_returns_the_room_at_once(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 1).await;
    let claim = allocate(store.as_ref(), 1, "c1").await.unwrap();
    assert_eq!(allocate(store.as_ref(), 1, "c2").await, None);
    let released = store.release("s", "c1").await.unwrap();
    assert_eq!(released, Some(claim));
    assert_eq!(
        store.release("s", "c1").await.unwrap(),
        None,
        "released once"
    );
    assert_eq!(
        allocate(store.as_ref(), 1, "c3")
            .await
            .map(|c| c.room)
            .as_deref(),
        Some("r000")
    );
}

pub(super) async fn reserve_claims_that_room_or_refuses(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 3).await;
    let reached = super::address("10.0.0.7", 7001);
    store.set_address("s", "r001", &reached).await.unwrap();
    let claimed = store
        .reserve("s", "r001", 1, &new_claim("c1", 60))
        .await
        .unwrap();
    // The room's address and region, read in the same step.
    assert_eq!(
        (claimed.address.as_ref(), claimed.region.as_str()),
        (Some(&reached), "eu-west")
    );
    let claim = claimed.claim;
    assert_eq!((claim.room.as_str(), claim.id.as_str()), ("r001", "c1"));
    assert!(matches!(
        store.reserve("s", "r001", 1, &new_claim("c2", 60)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.reserve("s", "nope", 1, &new_claim("c3", 60)).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .insert(&room("s", "starting", RoomStatus::Pending))
        .await
        .unwrap();
    assert!(matches!(
        store
            .reserve("s", "starting", 1, &new_claim("c4", 60))
            .await,
        Err(StoreError::Conflict(_))
    ));
}

pub(super) async fn expiry_frees_unconfirmed_claims(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 2).await;
    let short = store
        .allocate("s", 1, &ANY, &new_claim("short", 10))
        .await
        .unwrap()
        .unwrap()
        .claim;
    let long = store
        .allocate("s", 1, &ANY, &new_claim("long", 100))
        .await
        .unwrap()
        .unwrap()
        .claim;
    assert_eq!(allocate(store.as_ref(), 1, "none").await, None);
    let later = |s: i64| -> DateTime<Utc> { at(NOW) + Duration::seconds(s) };
    // A sweep closes what expired and answers what stays open, as `claims` does.
    let swept = store.sweep_claims("s", later(9)).await.unwrap();
    assert_eq!(swept.expired, vec![]);
    assert_eq!(swept.open.len(), 2);
    assert_eq!(swept.open, store.claims("s", None).await.unwrap());
    let swept = store.sweep_claims("s", later(10)).await.unwrap();
    assert_eq!(swept.expired, vec![short.clone()]);
    assert_eq!(swept.open, vec![long.clone()]);
    assert_eq!(store.claims("s", None).await.unwrap(), vec![long]);
    // A scheduler without claims (or rooms) sweeps nothing.
    assert_eq!(
        store.sweep_claims("none", later(10)).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        allocate(store.as_ref(), 1, "again").await.map(|c| c.room),
        Some(short.room)
    );
}

pub(super) async fn pings_confirm_claims(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 1).await;
    let now = at(NOW);
    // Single match: the room turns occupied; its claim is confirmed and closed.
    allocate(store.as_ref(), 1, "c1").await.unwrap();
    store
        .ping("s", "r000", &ping(RoomStatus::Occupied), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.claims("s", None).await.unwrap(), vec![]);
    assert_eq!(allocate(store.as_ref(), 1, "c2").await, None, "occupied");
    store
        .ping("s", "r000", &ping(RoomStatus::Ready), now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        allocate(store.as_ref(), 1, "c3").await.is_some(),
        "ready again"
    );
    // Multi-match: raising running matches by one confirms the oldest claim only.
    store
        .insert(&room("s", "multi", RoomStatus::Occupied))
        .await
        .unwrap();
    let mut older = new_claim("m1", 60);
    older.created_at = at(NOW - 5);
    store.reserve("s", "multi", 3, &older).await.unwrap();
    store
        .reserve("s", "multi", 3, &new_claim("m2", 60))
        .await
        .unwrap();
    let one = Ping {
        running_matches: Some(1),
        ..ping(RoomStatus::Occupied)
    };
    store.ping("s", "multi", &one, now).await.unwrap().unwrap();
    let open: Vec<String> = store
        .claims("s", Some("multi"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(open, ["m2"]);
    // One running, one claim: one more fits, then none.
    assert!(
        store
            .reserve("s", "multi", 3, &new_claim("m3", 60))
            .await
            .is_ok()
    );
    assert!(
        store
            .reserve("s", "multi", 3, &new_claim("m4", 60))
            .await
            .is_err()
    );
}

/// The open claims a ping answers, by id.
async fn pinged_claims(
    store: &dyn RoomStore,
    room: &str,
    p: &Ping,
    at: DateTime<Utc>,
) -> Vec<String> {
    let pinged = store.ping("s", room, p, at).await.unwrap().unwrap();
    pinged.claims.into_iter().map(|c| c.id).collect()
}

pub(super) async fn pings_answer_the_rooms_open_claims(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 1).await;
    let now = at(NOW);
    let heartbeat = ping(RoomStatus::Ready);
    assert_eq!(
        store.ping("s", "r000", &heartbeat, now).await,
        Ok(Ok(Pinged::unclaimed(RoomStatus::Ready))),
        "no claim, nothing listed"
    );
    // A claim is listed whole (metadata, times) by every ping that does not confirm it.
    let claim = allocate(store.as_ref(), 1, "c1").await.unwrap();
    assert_eq!(
        store.ping("s", "r000", &heartbeat, now).await,
        Ok(Ok(Pinged {
            previous: RoomStatus::Ready,
            claims: vec![claim.clone()],
        }))
    );
    let with_metadata = Ping {
        metadata: Some([("k".to_string(), json!(1))].into()),
        ..ping(RoomStatus::Ready)
    };
    assert_eq!(
        pinged_claims(store.as_ref(), "r000", &with_metadata, now).await,
        ["c1"]
    );
    // Refused pings change nothing and list nothing.
    assert_eq!(
        store.ping("s", "r000", &ping(RoomStatus::Error), now).await,
        Ok(Err(PingError::OrchestratorOnly))
    );
    // Pinging occupied confirms it: closed, no longer listed.
    assert_eq!(
        store
            .ping("s", "r000", &ping(RoomStatus::Occupied), now)
            .await,
        Ok(Ok(Pinged::unclaimed(RoomStatus::Ready)))
    );
    // Multi-match: the claims a ping confirms (oldest first) are not listed, the others are.
    store
        .insert(&room("s", "multi", RoomStatus::Occupied))
        .await
        .unwrap();
    let mut older = new_claim("m1", 60);
    older.created_at = at(NOW - 5);
    for claim in [older, new_claim("m2", 60), new_claim("m3", 1)] {
        store.reserve("s", "multi", 4, &claim).await.unwrap();
    }
    let one = Ping {
        running_matches: Some(1),
        ..ping(RoomStatus::Occupied)
    };
    assert_eq!(
        pinged_claims(store.as_ref(), "multi", &one, now).await,
        ["m2", "m3"]
    );
    // An expired claim the sweeper has not closed yet is not listed.
    let later = now + Duration::seconds(2);
    assert_eq!(
        pinged_claims(store.as_ref(), "multi", &one, later).await,
        ["m2"]
    );
    assert_eq!(store.claims("s", Some("multi")).await.unwrap().len(), 2);
}

pub(super) async fn removed_or_terminating_rooms_are_never_allocated(ctx: Ctx) {
    let store = ctx.store;
    ready_rooms(store.as_ref(), "s", 3).await;
    let claim = allocate(store.as_ref(), 1, "c1").await.unwrap();
    store.remove("s", &claim.room).await.unwrap();
    assert_eq!(
        store.claims("s", None).await.unwrap(),
        vec![],
        "claims go with the room"
    );
    assert_eq!(store.release("s", "c1").await.unwrap(), None);
    let left: Vec<&str> = ["r000", "r001", "r002"]
        .into_iter()
        .filter(|id| *id != claim.room)
        .collect();
    store
        .set_status("s", left[0], RoomStatus::Terminating, at(NOW))
        .await
        .unwrap();
    store
        .ping("s", left[1], &ping(RoomStatus::Terminating), at(NOW))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(allocate(store.as_ref(), 3, "c2").await, None);
    // Another scheduler's rooms are not this one's.
    store
        .insert(&room("other", "x", RoomStatus::Ready))
        .await
        .unwrap();
    assert_eq!(allocate(store.as_ref(), 1, "c3").await, None);
    // An error room that recovers by ping is allocatable again.
    store
        .insert(&room("s", "flaky", RoomStatus::Ready))
        .await
        .unwrap();
    store
        .set_status("s", "flaky", RoomStatus::Error, at(NOW))
        .await
        .unwrap();
    assert_eq!(allocate(store.as_ref(), 1, "c4").await, None);
    store
        .ping("s", "flaky", &ping(RoomStatus::Ready), at(NOW))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        allocate(store.as_ref(), 1, "c5")
            .await
            .map(|c| c.room)
            .as_deref(),
        Some("flaky")
    );
}

/// Two Baton processes sharing one Redis (two stores, two connections): 1,000 allocations split
/// between them against 200 rooms still give 200 successes, each room once.
pub(super) async fn two_stores_sharing_redis_hand_each_room_out_once(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let other: Arc<dyn RoomStore> = Arc::new(super::connect_redis(&redis.url, &redis.prefix).await);
    let first: Arc<dyn RoomStore> = Arc::new(redis.store.clone());
    ready_rooms(first.as_ref(), "s", 200).await;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let store = if i % 2 == 0 { &first } else { &other }.clone();
            tokio::spawn(async move {
                store
                    .allocate("s", 1, &ANY, &new_claim(&format!("c{i}"), 60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut rooms = Vec::new();
    for task in tasks {
        rooms.extend(task.await.unwrap().map(|claimed| claimed.claim.room));
    }
    assert_eq!(rooms.len(), 200);
    assert_eq!(rooms.iter().collect::<HashSet<_>>().len(), 200);
    assert_eq!(other.claims("s", None).await.unwrap().len(), 200);
}

/// Rooms stored before the allocation index existed (an upgrade: no `free:*` keys, or the
/// index of before regions: `free:ready`, `free:occupied`, `free:built`) are allocatable at the
/// scheduler's first allocation, and the old index is deleted.
pub(super) async fn rooms_stored_before_the_index_are_allocatable(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let store: Arc<dyn RoomStore> = Arc::new(redis.store.clone());
    ready_rooms(store.as_ref(), "s", 2).await;
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = |name: &str| format!("{}:{{s}}:{name}", redis.prefix);
    // As the store before regions left it: one index for every region, built.
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg(key("free:ready:eu-west"))
        .arg(key("free:regions"))
        .cmd("ZADD")
        .arg(key("free:ready"))
        .arg(0)
        .arg("r000")
        .arg(0)
        .arg("r001")
        .cmd("SET")
        .arg(key("free:built"))
        .arg("1")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(allocate(store.as_ref(), 1, "c1").await.is_some());
    assert!(allocate(store.as_ref(), 1, "c2").await.is_some());
    assert_eq!(allocate(store.as_ref(), 1, "c3").await, None);
    let old: i64 = redis::cmd("EXISTS")
        .arg(key("free:ready"))
        .arg(key("free:built"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(old, 0, "the index of before regions is gone");
}
