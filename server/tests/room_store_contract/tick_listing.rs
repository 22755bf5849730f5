//! `list_for_tick`, the health controller's listing: every change shows at once, and the rooms
//! silent since `silent_before` show their exact last ping (so that they time out), whatever
//! process made the change.

use std::collections::BTreeMap;

use app::domain::room::{GameRoom, Ping, RoomStatus};
use app::ports::RoomStore;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{Ctx, address, at, connect_redis, ping, room};

/// What `list_for_tick` may answer, checked against `list`: the same rooms in the same order
/// and state; a room whose last ping is before `silent_before` with that exact last ping,
/// another with none or one from `silent_before` to its last ping. Answers the listing.
pub async fn tick_listing_agrees_with_list(
    store: &dyn RoomStore,
    scheduler: &str,
    silent_before: DateTime<Utc>,
) -> Vec<GameRoom> {
    let listed = store.list_for_tick(scheduler, silent_before).await.unwrap();
    let exact = store.list(scheduler).await.unwrap();
    let ids = |rooms: &[GameRoom]| rooms.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&listed),
        ids(&exact),
        "the same rooms, in the same order"
    );
    for (seen, room) in listed.iter().zip(&exact) {
        let pinged = |mut r: GameRoom| {
            r.last_ping_at = None;
            r
        };
        assert_eq!(
            pinged(seen.clone()),
            pinged(room.clone()),
            "room {} as it is but for its last ping",
            room.id
        );
        match room.last_ping_at {
            Some(last) if last < silent_before => assert_eq!(
                seen.last_ping_at,
                Some(last),
                "room {} is silent since {last}: its exact last ping",
                room.id
            ),
            Some(last) => assert!(
                seen.last_ping_at
                    .is_none_or(|t| t >= silent_before && t <= last),
                "room {}: {:?} is not from {silent_before} to {last}",
                room.id,
                seen.last_ping_at
            ),
            None => assert_eq!(seen.last_ping_at, None, "room {} never pinged", room.id),
        }
    }
    listed.to_vec()
}

fn find<'a>(rooms: &'a [GameRoom], id: &str) -> &'a GameRoom {
    rooms
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("room {id} listed"))
}

fn with_metadata(status: RoomStatus, metadata: serde_json::Value, matches: Option<u32>) -> Ping {
    Ping {
        status,
        timestamp: None,
        metadata: serde_json::from_value::<Option<BTreeMap<String, serde_json::Value>>>(metadata)
            .unwrap(),
        running_matches: matches,
    }
}

