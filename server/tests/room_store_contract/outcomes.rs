//! Allocation outcome scenarios of the `RoomStore` contract (`allocation::rate`): what
//! `allocate` and `reserve` count, per scheduler and bucket, what a window reads, and forgetting.

use std::collections::{BTreeMap, BTreeSet};

use app::domain::allocation::rate::OutcomeBucket;
use app::domain::allocation::{NewClaim, Selection, Strategy};
use app::domain::history::Tier;
use app::ports::{RoomStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::allocation::ready_rooms;
use super::{Ctx, at, keys_under};

const NOW: i64 = 1_800_000_000;
/// Any room, packed.
const ANY: Selection = Selection {
    strategy: Strategy::Packed,
    versions: None,
    metadata: BTreeMap::new(),
    regions: Vec::new(),
};

/// `seconds` after `NOW` (a whole minute, plus a fraction of a second).
fn t(seconds: i64) -> DateTime<Utc> {
    at(NOW + seconds)
}

fn claim_at(id: &str, created: DateTime<Utc>) -> NewClaim {
    NewClaim {
        id: id.to_string(),
        metadata: json!({"match": id}),
        created_at: created,
        expires_at: created + Duration::seconds(600),
    }
}

fn bucket(tier: Tier, at: DateTime<Utc>, allocated: u64, refused: u64) -> OutcomeBucket {
    OutcomeBucket {
        start: tier.bucket_start(at),
        allocated,
        refused,
    }
}

async fn allocated(store: &dyn RoomStore, scheduler: &str, id: &str, at: DateTime<Utc>) -> bool {
    store
        .allocate(scheduler, 1, &ANY, &claim_at(id, at))
        .await
        .unwrap()
        .is_some()
}

async fn outcomes(
    store: &dyn RoomStore,
    scheduler: &str,
    tier: Tier,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<OutcomeBucket> {
    store
        .allocation_outcomes(scheduler, tier, since, until)
        .await
        .unwrap()
}

pub(super) async fn allocation_outcomes_are_counted_per_bucket_and_scheduler(ctx: Ctx) {
    let store = ctx.store.as_ref();
    assert!(
        outcomes(store, "s", Tier::Fine, t(-3600), t(3600))
            .await
            .is_empty()
    );
    // Three rooms taken and one refusal in the same ten seconds; "t", without rooms, refused.
    ready_rooms(store, "s", 3).await;
    for (i, second) in [1, 2, 3].into_iter().enumerate() {
        assert!(allocated(store, "s", &format!("c{i}"), t(second)).await);
    }
    assert!(!allocated(store, "s", "c3", t(4)).await);
    assert!(!allocated(store, "t", "x", t(5)).await);
    for tier in Tier::ALL {
        assert_eq!(
            outcomes(store, "s", tier, t(0), t(59)).await,
            vec![bucket(tier, t(0), 3, 1)],
            "{tier:?}"
        );
        assert_eq!(
            outcomes(store, "t", tier, t(0), t(59)).await,
            vec![bucket(tier, t(0), 0, 1)],
            "{tier:?}"
        );
        assert!(outcomes(store, "u", tier, t(0), t(59)).await.is_empty());
    }
    // Two minutes on, a released room is taken again: a bucket of its own in each tier.
    store.release("s", "c0").await.unwrap();
    assert!(allocated(store, "s", "c4", t(125)).await);
    assert_eq!(
        outcomes(store, "s", Tier::Fine, t(0), t(130)).await,
        vec![
            bucket(Tier::Fine, t(0), 3, 1),
            bucket(Tier::Fine, t(125), 1, 0)
        ]
    );
    assert_eq!(
        outcomes(store, "s", Tier::Coarse, t(0), t(130)).await,
        vec![
            bucket(Tier::Coarse, t(0), 3, 1),
            bucket(Tier::Coarse, t(125), 1, 0)
        ]
    );
    // A window reads the buckets from the one holding `since` to the one holding `until`.
    assert_eq!(
        outcomes(store, "s", Tier::Fine, t(11), t(130)).await,
        vec![bucket(Tier::Fine, t(125), 1, 0)]
    );
    assert_eq!(
        outcomes(store, "s", Tier::Fine, t(9), t(119)).await,
        vec![bucket(Tier::Fine, t(0), 3, 1)]
    );
    assert_eq!(
        outcomes(store, "s", Tier::Coarse, t(60), t(125)).await,
        vec![bucket(Tier::Coarse, t(125), 1, 0)]
    );
    assert!(
        outcomes(store, "s", Tier::Fine, t(130), t(0))
            .await
            .is_empty()
    );
}

pub(super) async fn reservations_count_when_they_claim_and_empty_selections_are_refused(ctx: Ctx) {
    let store = ctx.store.as_ref();
    ready_rooms(store, "s", 2).await;
    store
        .reserve("s", "r000", 1, &claim_at("c1", t(1)))
        .await
        .unwrap();
    // A full room or an unknown one: refused, not counted.
    assert!(matches!(
        store.reserve("s", "r000", 1, &claim_at("c2", t(2))).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.reserve("s", "nope", 1, &claim_at("c3", t(3))).await,
        Err(StoreError::NotFound(_))
    ));
    // A selector no version satisfies: no room, though one is free, and a refusal.
    let nothing = Selection {
        versions: Some(BTreeSet::new()),
        ..ANY
    };
    assert!(nothing.matches_nothing());
    assert!(
        store
            .allocate("s", 1, &nothing, &claim_at("c4", t(4)))
            .await
            .unwrap()
            .is_none()
    );
    assert!(allocated(store, "s", "c5", t(5)).await);
    for tier in Tier::ALL {
        assert_eq!(
            outcomes(store, "s", tier, t(0), t(9)).await,
            vec![bucket(tier, t(0), 2, 1)],
            "{tier:?}"
        );
    }
}

pub(super) async fn forget_counts_forgets_allocation_outcomes(ctx: Ctx) {
    let store = ctx.store.as_ref();
    // The Redis store forgets the buckets of the last day by its clock: count them now.
    let now = Utc::now();
    let earlier = now - Duration::minutes(2);
    for name in ["s", "t"] {
        assert!(!allocated(store, name, "c", earlier).await);
        assert!(!allocated(store, name, "c", now).await);
    }
    store.forget_counts("s").await.unwrap();
    let day = now - Duration::days(1);
    for tier in Tier::ALL {
        assert!(outcomes(store, "s", tier, day, now).await.is_empty());
        assert_eq!(
            outcomes(store, "t", tier, day, now).await,
            vec![bucket(tier, earlier, 0, 1), bucket(tier, now, 0, 1)],
            "{tier:?}"
        );
    }
    if let Some(redis) = ctx.redis {
        // Each bucket's key expires once its tier no longer keeps it.
        let counted = outcome_keys(&redis.url, &redis.prefix).await;
        assert_eq!(counted.len(), 4, "{counted:?}");
        for (key, ttl) in counted {
            let tier = if key.contains(":fine:") {
                Tier::Fine
            } else {
                Tier::Coarse
            };
            let most = tier.bucket_ttl().num_milliseconds();
            assert!(ttl > most - 60_000 && ttl <= most, "{key}: {ttl} ms");
        }
        store.forget_counts("t").await.unwrap();
        let left = outcome_keys(&redis.url, &redis.prefix).await;
        assert!(left.is_empty(), "{left:?}");
    }
}

/// The outcome keys under `prefix:` with their time to live (ms).
async fn outcome_keys(url: &str, prefix: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a Redis connection");
    let mut found = Vec::new();
    for key in keys_under(url, prefix).await {
        if key.contains(":allocations:") {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .expect("PTTL");
            found.push((key, ttl));
        }
    }
    found
}
