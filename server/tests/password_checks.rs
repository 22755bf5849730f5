//! Password checks under load: argon2 runs are bounded whatever the burst, and replicas on one
//! Redis count failed checks together.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::throttle::Throttle;
use app::domain::user::{Role, User};
use app::ports::UserStore;
use common::{ADMIN_PASSWORD, Backend, TestDb, TestServer, send};
use reqwest::StatusCode;
use server::adapters::storage::memory_attempts::MemoryAttemptCounter;
use server::api::auth::{Authenticator, hash_password};
use server::api::error::ApiError;

/// Argon2 runs an authenticator allows at once in these tests (not this machine's core count,
/// so that a limit taken from elsewhere shows).
const HASHING_LIMIT: usize = 3;

/// An authenticator limited to `HASHING_LIMIT` argon2 runs, on a database with `users` users
/// (`user0`...), all with the password `right`, and throttle counts in memory.
async fn authenticator(db: &TestDb, users: usize) -> Arc<Authenticator> {
    let store = db.store().await;
    let hash = hash_password("right").expect("a hash");
    for i in 0..users {
        let user = User {
            username: format!("user{i}"),
            role: Role::Viewer,
            games: vec![],
            disabled: false,
        };
        UserStore::create(&store, &user, &hash)
            .await
            .expect("a user");
    }
    Arc::new(
        Authenticator::with_hashing_limit(
            Arc::new(store),
            Arc::new(MemoryAttemptCounter::default()),
            Throttle::default(),
            HASHING_LIMIT,
        )
        .expect("an authenticator"),
    )
}

/// Starts a wrong-password check of `user{i}` from its own address (nobody is throttled).
fn wrong_check(
    checks: &mut tokio::task::JoinSet<Result<(), ApiError>>,
    auth: &Arc<Authenticator>,
    i: usize,
) -> tokio::task::AbortHandle {
    let auth = auth.clone();
    checks.spawn(async move {
        auth.authenticate(
            &format!("user{i}"),
            "wrong",
            &format!("10.1.{}.{}", i / 256, i % 256),
        )
        .await
        .map(|_| ())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_passwords_runs_a_bounded_number_of_argon2_checks() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = authenticator(&db, 24).await;
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..24 {
        wrong_check(&mut checks, &auth, i);
    }
    while let Some(outcome) = checks.join_next().await {
        let outcome = outcome.expect("a check");
        assert!(
            matches!(outcome, Err(ApiError::Unauthorized)),
            "{outcome:?}"
        );
    }
    // The burst filled every slot, and never more.
    assert_eq!(auth.most_hashes_at_once(), HASHING_LIMIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_given_up_mid_hash_keep_their_slot_until_the_hash_ends() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = authenticator(&db, 24).await;
    let mut first = tokio::task::JoinSet::new();
    for i in 0..12 {
        wrong_check(&mut first, &auth, i);
    }
    // Once every slot runs a hash, the callers go away (their requests were dropped)...
    let started = Instant::now();
    while auth.most_hashes_at_once() < HASHING_LIMIT {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no hash started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.abort_all();
    // ...and new checks come at once: they wait for the abandoned hashes to end.
    let mut second = tokio::task::JoinSet::new();
    for i in 12..24 {
        wrong_check(&mut second, &auth, i);
    }
    while let Some(outcome) = second.join_next().await {
        let outcome = outcome.expect("a check");
        assert!(
            matches!(outcome, Err(ApiError::Unauthorized)),
            "{outcome:?}"
        );
    }
    assert_eq!(auth.most_hashes_at_once(), HASHING_LIMIT);
}

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client")
}

/// Two Baton processes on one database and one Redis prefix, as behind a load balancer: the
/// failed checks of a client address are counted together, whichever replica ran them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_redis_share_the_password_throttle() {
    let server = TestServer::start(Backend::Redis).await;
    let replica = server::startup::start(server.config.clone())
        .await
        .expect("a second replica on the same database and Redis prefix");
    // Stopped at the end, also when an assertion fails.
    struct Stop(tokio::task::JoinHandle<std::io::Result<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _stop = Stop(replica.task);
    let replicas = [server.base_url.clone(), format!("http://{}", replica.addr)];
    let get = |client: &reqwest::Client, replica: usize, user: &str, password: &str| {
        client
            .get(format!("{}/schedulers", replicas[replica]))
            .basic_auth(user, Some(password))
    };
    // Ten wrong guesses (the limit per address), five through each replica: neither replica
    // alone has seen enough to refuse the address.
    let attacker = client_from([127, 0, 0, 7]);
    for i in 0..10 {
        send(get(&attacker, i % 2, &format!("user{i}"), "guess"))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // Both refuse it now, even the right password.
    for replica in 0..2 {
        send(get(&attacker, replica, "admin", ADMIN_PASSWORD))
            .await
            .expect_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED");
    }
    // Other addresses are not affected, on either replica.
    let other = client_from([127, 0, 0, 8]);
    for replica in 0..2 {
        send(get(&other, replica, "admin", ADMIN_PASSWORD))
            .await
            .ok();
    }
}

/// `--password-check-limit` sets how many failed checks an address may make a minute: with 3,
/// the fourth check is refused even with the right password; with 30, twelve failures are not
/// enough to be refused (the default, 10, would be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_check_limit_is_a_setting() {
    for (limit, failures, then) in [
        (3, 3, StatusCode::TOO_MANY_REQUESTS),
        (30, 12, StatusCode::OK),
    ] {
        let server =
            TestServer::start_with(Backend::Sqlite, |c| c.password_check_limit = limit).await;
        let client = client_from([127, 0, 0, 9]);
        let get = |user: &str, password: &str| {
            client
                .get(server.url("/schedulers"))
                .basic_auth(user, Some(password))
        };
        for i in 0..failures {
            send(get(&format!("user{i}"), "guess"))
                .await
                .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
        let reply = send(get("admin", ADMIN_PASSWORD)).await;
        assert_eq!(reply.status, then, "limit {limit}: {}", reply.text);
    }
}
