//! Replicas on one database and one Redis prefix share what used to be per process: the room
//! count history, and the news that a scheduler changed (so that a replica's cached answers,
//! such as whether a scheduler accepts tokenless pings, do not outlive the change).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::ports::{SchedulerCache, SchedulerChanges};
use common::{ADMIN_PASSWORD, Backend, TestServer, redis_url, seed, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::adapters::storage::redis_changes::RedisSchedulerChanges;

/// A second process on the first one's database and Redis prefix, stopped when dropped.
struct Replica {
    base_url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn replica_of(server: &TestServer) -> Replica {
    let running = server::startup::start(server.config.clone())
        .await
        .expect("a second replica on the same database and Redis prefix");
    Replica {
        base_url: format!("http://{}", running.addr),
        task: running.task,
    }
}

/// A cache that notes what it is told to forget.
#[derive(Default)]
struct Forgotten(Mutex<Vec<String>>);

impl SchedulerCache for Forgotten {
    fn forget(&self, scheduler: &str) {
        self.0.lock().unwrap().push(scheduler.to_string());
    }
    fn forget_all(&self) {
        self.0.lock().unwrap().push("*".to_string());
    }
}

impl Forgotten {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_published_on_one_prefix_reaches_its_subscribers_only() {
    let url = redis_url();
    let prefix = format!("baton-test-{}", uuid::Uuid::new_v4().simple());
    let publisher = RedisSchedulerChanges::connect(&url, &prefix).await.unwrap();
    let listener = RedisSchedulerChanges::connect(&url, &prefix).await.unwrap();
    let elsewhere = RedisSchedulerChanges::connect(&url, &format!("{prefix}-other"))
        .await
        .unwrap();
    assert_ne!(listener.channel(), elsewhere.channel());
    let heard = Arc::new(Forgotten::default());
    let unrelated = Arc::new(Forgotten::default());
    let listening = listener.subscribe(vec![heard.clone()]).await;
    let other = elsewhere.subscribe(vec![unrelated.clone()]).await;

    publisher.publish("s1").await.unwrap();
    publisher.publish("s2").await.unwrap();
    let started = Instant::now();
    while heard.seen().len() < 2 && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(heard.seen(), vec!["s1".to_string(), "s2".to_string()]);
    // Another prefix is another deployment: it hears nothing (give it the same time).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(unrelated.seen().is_empty(), "{:?}", unrelated.seen());
    listening.abort();
    other.abort();
}

/// Pings without a token to a room that does not exist: 401 while the scheduler refuses
/// tokenless pings, 404 once it accepts them.
async fn tokenless_ping(client: &reqwest::Client, base_url: &str, scheduler: &str) -> StatusCode {
    send(
        client
            .put(format!(
                "{base_url}/scheduler/{scheduler}/rooms/no-such-room/ping"
            ))
            .json(&json!({"status": "ready"})),
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_reaches_the_cache_of_another_at_once() {
    let a = TestServer::start(Backend::Redis).await;
    let b = replica_of(&a).await;
    let client = reqwest::Client::new();
    // Waits for the create operation, so that the change below is not refused behind it.
    let admin = a.admin();
    let mut body: Value = seed("migrating", "game");
    body["roomsReplicas"] = json!(0);
    admin.post("/schedulers", &body).await.ok();
    // B answers from its cache from now on (for 5 s unless told otherwise).
    assert_eq!(
        tokenless_ping(&client, &b.base_url, "migrating").await,
        StatusCode::UNAUTHORIZED
    );

    body["allowTokenlessPings"] = json!(true);
    admin.post("/schedulers/migrating", &body).await.ok();
    // A forgot its own cache; B hears of the change within a second.
    assert_eq!(
        tokenless_ping(&client, &a.base_url, "migrating").await,
        StatusCode::NOT_FOUND
    );
    let started = Instant::now();
    loop {
        let status = tokenless_ping(&client, &b.base_url, "migrating").await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "replica B still refuses tokenless pings after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_answers_the_room_history() {
    let a = TestServer::start_with(Backend::Redis, |config| {
        config.health_tick_ms = 100;
    })
    .await;
    let b = replica_of(&a).await;
    let mut body: Value = seed("watched", "game");
    body["roomsReplicas"] = json!(0);
    a.admin().queued().post("/schedulers", &body).await.ok();
    let client = reqwest::Client::new();
    let history = |base_url: &str| {
        send(
            client
                .get(format!(
                    "{base_url}/schedulers/watched/rooms/history?minutes=15"
                ))
                .basic_auth("admin", Some(ADMIN_PASSWORD)),
        )
    };
    // Whichever replica runs the scheduler's controller records; both answer.
    let started = Instant::now();
    for base_url in [a.base_url.clone(), b.base_url.clone()] {
        loop {
            let reply = history(&base_url).await;
            let samples = reply.ok()["samples"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !samples.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no room history on {base_url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
