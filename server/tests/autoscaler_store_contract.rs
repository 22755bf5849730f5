//! The `AutoscalerStore` contract: one suite of scenarios, run against every adapter
//! (`MemoryAutoscalerStore` and `RedisAutoscalerStore`).
//!
//! Redis: 127.0.0.1:6379 unless `BATON_TEST_REDIS_URL` says otherwise; each test uses a random
//! key prefix and checks that forgetting a scheduler leaves no key behind.

use std::future::Future;
use std::sync::Arc;

use app::domain::autoscaling::{AutoscalerState, Decision, Load, Points, Reason};
use app::ports::{AutoscalerStore, DECISIONS_KEPT};
use chrono::{DateTime, Duration, Utc};
use server::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use server::adapters::storage::redis_autoscaler::RedisAutoscalerStore;

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
    points_are_kept_per_type_oldest_first_and_trimmed,
    state_round_trips,
    decisions_are_newest_first_and_bounded,
    schedulers_are_isolated,
    forget_removes_everything,
);

async fn keys_under(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at BATON_TEST_REDIS_URL (start it: see README, Tests)");
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .expect("KEYS")
}

async fn run<F, Fut>(redis: bool, scenario: F)
where
    F: FnOnce(Arc<dyn AutoscalerStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    if !redis {
        return scenario(Arc::new(MemoryAutoscalerStore::default())).await;
    }
    let url = redis_url();
    let prefix = format!("baton-test-{}", uuid::Uuid::new_v4().simple());
    let store = RedisAutoscalerStore::connect(&url, &prefix)
        .await
        .unwrap_or_else(|e| panic!("Redis is not reachable at {url}: {e}"));
    let store: Arc<dyn AutoscalerStore> = Arc::new(store);
    scenario(store.clone()).await;
    for scheduler in ["s1", "s2"] {
        store.forget(scheduler).await.expect("forget");
    }
    let left = keys_under(&url, &prefix).await;
    assert!(left.is_empty(), "keys left behind: {left:?}");
}

fn point(kind: &str, value: f64) -> (String, f64) {
    (kind.to_string(), value)
}

fn decision(from: u32, to: u32, at: DateTime<Utc>) -> Decision {
    Decision {
        at,
        from,
        to,
        reason: Reason::Bounds,
        utilization: Some(42.5),
        wanted: i64::from(to),
        capped: None,
        load: Load::default(),
        summary: format!("{from} -> {to}"),
    }
}

async fn points_are_kept_per_type_oldest_first_and_trimmed(store: Arc<dyn AutoscalerStore>) {
    let mut last = Points::new();
    for i in 0..5 {
        last = store
            .record_points(
                "s1",
                &[
                    point("room", f64::from(i)),
                    point("cpu", 10.0 + f64::from(i)),
                ],
                3,
            )
            .await
            .expect("record");
    }
    assert_eq!(last.get("room"), Some(&vec![2.0, 3.0, 4.0]));
    assert_eq!(last.get("cpu"), Some(&vec![12.0, 13.0, 14.0]));
    // A type measured only sometimes keeps its own history; a smaller keep trims everything.
    let now = store
        .record_points("s1", &[point("room", 5.5)], 2)
        .await
        .expect("record");
    assert_eq!(now.get("room"), Some(&vec![4.0, 5.5]));
    assert_eq!(now.get("cpu"), Some(&vec![13.0, 14.0]));
    // Nothing to record still answers the history.
    let again = store.record_points("s1", &[], 2).await.expect("record");
    assert_eq!(again, now);
}

async fn state_round_trips(store: Arc<dyn AutoscalerStore>) {
    assert_eq!(store.state("s1").await.expect("state"), None);
    let state = AutoscalerState {
        desired: 7,
        last_scaled_at: Some(DateTime::UNIX_EPOCH + Duration::milliseconds(1_700_000_000_123)),
        occupied: 3,
    };
    store.save("s1", &state, None).await.expect("save");
    assert_eq!(store.state("s1").await.expect("state"), Some(state.clone()));
    assert!(
        store
            .decisions("s1", 10)
            .await
            .expect("decisions")
            .is_empty()
    );
}

async fn decisions_are_newest_first_and_bounded(store: Arc<dyn AutoscalerStore>) {
    let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
    let total = DECISIONS_KEPT + 5;
    for i in 0..total {
        let d = decision(i as u32, i as u32 + 1, t0 + Duration::seconds(i as i64));
        let state = AutoscalerState {
            desired: d.to,
            last_scaled_at: Some(d.at),
            occupied: 0,
        };
        store.save("s1", &state, Some(&d)).await.expect("save");
    }
    let latest = store.decisions("s1", 3).await.expect("decisions");
    let froms: Vec<u32> = latest.iter().map(|d| d.from).collect();
    let n = total as u32;
    assert_eq!(froms, vec![n - 1, n - 2, n - 3]);
    assert_eq!(
        latest[0],
        decision(n - 1, n, t0 + Duration::seconds(i64::from(n - 1)))
    );
    let all = store.decisions("s1", 10_000).await.expect("decisions");
    assert_eq!(all.len(), DECISIONS_KEPT);
    assert_eq!(
        store.state("s1").await.expect("state").map(|s| s.desired),
        Some(n)
    );
    assert!(
        store
            .decisions("s1", 0)
            .await
            .expect("decisions")
            .is_empty()
    );
}

async fn schedulers_are_isolated(store: Arc<dyn AutoscalerStore>) {
    store
        .record_points("s1", &[point("room", 1.0)], 5)
        .await
        .expect("record");
    let s2 = store
        .record_points("s2", &[point("room", 2.0)], 5)
        .await
        .expect("record");
    assert_eq!(s2.get("room"), Some(&vec![2.0]));
    let state = AutoscalerState {
        desired: 2,
        ..AutoscalerState::default()
    };
    store
        .save("s2", &state, Some(&decision(1, 2, Utc::now())))
        .await
        .expect("save");
    assert_eq!(store.state("s1").await.expect("state"), None);
    assert!(
        store
            .decisions("s1", 5)
            .await
            .expect("decisions")
            .is_empty()
    );
}

async fn forget_removes_everything(store: Arc<dyn AutoscalerStore>) {
    store
        .record_points("s1", &[point("room", 1.0), point("mem", 3.0)], 5)
        .await
        .expect("record");
    store
        .save(
            "s1",
            &AutoscalerState::default(),
            Some(&decision(0, 1, Utc::now())),
        )
        .await
        .expect("save");
    store
        .record_points("s2", &[point("room", 9.0)], 5)
        .await
        .expect("record");
    store.forget("s1").await.expect("forget");
    assert_eq!(store.state("s1").await.expect("state"), None);
    assert!(
        store
            .decisions("s1", 5)
            .await
            .expect("decisions")
            .is_empty()
    );
    assert!(
        store
            .record_points("s1", &[], 5)
            .await
            .expect("record")
            .is_empty()
    );
    assert_eq!(
        store
            .record_points("s2", &[], 5)
            .await
            .expect("record")
            .get("room"),
        Some(&vec![9.0])
    );
    // Forgetting an unknown scheduler is fine.
    store.forget("nobody").await.expect("forget");
}
