//! The `MachineDecisionStore` contract: one suite run against `MemoryMachineDecisionStore` and
//! `RedisMachineDecisionStore` (127.0.0.1:6379 unless `BATON_TEST_REDIS_URL`; a random key
//! prefix per test, and forgetting leaves no key behind).

use std::future::Future;
use std::sync::Arc;

use app::domain::capacity::{
    ActionOutcome, CapacitySample, MachineAction, MachineDecision, MachineDecisionRecord,
    MachineFigures, MachineKind, MachineScalingReason, SAMPLES_KEPT, SkippedRegion,
};
use app::ports::{DECISIONS_KEPT, MachineDecisionStore};
use chrono::{Duration, TimeZone, Utc};
use server::adapters::storage::memory_machine_decisions::MemoryMachineDecisionStore;
use server::adapters::storage::redis_machine_decisions::RedisMachineDecisionStore;

fn redis_url() -> String {
    std::env::var("BATON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::run(false, super::$scenario).await
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::run(true, super::$scenario).await
                }
            )*
        }
    };
}

contract!(
    a_record_round_trips_with_its_outcomes,
    decisions_are_newest_first_and_bounded,
    schedulers_are_isolated_and_forgotten,
    samples_are_oldest_first_and_kept_a_day,
    samples_are_bounded_in_number,
);

async fn run<F, Fut>(redis: bool, scenario: F)
where
    F: FnOnce(Arc<dyn MachineDecisionStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    if !redis {
        return scenario(Arc::new(MemoryMachineDecisionStore::default())).await;
    }
    let url = redis_url();
    let prefix = format!("baton-test-{}", uuid::Uuid::new_v4().simple());
    let store = RedisMachineDecisionStore::connect(&url, &prefix)
        .await
        .unwrap_or_else(|e| panic!("Redis is not reachable at {url}: {e}"));
    let store: Arc<dyn MachineDecisionStore> = Arc::new(store);
    scenario(store.clone()).await;
    for scheduler in ["s1", "s2"] {
        store.forget(scheduler).await.expect("forget");
    }
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .expect("KEYS");
    assert!(left.is_empty(), "keys left behind: {left:?}");
}

fn record(scheduler: &str, n: i64) -> MachineDecisionRecord {
    let at = Utc
        .timestamp_opt(1_700_000_000, 0)
        .single()
        .expect("a time")
        + Duration::seconds(n);
    MachineDecisionRecord {
        id: format!("{scheduler}-{n}"),
        at,
        scheduler: scheduler.into(),
        decision: MachineDecision {
            actions: vec![
                MachineAction::Add {
                    kind: MachineKind::Cloud,
                    count: 2,
                    region: Some("eu".into()),
                },
                MachineAction::Drain {
                    machine: "m1".into(),
                },
                MachineAction::Release {
                    machine: "m2".into(),
                },
            ],
            reason: MachineScalingReason::BelowMinFree,
            summary: format!("decision {n}"),
            figures: MachineFigures {
                free_payload_capacity: 1,
                min_free_payload_capacity: 4,
                ..MachineFigures::default()
            },
        },
        outcomes: vec![
            ActionOutcome::Done,
            ActionOutcome::Failed {
                error: "refused".into(),
            },
            ActionOutcome::DryRun,
        ],
        machines: vec!["m1".into(), "m2".into()],
        skipped_regions: vec![SkippedRegion {
            region: "us".into(),
            error: "down".into(),
        }],
    }
}

async fn a_record_round_trips_with_its_outcomes(store: Arc<dyn MachineDecisionStore>) {
    assert!(
        store
            .decisions("s1", 10)
            .await
            .expect("decisions")
            .is_empty()
    );
    let written = record("s1", 1);
    store.record(&written).await.expect("record");
    assert_eq!(
        store.decisions("s1", 10).await.expect("decisions"),
        vec![written]
    );
    assert!(
        store
            .decisions("s1", 0)
            .await
            .expect("decisions")
            .is_empty()
    );
}