/// Listing every tick while rooms change, ping and fall silent: every change shows in the next
/// listing, and a room that stopped pinging shows its exact last ping once it is silent.
pub async fn tick_listing_shows_every_change_and_the_silent_rooms(ctx: Ctx) {
    let store = ctx.store.as_ref();
    let t0 = at(1_800_000_000);
    let secs = Duration::seconds;
    assert!(
        store.list_for_tick("s", t0).await.unwrap().is_empty(),
        "no rooms yet"
    );
    let mut a = room("s", "a", RoomStatus::Ready);
    a.last_ping_at = Some(t0);
    store.insert(&a).await.unwrap();
    store
        .insert(&room("s", "b", RoomStatus::Pending))
        .await
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", t0 - secs(30)).await;
    assert_eq!(listed.len(), 2, "inserted rooms show");
    // Heartbeats: a pings every 10 s; each listing sees it alive.
    for i in 1..=6 {
        let now = t0 + secs(10 * i);
        store
            .ping("s", "a", &ping(RoomStatus::Ready), now)
            .await
            .unwrap()
            .unwrap();
        let listed = tick_listing_agrees_with_list(store, "s", now - secs(30)).await;
        let last = find(&listed, "a").last_ping_at.expect("a pinged");
        assert!(
            now - last <= secs(30),
            "a pinged at {now}, listed at {last}"
        );
    }
    // a falls silent after its ping at t0 + 60 s: once 30 s have passed it shows that ping.
    let last = t0 + secs(60);
    let listed = tick_listing_agrees_with_list(store, "s", last - secs(1)).await;
    assert!(find(&listed, "a").last_ping_at.is_some());
    let listed = tick_listing_agrees_with_list(store, "s", last + secs(1)).await;
    assert_eq!(find(&listed, "a").last_ping_at, Some(last), "silent: exact");
    let listed = tick_listing_agrees_with_list(store, "s", last + secs(2)).await;
    assert_eq!(find(&listed, "a").last_ping_at, Some(last), "still silent");
    // It pings again: alive.
    let now = last + secs(40);
    store
        .ping("s", "a", &ping(RoomStatus::Ready), now)
        .await
        .unwrap()
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", now - secs(30)).await;
    assert!(
        find(&listed, "a")
            .last_ping_at
            .is_some_and(|t| t >= now - secs(30))
    );

    // Every kind of change shows in the next listing.
    let silent_before = now - secs(30);
    store
        .ping("s", "b", &ping(RoomStatus::Ready), now)
        .await
        .unwrap()
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(
        find(&listed, "b").status,
        RoomStatus::Ready,
        "a status ping"
    );
    store
        .ping(
            "s",
            "b",
            &with_metadata(RoomStatus::Ready, json!({"map": "dust"}), None),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(
        find(&listed, "b").metadata.get("map"),
        Some(&json!("dust")),
        "metadata"
    );
    store
        .ping(
            "s",
            "b",
            &with_metadata(RoomStatus::Ready, json!(null), Some(1)),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(find(&listed, "b").running_matches, 1, "running matches");
    // The same metadata and matches again: nothing else changes.
    store
        .ping(
            "s",
            "b",
            &with_metadata(RoomStatus::Ready, json!({"map": "dust"}), Some(1)),
            now + secs(1),
        )
        .await
        .unwrap()
        .unwrap();
    tick_listing_agrees_with_list(store, "s", silent_before).await;
    store
        .set_status("s", "b", RoomStatus::Terminating, now)
        .await
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(
        find(&listed, "b").status,
        RoomStatus::Terminating,
        "set_status"
    );
    store
        .set_address("s", "a", &address("h", 7000))
        .await
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(
        find(&listed, "a").address,
        Some(address("h", 7000)),
        "set_address"
    );
    store.set_machine("s", "a", "m1").await.unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(find(&listed, "a").machine, "m1", "set_machine");
    store
        .set_status_reason("s", "a", Some("waiting"), now)
        .await
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(
        find(&listed, "a").status_reason.as_deref(),
        Some("waiting"),
        "reason"
    );
    store.remove("s", "b").await.unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(listed.len(), 1, "a removed room goes");
    // Every room removed, then made again under the same ids: the new rooms show.
    store.remove("s", "a").await.unwrap();
    assert!(
        store
            .list_for_tick("s", silent_before)
            .await
            .unwrap()
            .is_empty()
    );
    let mut again = room("s", "a", RoomStatus::Occupied);
    again.last_ping_at = Some(t0);
    store.insert(&again).await.unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", silent_before).await;
    assert_eq!(
        find(&listed, "a").status,
        RoomStatus::Occupied,
        "made again"
    );
    assert_eq!(
        find(&listed, "a").last_ping_at,
        Some(t0),
        "silent since its insert"
    );
    // Other schedulers' changes are theirs.
    store
        .insert(&room("other", "x", RoomStatus::Ready))
        .await
        .unwrap();
    assert_eq!(
        tick_listing_agrees_with_list(store, "s", silent_before)
            .await
            .len(),
        1
    );
}

/// Two store handles on one Redis, as two Baton processes: what one changes, the other's
/// listing shows at once, though it answered the rooms from its last read before.
pub async fn tick_listing_sees_what_another_process_changed(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let (one, other) = (
        &redis.store,
        &connect_redis(&redis.url, &redis.prefix).await,
    );
    let t0 = at(1_800_000_000);
    let secs = Duration::seconds;
    for id in ["a", "b"] {
        let mut r = room("s", id, RoomStatus::Ready);
        r.last_ping_at = Some(t0);
        one.insert(&r).await.unwrap();
    }
    let silent_before = t0 - secs(30);
    tick_listing_agrees_with_list(one, "s", silent_before).await;
    tick_listing_agrees_with_list(one, "s", silent_before).await;
    other
        .set_status("s", "a", RoomStatus::Error, t0)
        .await
        .unwrap();
    let listed = tick_listing_agrees_with_list(one, "s", silent_before).await;
    assert_eq!(find(&listed, "a").status, RoomStatus::Error);
    other
        .insert(&room("s", "c", RoomStatus::Pending))
        .await
        .unwrap();
    assert_eq!(
        tick_listing_agrees_with_list(one, "s", silent_before)
            .await
            .len(),
        3
    );
    other
        .ping("s", "c", &ping(RoomStatus::Ready), t0)
        .await
        .unwrap()
        .unwrap();
    let listed = tick_listing_agrees_with_list(one, "s", silent_before).await;
    assert_eq!(find(&listed, "c").status, RoomStatus::Ready);
    other.remove("s", "b").await.unwrap();
    assert_eq!(
        tick_listing_agrees_with_list(one, "s", silent_before)
            .await
            .len(),
        2
    );
    // Heartbeats through the other handle keep c alive; once they stop, c shows its last one.
    for i in 1..=5 {
        let now = t0 + secs(10 * i);
        other
            .ping("s", "c", &ping(RoomStatus::Ready), now)
            .await
            .unwrap()
            .unwrap();
        let listed = tick_listing_agrees_with_list(one, "s", now - secs(30)).await;
        assert!(
            find(&listed, "c")
                .last_ping_at
                .is_some_and(|t| t >= now - secs(30))
        );
    }
    let listed = tick_listing_agrees_with_list(one, "s", t0 + secs(51)).await;
    assert_eq!(find(&listed, "c").last_ping_at, Some(t0 + secs(50)));
}

/// Rooms stored before the store kept last pings (no change counter, no last pings): a room
/// silent since then still shows its exact last ping, and the next changes show.
pub async fn tick_listing_reads_rooms_stored_before_it(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let store = &redis.store;
    let t0 = at(1_800_000_000);
    let secs = Duration::seconds;
    for id in ["a", "b"] {
        let mut r = room("s", id, RoomStatus::Ready);
        r.last_ping_at = Some(t0);
        store.insert(&r).await.unwrap();
    }
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{}:{{s}}:changes", redis.prefix))
        .arg(format!("{}:{{s}}:pings", redis.prefix))
        .query_async(&mut connection)
        .await
        .unwrap();
    tick_listing_agrees_with_list(store, "s", t0 - secs(30)).await;
    store
        .ping("s", "b", &ping(RoomStatus::Ready), t0 + secs(20))
        .await
        .unwrap()
        .unwrap();
    tick_listing_agrees_with_list(store, "s", t0 - secs(30)).await;
    let listed = tick_listing_agrees_with_list(store, "s", t0 + secs(1)).await;
    assert_eq!(
        find(&listed, "a").last_ping_at,
        Some(t0),
        "a is silent since t0"
    );
    store
        .set_status("s", "b", RoomStatus::Occupied, t0)
        .await
        .unwrap();
    let listed = tick_listing_agrees_with_list(store, "s", t0 + secs(1)).await;
    assert_eq!(find(&listed, "b").status, RoomStatus::Occupied);
}
