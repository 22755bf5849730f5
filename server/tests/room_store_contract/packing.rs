//! Packing scenarios of the `RoomStore` contract: rooms know their machine, and `packed` fills
//! the machine with the most busy rooms first (`allocation::packing`), with the busy counts kept
//! right through claims, releases, expiry, pings, machine moves and removals.

use std::collections::BTreeMap;

use app::domain::allocation::{Selection, Strategy, packing};
use app::domain::room::{Ping, RoomStatus};
use app::ports::{RoomStore, StoreError};
use chrono::Duration;
use server::adapters::storage::memory::MemoryRoomStore;

use super::allocation::new_claim;
use super::{Ctx, at, not_found, ping, room};

const NOW: i64 = 1_800_000_000;

fn packed() -> Selection {
    Selection::any(Strategy::Packed)
}

/// Inserts `id` on `machine` in `status` (half of them given at insert, half set afterwards,
/// so that both paths are covered).
async fn on_machine(store: &dyn RoomStore, id: &str, machine: &str, status: RoomStatus) {
    let mut placed = room("s", id, status);
    if id.ends_with(['1', '3']) {
        placed.machine = machine.to_string();
        store.insert(&placed).await.unwrap();
    } else {
        store.insert(&placed).await.unwrap();
        store.set_machine("s", id, machine).await.unwrap();
    }
}

async fn allocate(store: &dyn RoomStore, claim: &str) -> Option<String> {
    store
        .allocate("s", 1, &packed(), &new_claim(claim, 60))
        .await
        .unwrap()
        .map(|claimed| claimed.claim.room)
}

pub(super) async fn set_machine_sets_and_replaces(ctx: Ctx) {
    let store = ctx.store;
    store
        .insert(&room("s", "r", RoomStatus::Ready))
        .await
        .unwrap();
    assert_eq!(store.get("s", "r").await.unwrap().machine, "");
    store.set_machine("s", "r", "node-1").await.unwrap();
    assert_eq!(store.get("s", "r").await.unwrap().machine, "node-1");
    store.set_machine("s", "r", "node-2").await.unwrap();
    let got = store.get("s", "r").await.unwrap();
    assert_eq!(
        (got.machine.as_str(), got.status),
        ("node-2", RoomStatus::Ready)
    );
    assert_eq!(
        store.set_machine("s", "nope", "node-1").await,
        Err::<(), StoreError>(not_found("s", "nope"))
    );
    assert_eq!(store.list("s").await.unwrap()[0].machine, "node-2");
}

pub(super) async fn packed_fills_the_busiest_machine_first(ctx: Ctx) {
    let store = ctx.store.as_ref();
    // a: one busy room of two; b: two busy rooms of three; c: none; z: machine unknown.
    on_machine(store, "a1", "a", RoomStatus::Occupied).await;
    on_machine(store, "a2", "a", RoomStatus::Ready).await;
    on_machine(store, "b1", "b", RoomStatus::Occupied).await;
    on_machine(store, "b2", "b", RoomStatus::Occupied).await;
    on_machine(store, "b3", "b", RoomStatus::Ready).await;
    on_machine(store, "c1", "c", RoomStatus::Ready).await;
    store
        .insert(&room("s", "z", RoomStatus::Ready))
        .await
        .unwrap();
    // b's free room first (though c1 and z have greater ids), then a's (b is full), then the
    // idle machines by the room order (the greatest id first).
    let mut order = Vec::new();
    for i in 0..5 {
        order.push(allocate(store, &format!("c{i}")).await);
    }
    assert_eq!(
        order,
        [Some("b3"), Some("a2"), Some("z"), Some("c1"), None].map(|r| r.map(String::from))
    );
    // Distributed ignores machines: after releasing them all, the smallest id first.
    for i in 0..4 {
        store.release("s", &format!("c{i}")).await.unwrap();
    }
    let claimed = store
        .allocate(
            "s",
            1,
            &Selection::any(Strategy::Distributed),
            &new_claim("d", 60),
        )
        .await
        .unwrap()
        .map(|c| c.claim.room);
    assert_eq!(claimed.as_deref(), Some("a2"));
}

/// The machine (`a` or `b`) packed allocation picks now, the claim released at once again.
async fn probe(store: &dyn RoomStore) -> char {
    let room = allocate(store, "probe").await.expect("a free room");
    assert!(store.release("s", "probe").await.unwrap().is_some());
    room.chars().next().unwrap()
}

fn with_matches(status: RoomStatus, matches: u32) -> Ping {
    Ping {
        running_matches: Some(matches),
        ..ping(status)
    }
}

