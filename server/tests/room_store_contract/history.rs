//! Room count history scenarios of the `RoomStore` contract: recording, the per-tier bound, reading
//! a window and forgetting.

use app::domain::history::{self, RoomCountSample, Tier};
use app::domain::room::RoomCounts;
use chrono::{DateTime, Duration, Utc};

use super::{Ctx, at, keys_under};

fn ready(n: u64) -> RoomCounts {
    RoomCounts {
        ready: n,
        ..RoomCounts::default()
    }
}

fn sample(at: DateTime<Utc>, counts: RoomCounts) -> RoomCountSample {
    RoomCountSample { at, counts }
}

const T0: i64 = 1_700_000_000;

fn t(seconds: i64) -> DateTime<Utc> {
    at(T0 + seconds)
}

pub(super) async fn count_history_keeps_what_each_tier_takes(ctx: Ctx) {
    let store = ctx.store;
    assert!(
        store
            .count_history("s", Tier::Fine, t(0))
            .await
            .unwrap()
            .is_empty()
    );
    // The first sample goes to both tiers; an unchanged one a second later to neither; a change
    // at once to the fine tier only; unchanged counts 5 s later to the fine tier again.
    store.record_counts("s", ready(1), t(0)).await.unwrap();
    store.record_counts("s", ready(1), t(1)).await.unwrap();
    store.record_counts("s", ready(2), t(2)).await.unwrap();
    store.record_counts("s", ready(2), t(7)).await.unwrap();
    store.record_counts("other", ready(9), t(3)).await.unwrap();
    assert_eq!(
        store.count_history("s", Tier::Fine, t(0)).await.unwrap(),
        vec![
            sample(t(0), ready(1)),
            sample(t(2), ready(2)),
            sample(t(7), ready(2))
        ]
    );
    assert_eq!(
        store.count_history("s", Tier::Coarse, t(0)).await.unwrap(),
        vec![sample(t(0), ready(1))]
    );
    // A minute on, the coarse tier takes one again.
    store.record_counts("s", ready(3), t(60)).await.unwrap();
    assert_eq!(
        store.count_history("s", Tier::Coarse, t(0)).await.unwrap(),
        vec![sample(t(0), ready(1)), sample(t(60), ready(3))]
    );
    assert_eq!(
        store
            .count_history("other", Tier::Fine, t(0))
            .await
            .unwrap(),
        vec![sample(t(3), ready(9))]
    );
}

pub(super) async fn count_history_is_bounded_per_tier(ctx: Ctx) {
    let store = ctx.store;
    // Every 5 seconds for two hours, the counts changing once a minute.
    for k in 0..1440 {
        store
            .record_counts("s", ready(k / 12), t(5 * k as i64))
            .await
            .unwrap();
    }
    let fine = store.count_history("s", Tier::Fine, t(0)).await.unwrap();
    // The last hour only: 3595..=7195 s.
    assert_eq!(fine.len(), 721);
    assert_eq!(fine.first().map(|s| s.at), Some(t(3595)));
    assert_eq!(fine.last(), Some(&sample(t(7195), ready(119))));
    let coarse = store.count_history("s", Tier::Coarse, t(0)).await.unwrap();
    assert_eq!(coarse.len(), 120);
    // Two days later, the day tier has dropped everything older than a day too.
    let later = t(2 * 86_400);
    store.record_counts("s", ready(5), later).await.unwrap();
    for tier in Tier::ALL {
        assert_eq!(
            store.count_history("s", tier, t(0)).await.unwrap(),
            vec![sample(later, ready(5))],
            "{tier:?}"
        );
    }
}

pub(super) async fn count_history_reads_a_window(ctx: Ctx) {
    let store = ctx.store;
    for k in 0..100 {
        store
            .record_counts("s", ready(k), t(10 * k as i64))
            .await
            .unwrap();
    }
    // From `since` on, inclusive, oldest first.
    let since = store.count_history("s", Tier::Fine, t(900)).await.unwrap();
    assert_eq!(
        since.iter().map(|s| s.counts.ready).collect::<Vec<_>>(),
        (90..100).collect::<Vec<_>>()
    );
    let just_after = t(900) + Duration::nanoseconds(1);
    assert_eq!(
        store
            .count_history("s", Tier::Fine, just_after)
            .await
            .unwrap()
            .len(),
        9
    );
    // What the history endpoint shows: the tier that covers the span, reduced to the buckets.
    let now = t(990);
    let span = Duration::seconds(500);
    let samples = store
        .count_history("s", Tier::for_span(span), now - span)
        .await
        .unwrap();
    assert_eq!(samples.len(), 51);
    let shown = history::window(&samples, now, span, 5);
    assert!(shown.len() <= 6, "{}", shown.len());
    assert_eq!(shown.last().map(|s| s.counts.ready), Some(99));
}

pub(super) async fn forget_counts_forgets_only_that_scheduler(ctx: Ctx) {
    let store = ctx.store;
    for name in ["s", "t"] {
        store.record_counts(name, ready(1), t(0)).await.unwrap();
        store.record_counts(name, ready(2), t(61)).await.unwrap();
    }
    store.forget_counts("s").await.unwrap();
    store.forget_counts("unknown").await.unwrap();
    for tier in Tier::ALL {
        assert!(
            store
                .count_history("s", tier, t(0))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count_history("t", tier, t(0)).await.unwrap().len(), 2);
    }
    // Recording again starts afresh.
    store.record_counts("s", ready(3), t(62)).await.unwrap();
    assert_eq!(
        store.count_history("s", Tier::Coarse, t(0)).await.unwrap(),
        vec![sample(t(62), ready(3))]
    );
    if let Some(redis) = ctx.redis {
        store.forget_counts("s").await.unwrap();
        store.forget_counts("t").await.unwrap();
        let left = keys_under(&redis.url, &redis.prefix).await;
        assert!(left.is_empty(), "{left:?}");
    }
}

pub(super) async fn region_health_is_stored_per_scheduler_and_forgotten(ctx: Ctx) {
    use app::domain::region::RegionHealth;
    let store = ctx.store;
    assert!(store.region_health("s").await.unwrap().is_empty());
    let eu = RegionHealth::after(None, "eu", Ok(()), 2, t(0));
    let us = RegionHealth::after(None, "us", Err("connection refused".into()), 0, t(0));
    store
        .set_region_health("s", &[eu.clone(), us.clone()])
        .await
        .unwrap();
    store
        .set_region_health("t", std::slice::from_ref(&eu))
        .await
        .unwrap();
    assert_eq!(
        store.region_health("s").await.unwrap(),
        vec![eu.clone(), us]
    );
    // Replaced, not merged.
    store
        .set_region_health("s", std::slice::from_ref(&eu))
        .await
        .unwrap();
    assert_eq!(store.region_health("s").await.unwrap(), vec![eu.clone()]);
    store.set_region_health("s", &[]).await.unwrap();
    assert!(store.region_health("s").await.unwrap().is_empty());
    assert_eq!(store.region_health("t").await.unwrap(), vec![eu]);
    if let Some(redis) = ctx.redis {
        store.set_region_health("t", &[]).await.unwrap();
        let left = keys_under(&redis.url, &redis.prefix).await;
        assert!(left.is_empty(), "{left:?}");
    }
}