async fn decisions_are_newest_first_and_bounded(store: Arc<dyn MachineDecisionStore>) {
    let total = DECISIONS_KEPT as i64 + 5;
    for n in 0..total {
        store.record(&record("s1", n)).await.expect("record");
    }
    let latest = store.decisions("s1", 3).await.expect("decisions");
    let ids: Vec<&str> = latest.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            format!("s1-{}", total - 1),
            format!("s1-{}", total - 2),
            format!("s1-{}", total - 3)
        ]
    );
    let all = store
        .decisions("s1", usize::MAX / 2)
        .await
        .expect("decisions");
    assert_eq!(all.len(), DECISIONS_KEPT);
    assert_eq!(all.last().map(|r| r.id.clone()), Some("s1-5".to_string()));
}

async fn schedulers_are_isolated_and_forgotten(store: Arc<dyn MachineDecisionStore>) {
    store.record(&record("s1", 1)).await.expect("record");
    store.record(&record("s2", 2)).await.expect("record");
    let s1 = store.decisions("s1", 10).await.expect("decisions");
    assert_eq!(s1.len(), 1);
    assert_eq!(s1[0].scheduler, "s1");
    store.forget("s1").await.expect("forget");
    assert!(
        store
            .decisions("s1", 10)
            .await
            .expect("decisions")
            .is_empty()
    );
    assert_eq!(store.decisions("s2", 10).await.expect("decisions").len(), 1);
}

fn sample(seconds: i64, free: u64) -> CapacitySample {
    CapacitySample {
        at: Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .expect("a time")
            + Duration::seconds(seconds),
        free_payload_capacity: free,
        min_free_payload_capacity: 4,
        max_free_payload_capacity: 8,
    }
}

async fn samples_are_oldest_first_and_kept_a_day(store: Arc<dyn MachineDecisionStore>) {
    let origin = sample(0, 0).at;
    assert!(
        store
            .samples("s1", origin)
            .await
            .expect("samples")
            .is_empty()
    );
    // Every 10 minutes for 30 hours: the last day's are kept.
    let written: Vec<CapacitySample> = (0..180).map(|i| sample(i * 600, i as u64)).collect();
    for s in &written {
        store.record_sample("s1", s).await.expect("record a sample");
    }
    store
        .record_sample("s2", &sample(0, 99))
        .await
        .expect("record a sample");
    let kept = store.samples("s1", origin).await.expect("samples");
    let last = written.last().expect("a sample").at;
    let expected: Vec<CapacitySample> = written
        .iter()
        .filter(|s| last - s.at <= Duration::days(1))
        .copied()
        .collect();
    assert_eq!(expected.len(), 145);
    assert_eq!(kept, expected);
    // From a moment on: those at or after it.
    let since = written[170].at;
    assert_eq!(
        store.samples("s1", since).await.expect("samples"),
        written[170..].to_vec()
    );
    assert_eq!(
        store.samples("s2", origin).await.expect("samples"),
        vec![sample(0, 99)]
    );
    store.forget("s1").await.expect("forget");
    assert!(
        store
            .samples("s1", origin)
            .await
            .expect("samples")
            .is_empty()
    );
    assert_eq!(store.samples("s2", origin).await.expect("samples").len(), 1);
}

async fn samples_are_bounded_in_number(store: Arc<dyn MachineDecisionStore>) {
    // One a second: well within a day, so only the count bounds them.
    for i in 0..(SAMPLES_KEPT as i64 + 20) {
        store
            .record_sample("s1", &sample(i, i as u64))
            .await
            .expect("record a sample");
    }
    let kept = store.samples("s1", sample(0, 0).at).await.expect("samples");
    assert_eq!(kept.len(), SAMPLES_KEPT);
    assert_eq!(kept.first().map(|s| s.free_payload_capacity), Some(20));
    assert_eq!(
        kept.last().map(|s| s.free_payload_capacity),
        Some(SAMPLES_KEPT as u64 + 19)
    );
}