pub(super) async fn machine_busy_counts_follow_claims_pings_expiry_moves_and_removal(ctx: Ctx) {
    let store = ctx.store.as_ref();
    let now = at(NOW);
    for i in 1..=4 {
        on_machine(store, &format!("a{i}"), "a", RoomStatus::Ready).await;
        on_machine(store, &format!("b{i}"), "b", RoomStatus::Ready).await;
    }
    // Equally busy machines go by the room order: b's ids are greater, so `a` proves that a
    // is the busier machine.
    assert_eq!(probe(store).await, 'b', "both idle");
    // A claim makes a1 busy; it expires and a is idle again.
    let mut short = new_claim("x", 1);
    short.expires_at = now + Duration::seconds(1);
    store.reserve("s", "a1", 1, &short).await.unwrap();
    assert_eq!(probe(store).await, 'a', "a1 is claimed");
    let expired = store
        .sweep_claims("s", now + Duration::seconds(2))
        .await
        .unwrap()
        .expired;
    assert_eq!(expired.len(), 1);
    assert_eq!(probe(store).await, 'b', "the claim expired");
    // A claim confirmed by an occupied ping: counted once, as a busy room.
    store
        .reserve("s", "a1", 1, &new_claim("y", 60))
        .await
        .unwrap();
    store
        .ping("s", "a1", &ping(RoomStatus::Occupied), now)
        .await
        .unwrap()
        .unwrap();
    assert!(store.claims("s", Some("a1")).await.unwrap().is_empty());
    assert_eq!(probe(store).await, 'a', "a1 is occupied");
    store
        .ping("s", "b1", &ping(RoomStatus::Occupied), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(probe(store).await, 'b', "one busy room each");
    store
        .ping("s", "a2", &ping(RoomStatus::Occupied), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(probe(store).await, 'a', "two busy rooms on a, one on b");
    // Removing a busy room forgets it.
    store.remove("s", "a2").await.unwrap();
    assert_eq!(probe(store).await, 'b', "one busy room each again");
    store.remove("s", "b1").await.unwrap();
    assert_eq!(probe(store).await, 'a', "b has none");
    // A room that finished its match is idle.
    store
        .ping("s", "a1", &with_matches(RoomStatus::Ready, 0), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(probe(store).await, 'b', "both idle again");
    // A busy room that moves takes its count along.
    store
        .ping("s", "a3", &with_matches(RoomStatus::Ready, 1), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(probe(store).await, 'a', "a3 runs a match");
    store.set_machine("s", "a3", "b").await.unwrap();
    store
        .ping("s", "a4", &ping(RoomStatus::Occupied), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        probe(store).await,
        'b',
        "one busy room each: a4 on a, a3 now on b"
    );
    assert_eq!(store.get("s", "a3").await.unwrap().machine, "b");
    // A claim counts at once, and its release frees the count at once.
    on_machine(store, "a5", "a", RoomStatus::Ready).await;
    let claimed = allocate(store, "z").await.unwrap();
    assert!(claimed.starts_with('b'), "{claimed}");
    store
        .ping("s", "a1", &ping(RoomStatus::Occupied), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(probe(store).await, 'b', "two busy rooms each");
    store.release("s", "z").await.unwrap();
    assert_eq!(probe(store).await, 'a', "the released room is idle");
}

/// A small deterministic random source (xorshift), so that a failure replays.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Busy rooms per machine of region `eu-west` as the domain counts them, from `store`.
async fn busy_by_domain(store: &dyn RoomStore) -> BTreeMap<String, u32> {
    let rooms = store.list("s").await.unwrap();
    let claims = store.claims("s", None).await.unwrap();
    let with_claims = rooms.iter().map(|room| {
        let open = claims.iter().filter(|c| c.room == room.id).count() as u32;
        (room, open)
    });
    packing::busy_machines(with_claims)
        .into_iter()
        .filter(|((region, _), _)| *region == "eu-west")
        .map(|((_, machine), n)| (machine.to_string(), n))
        .collect()
}

/// Redis only: the same random operations on the Redis store and on the in-process store (the
/// reference) allocate the same rooms, leave the same rooms and claims, and Redis's busy rooms
/// per machine stay what the domain counts after every operation.
pub(super) async fn redis_packs_like_the_reference_through_random_operations(ctx: Ctx) {
    let redis = ctx.redis.expect("a Redis scenario");
    let mut connection = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let busy_key = format!("{}:{{s}}:machines:busy:eu-west", redis.prefix);
    for seed in 1..=6u64 {
        // Each seed on its own scheduler name would need other keys: start from empty instead.
        for room in redis.store.list("s").await.unwrap() {
            redis.store.remove("s", &room.id).await.unwrap();
        }
        let reference = MemoryRoomStore::default();
        let stores: [&dyn RoomStore; 2] = [&redis.store, &reference];
        let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let max = 1 + dice.roll(3) as u32;
        let machines = ["m0", "m1", "m2", "m3", ""];
        let statuses = [RoomStatus::Ready, RoomStatus::Occupied, RoomStatus::Pending];
        let mut next_room = 0;
        let mut claims_made = 0;
        for step in 0..160i64 {
            let now = at(NOW) + Duration::seconds(step);
            let room_id = format!("r{:02}", dice.roll(next_room.max(1)));
            let op = if next_room < 12 { 0 } else { dice.roll(9) };
            let what = format!("seed {seed}, step {step}, op {op}, room {room_id}, max {max}");
            match op {
                0 => {
                    let mut room = room("s", &format!("r{next_room:02}"), RoomStatus::Ready);
                    room.status = statuses[dice.roll(3) as usize];
                    room.machine = machines[dice.roll(5) as usize].to_string();
                    room.running_matches = dice.roll(2) as u32;
                    next_room += 1;
                    for store in stores {
                        store.insert(&room).await.unwrap();
                    }
                }
                1 | 2 => {
                    let strategy = if op == 1 {
                        Strategy::Packed
                    } else {
                        Strategy::Distributed
                    };
                    let mut claim = new_claim(&format!("c{claims_made}"), 60);
                    claims_made += 1;
                    claim.created_at = now;
                    claim.expires_at = now + Duration::seconds(1 + dice.roll(20) as i64);
                    let mut got = Vec::new();
                    for store in stores {
                        let claimed = store
                            .allocate("s", max, &Selection::any(strategy), &claim)
                            .await
                            .unwrap();
                        got.push(claimed.map(|c| c.claim.room));
                    }
                    assert_eq!(got[0], got[1], "{what}");
                }
                3 => {
                    let claim = format!("c{}", dice.roll(claims_made.max(1)));
                    let mut got = Vec::new();
                    for store in stores {
                        got.push(store.release("s", &claim).await.unwrap().map(|c| c.room));
                    }
                    assert_eq!(got[0], got[1], "{what}");
                }
                4 => {
                    let status = [RoomStatus::Ready, RoomStatus::Occupied][dice.roll(2) as usize];
                    let matches = [None, Some(0), Some(1), Some(2)][dice.roll(4) as usize];
                    let beat = Ping {
                        running_matches: matches,
                        ..ping(status)
                    };
                    let mut got = Vec::new();
                    for store in stores {
                        got.push(match store.ping("s", &room_id, &beat, now).await {
                            Ok(Ok(pinged)) => format!("{:?}", pinged.previous),
                            Ok(Err(refused)) => format!("{refused:?}"),
                            Err(StoreError::NotFound(_)) => "not found".to_string(),
                            Err(e) => panic!("{what}: {e}"),
                        });
                    }
                    assert_eq!(got[0], got[1], "{what}");
                }
                5 => {
                    let machine = machines[dice.roll(4) as usize];
                    for store in stores {
                        store.set_machine("s", &room_id, machine).await.ok();
                    }
                }
                6 => {
                    for store in stores {
                        store.remove("s", &room_id).await.unwrap();
                    }
                }
                7 => {
                    let mut got = Vec::new();
                    for store in stores {
                        let swept = store.sweep_claims("s", now).await.unwrap();
                        let ids = |claims: Vec<app::domain::allocation::Claim>| {
                            claims.into_iter().map(|c| c.id).collect::<Vec<_>>()
                        };
                        got.push((ids(swept.expired), ids(swept.open)));
                    }
                    assert_eq!(got[0], got[1], "{what}");
                }
                _ => {
                    let status =
                        [RoomStatus::Terminating, RoomStatus::Ready][dice.roll(2) as usize];
                    for store in stores {
                        store.set_status("s", &room_id, status, now).await.ok();
                    }
                }
            }
            let busy: BTreeMap<String, u32> = redis::cmd("HGETALL")
                .arg(&busy_key)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert_eq!(busy, busy_by_domain(&redis.store).await, "{what}");
            assert_eq!(
                busy_by_domain(&redis.store).await,
                busy_by_domain(&reference).await,
                "{what}"
            );
            assert_eq!(
                redis.store.list("s").await.unwrap(),
                reference.list("s").await.unwrap(),
                "{what}"
            );
        }
    }
}
