//! The `AttemptCounter` contract: one suite of scenarios, run against every adapter
//! (`MemoryAttemptCounter`, the embedded default, and `RedisAttemptCounter`, which replicas
//! share).
//!
//! Redis: 127.0.0.1:6379 unless `BATON_TEST_REDIS_URL` says otherwise. Each test uses a key
//! prefix of its own, whose keys are deleted when it ends, also when it fails.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use app::ports::{AttemptCounter, AttemptCounts};
use common::RedisKeys;
use server::adapters::storage::memory_attempts::MemoryAttemptCounter;
use server::adapters::storage::redis_attempts::RedisAttemptCounter;

/// The window of the scenarios that do not wait for it to end.
const MINUTE: Duration = Duration::from_secs(60);

/// Runs each listed `async fn(Ctx)` scenario once per adapter.
macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory_counter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Ctx::memory()).await
                }
            )*
        }
        mod redis_counter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Ctx::redis().await).await
                }
            )*
        }
    };
}

contract!(
    counts_are_per_client_and_per_user,
    counts_restart_when_the_window_ends,
    a_success_forgets_the_user_and_does_not_count_against_the_client,
    parallel_counts_from_one_client_are_never_lost,
);

/// Scenarios that only make sense for Redis.
mod redis_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_on_one_prefix_share_their_counts() {
        super::replicas_on_one_prefix_share_their_counts().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prefixes_do_not_share_counts() {
        super::prefixes_do_not_share_counts().await
    }
}

/// The counter under test and, for Redis, its keys (deleted when the scenario ends).
struct Ctx {
    counter: Arc<dyn AttemptCounter>,
    _keys: Option<RedisKeys>,
}

impl Ctx {
    fn memory() -> Self {
        Self {
            counter: Arc::new(MemoryAttemptCounter::default()),
            _keys: None,
        }
    }

    async fn redis() -> Self {
        let keys = RedisKeys::new();
        Self {
            counter: Arc::new(connect_redis(&keys).await),
            _keys: Some(keys),
        }
    }
}

/// A counter of its own (its own connection) on `keys`' Redis and prefix: one replica.
async fn connect_redis(keys: &RedisKeys) -> RedisAttemptCounter {
    RedisAttemptCounter::connect(&keys.url, &keys.prefix)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {}: {e}\n\
                 The Redis attempt counter tests need a local Redis. Start it with:\n    \
                 redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" \
                 --appendonly no\n\
                 or point BATON_TEST_REDIS_URL at another server.",
                keys.url
            )
        })
}

async fn count(
    counter: &dyn AttemptCounter,
    client: &str,
    user: &str,
    window: Duration,
) -> AttemptCounts {
    counter
        .count(client, user, window)
        .await
        .unwrap_or_else(|e| panic!("counting {user} from {client}: {e}"))
}

/// `(client, user)` of a count in a one-minute window.
async fn pair(counter: &dyn AttemptCounter, client: &str, user: &str) -> (u64, u64) {
    let counts = count(counter, client, user, MINUTE).await;
    (counts.client, counts.user)
}

// ---------------------------------------------------------------------------------------------

async fn counts_are_per_client_and_per_user(ctx: Ctx) {
    let counter = ctx.counter.as_ref();
    assert_eq!(pair(counter, "10.0.0.1", "alice").await, (1, 1));
    assert_eq!(pair(counter, "10.0.0.1", "alice").await, (2, 2));
    // Another user from the same client: the client's count goes on, the user's starts.
    assert_eq!(pair(counter, "10.0.0.1", "bob").await, (3, 1));
    // The same user from another client: the other way round.
    assert_eq!(pair(counter, "10.0.0.2", "alice").await, (1, 3));
    // The time left is the client's window, started at its first count.
    let counts = count(counter, "10.0.0.1", "carol", MINUTE).await;
    assert_eq!((counts.client, counts.user), (4, 1));
    assert!(
        counts.client_window_left > Duration::from_secs(50) && counts.client_window_left <= MINUTE,
        "{counts:?}"
    );
    // Names that look alike are different clients and users.
    assert_eq!(pair(counter, "10.0.0.10", "alice ").await, (1, 1));
}

async fn counts_restart_when_the_window_ends(ctx: Ctx) {
    let counter = ctx.counter.as_ref();
    let window = Duration::from_millis(400);
    assert_eq!(count(counter, "c", "u", window).await.client, 1);
    let second = count(counter, "c", "u", window).await;
    assert_eq!((second.client, second.user), (2, 2));
    assert!(second.client_window_left <= window, "{second:?}");
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    let fresh = count(counter, "c", "u", window).await;
    assert_eq!((fresh.client, fresh.user), (1, 1));
    assert!(
        fresh.client_window_left > Duration::from_millis(200),
        "a new window starts with this count: {fresh:?}"
    );
}

async fn a_success_forgets_the_user_and_does_not_count_against_the_client(ctx: Ctx) {
    let counter = ctx.counter.as_ref();
    for _ in 0..3 {
        pair(counter, "10.0.0.1", "alice").await;
    }
    pair(counter, "10.0.0.1", "bob").await;
    assert_eq!(pair(counter, "10.0.0.1", "alice").await, (5, 4));
    counter
        .succeeded("10.0.0.1", "alice")
        .await
        .expect("succeeded");
    // The success is no longer counted against the client (the failures still are), and
    // alice's failures are forgotten; bob's are not.
    assert_eq!(pair(counter, "10.0.0.1", "alice").await, (5, 1));
    assert_eq!(pair(counter, "10.0.0.1", "bob").await, (6, 2));
    // A success on a client with nothing counted leaves it at nothing.
    counter
        .succeeded("10.0.0.9", "dave")
        .await
        .expect("succeeded");
    assert_eq!(pair(counter, "10.0.0.9", "dave").await, (1, 1));
}

async fn parallel_counts_from_one_client_are_never_lost(ctx: Ctx) {
    let mut counts = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let counter = ctx.counter.clone();
        counts.spawn(async move { count(counter.as_ref(), "10.0.0.1", "alice", MINUTE).await });
    }
    let mut clients = BTreeSet::new();
    let mut users = BTreeSet::new();
    while let Some(counted) = counts.join_next().await {
        let counted = counted.expect("a count");
        clients.insert(counted.client);
        users.insert(counted.user);
    }
    // Every check saw a count of its own: none was lost, none was counted twice.
    let expected: BTreeSet<u64> = (1..=50).collect();
    assert_eq!(clients, expected);
    assert_eq!(users, expected);
    assert_eq!(
        pair(ctx.counter.as_ref(), "10.0.0.1", "alice").await,
        (51, 51)
    );
}

// ---------------------------------------------------------------------------------------------

async fn replicas_on_one_prefix_share_their_counts() {
    let keys = RedisKeys::new();
    // Two counters built apart, each on its own connection: two Baton processes.
    let (a, b) = (connect_redis(&keys).await, connect_redis(&keys).await);
    assert_eq!(pair(&a, "10.0.0.1", "alice").await, (1, 1));
    assert_eq!(pair(&b, "10.0.0.1", "alice").await, (2, 2));
    assert_eq!(pair(&a, "10.0.0.1", "bob").await, (3, 1));
    // A success on one replica is seen by the other.
    b.succeeded("10.0.0.1", "alice").await.expect("succeeded");
    assert_eq!(pair(&a, "10.0.0.1", "alice").await, (3, 1));
    // Parallel counts spread over both replicas are all counted, each once.
    let mut counts = tokio::task::JoinSet::new();
    for i in 0..40 {
        let counter = if i % 2 == 0 { a.clone() } else { b.clone() };
        counts.spawn(async move { pair(&counter, "10.0.0.2", "carol").await.0 });
    }
    let mut seen = BTreeSet::new();
    while let Some(client) = counts.join_next().await {
        seen.insert(client.expect("a count"));
    }
    assert_eq!(seen, (1..=40).collect::<BTreeSet<u64>>());
}

async fn prefixes_do_not_share_counts() {
    let (mine, theirs) = (RedisKeys::new(), RedisKeys::new());
    let (a, b) = (connect_redis(&mine).await, connect_redis(&theirs).await);
    assert_eq!(pair(&a, "10.0.0.1", "alice").await, (1, 1));
    assert_eq!(pair(&b, "10.0.0.1", "alice").await, (1, 1));
}
