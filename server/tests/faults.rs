//! Faults: Redis, or PostgreSQL, restarted while rooms ping and the controllers tick. While the
//! store is down Baton answers `503 UNAVAILABLE` naming it, with `Retry-After`, and never hangs;
//! it reconnects by itself and works fully again within 5 s of the store's return; every ping
//! it acknowledged with 200 is in the room's state afterwards. Each test runs a store of its own
//! (see `private_stores`), so the machine's shared servers are never stopped.

#[macro_use]
mod common;

#[path = "faults/private_stores.rs"]
mod private_stores;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::rooms::wait_for;
use common::{Backend, Reply, TestServer, send};
use private_stores::{PrivatePostgres, PrivateRedis};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::adapters::storage::sql::SqlStore;
use server::room_tokens::RoomTokens;

const NAME: &str = "faults";
const ROOMS: usize = 3;
/// Every answer comes within this, also while a store is down (no hang).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// Fully working again within this of the store's return.
const RECOVERY: Duration = Duration::from_secs(5);
/// How long the store stays down.
const OUTAGE: Duration = Duration::from_millis(2500);

/// A store the test can stop and start again.
trait Restartable {
    fn stop(&mut self);
    fn resume(&mut self);
}

impl Restartable for PrivateRedis {
    fn stop(&mut self) {
        PrivateRedis::stop(self)
    }
    fn resume(&mut self) {
        PrivateRedis::resume(self)
    }
}

impl Restartable for PrivatePostgres {
    fn stop(&mut self) {
        PrivatePostgres::stop(self)
    }
    fn resume(&mut self) {
        PrivatePostgres::resume(self)
    }
}

/// Runs a blocking store command without stalling the runtime's other tasks (the server runs
/// on the same runtime).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

/// One room's pings: what each answered and which was the last one acknowledged.
#[derive(Default)]
struct PingLog {
    /// (sequence number, answer, how long it took, when it came).
    answers: Vec<(u32, Reply, Duration, Instant)>,
    last_acked: u32,
}

/// Ping number `seq`: odd ones report `ready`, even ones `occupied`, and `runningMatches` carries
/// `seq`, so the room's state tells which ping it holds.
fn status_of(seq: u32) -> &'static str {
    if seq % 2 == 1 { "ready" } else { "occupied" }
}

/// A room that pings every 100 ms until told to stop, starting after ping `log.last_acked`'s
/// successor.
async fn ping_until(
    client: reqwest::Client,
    url: String,
    token: String,
    mut log: PingLog,
    stop: Arc<AtomicBool>,
) -> PingLog {
    let mut seq = log.answers.last().map_or(0, |(seq, ..)| *seq);
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let started = Instant::now();
        let request = client
            .request(Method::PUT, &url)
            .bearer_auth(&token)
            .json(&json!({"status": status_of(seq), "runningMatches": seq}));
        let answer = send(request).await;
        if answer.status == StatusCode::OK {
            log.last_acked = seq;
        }
        log.answers
            .push((seq, answer, started.elapsed(), Instant::now()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log
}

struct Pingers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<PingLog>>,
}

impl Pingers {
    fn start(server: &TestServer, rooms: &[(String, String)], logs: Vec<PingLog>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        let tasks = rooms
            .iter()
            .zip(logs)
            .map(|((id, token), log)| {
                let url = server.url(&format!("/scheduler/{NAME}/rooms/{id}/ping"));
                tokio::spawn(ping_until(
                    client.clone(),
                    url,
                    token.clone(),
                    log,
                    stop.clone(),
                ))
            })
            .collect();
        Self { stop, tasks }
    }

    async fn stop(self) -> Vec<PingLog> {
        self.stop.store(true, Ordering::Relaxed);
        let mut logs = Vec::new();
        for task in self.tasks {
            logs.push(task.await.expect("a pinger ran"));
        }
        logs
    }
}

/// A 503 that names `store` and says when to retry.
#[track_caller]
fn assert_unavailable(reply: &Reply, store: &str) {
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert_eq!(reply.json["store"], store, "body: {}", reply.text);
    let retry_after = reply
        .headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "a Retry-After in seconds: {:?}",
        reply.headers
    );
}

/// The scheduler with `ROOMS` rooms (processes that only sleep: the test pings for them), and
/// each room's id and token.
async fn scheduler_with_rooms(server: &TestServer) -> Vec<(String, String)> {
    let body = json!({
        "name": NAME, "game": "faults", "roomsReplicas": ROOMS, "maxSurge": "100%",
        "portRange": {"start": 43000, "end": 43100},
        "roomTimeouts": {"ping": "60s", "initialization": "60s", "termination": "5s"},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "none", "command": ["sleep", "600"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    server.admin().post("/schedulers", &body).await.ok();
    let rooms = wait_for(
        server,
        NAME,
        "the rooms",
        Duration::from_secs(30),
        |rooms| rooms.len() == ROOMS,
    )
    .await;
    let secret = SqlStore::connect(&server.config.database_url)
        .await
        .expect("the server's database")
        .setting_or_insert("room_token_secret", || unreachable!("the server made it"))
        .await
        .expect("the room token secret");
    let tokens = RoomTokens::new(secret);
    rooms
        .iter()
        .map(|room| {
            let id = room["id"].as_str().expect("a room id").to_string();
            let token = tokens.issue(NAME, &id);
            (id, token)
        })
        .collect()
}

/// The rooms as stored, by id: (status, runningMatches).
async fn stored(server: &TestServer) -> Reply {
    server
        .admin()
        .get(&format!("/schedulers/{NAME}/rooms"))
        .await
}

fn room_state(rooms: &Value, id: &str) -> (String, u32) {
    let room = rooms["rooms"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("room {id} is gone: {rooms}"));
    let status = room["status"].as_str().unwrap_or_default().to_string();
    let matches = room["runningMatches"].as_u64().unwrap_or_default();
    (status, u32::try_from(matches).unwrap_or(u32::MAX))
}

/// Every acknowledged ping is in the room: it holds the last acknowledged one, or a later one
/// the store applied but could not acknowledge (it went down before answering).
#[track_caller]
fn assert_acks_kept(rooms: &Value, ids: &[(String, String)], logs: &[PingLog]) {
    for ((id, _), log) in ids.iter().zip(logs) {
        let (status, seq) = room_state(rooms, id);
        let sent = log.answers.last().map_or(0, |(seq, ..)| *seq);
        assert!(
            seq >= log.last_acked && seq <= sent,
            "room {id} holds ping {seq}; acknowledged up to {}, sent up to {sent}",
            log.last_acked
        );
        assert_eq!(status, status_of(seq), "room {id} holds ping {seq}");
    }
}

/// Which request needs the store, and its answer's check.
struct Probe {
    /// `redis` or `database`, as the answers and `/readyz` name it.
    store: &'static str,
    /// Whether pings need this store (rooms are kept in it).
    pings_need_it: bool,
    /// A management request that needs it.
    path: String,
}

async fn restart_while_rooms_ping(server: TestServer, store: &mut dyn Restartable, probe: Probe) {
    let rooms = scheduler_with_rooms(&server).await;
    let ids_before: Vec<&String> = rooms.iter().map(|(id, _)| id).collect();

    // Rooms ping while the store is up, then while it is down.
    let pingers = Pingers::start(
        &server,
        &rooms,
        rooms.iter().map(|_| PingLog::default()).collect(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    blocking(|| store.stop());
    let down_at = Instant::now();
    let mut management = Vec::new();
    while down_at.elapsed() < OUTAGE {
        let started = Instant::now();
        let reply = server.admin().get(&probe.path).await;
        management.push((reply, started.elapsed()));
        let ready = server.anonymous().get("/readyz").await;
        assert_eq!(
            ready.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            ready.text
        );
        assert_eq!(ready.json["failed"], json!([probe.store]), "{}", ready.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = pingers.stop().await;

    // While down: 503 naming the store, with Retry-After, always in time; never anything else.
    for (reply, took) in &management {
        assert_unavailable(reply, probe.store);
        assert!(*took < ANSWER_WITHIN, "{} took {took:?}", probe.path);
    }
    let mut refused = 0;
    for log in &logs {
        for (seq, reply, took, _) in &log.answers {
            assert!(*took < ANSWER_WITHIN, "ping {seq} took {took:?}");
            if reply.status != StatusCode::OK {
                assert_unavailable(reply, probe.store);
                refused += 1;
            }
        }
    }
    if probe.pings_need_it {
        assert!(refused > 0, "pings failed while {} was down", probe.store);
    } else {
        assert_eq!(refused, 0, "pings do not need {}", probe.store);
    }

    // Back: within 5 s the API answers, and every acknowledged ping is in the rooms.
    blocking(|| store.resume());
    let back_at = Instant::now();
    let recovered = loop {
        let reply = stored(&server).await;
        if reply.status == StatusCode::OK
            && server.admin().get(&probe.path).await.status == StatusCode::OK
        {
            break reply;
        }
        assert!(
            back_at.elapsed() < RECOVERY,
            "{} is back since {:?}, the API still answers {} {}",
            probe.store,
            back_at.elapsed(),
            reply.status,
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_acks_kept(&recovered.json, &rooms, &logs);
    let ids_after: Vec<String> = recovered.json["rooms"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| r["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for id in &ids_before {
        assert!(ids_after.contains(id), "room {id} survived: {ids_after:?}");
    }
    eprintln!(
        "{}: API back {:?} after the store's return",
        probe.store,
        back_at.elapsed()
    );

    // Pings succeed again within 5 s of the return; a change runs as an operation.
    let pingers = Pingers::start(&server, &rooms, logs);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let logs = pingers.stop().await;
    for ((id, _), log) in rooms.iter().zip(&logs) {
        let first_ok = log
            .answers
            .iter()
            .find(|(_, reply, _, at)| *at > back_at && reply.status == StatusCode::OK)
            .map(|(.., at)| at.duration_since(back_at));
        assert!(
            first_ok.is_some_and(|after| after < RECOVERY),
            "room {id}: first acknowledged ping {first_ok:?} after the return"
        );
    }
    let added = server
        .admin()
        .post(
            &format!("/schedulers/{NAME}/add-rooms"),
            &json!({"amount": 1}),
        )
        .await;
    assert_eq!(
        added.ok()["operation"]["status"],
        "finished",
        "{}",
        added.text
    );
    let ready = server.anonymous().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let finally = stored(&server).await;
    assert_acks_kept(finally.ok(), &rooms, &logs);
}

/// Redis keeps the rooms: pings fail with 503 while it is down, and resume after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_while_rooms_ping() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.redis_url = Some(url);
        config.redis_prefix = "faults".to_string();
        config.health_tick_ms = 300;
    })
    .await;
    let probe = Probe {
        store: "redis",
        pings_need_it: true,
        path: format!("/schedulers/{NAME}/rooms"),
    };
    restart_while_rooms_ping(server, &mut redis, probe).await;
}

/// PostgreSQL keeps the schedulers, users and operations: the management API answers 503 while
/// it is down; pings (rooms in process, tokens checked without the database) go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_while_rooms_ping() {
    let mut postgres = PrivatePostgres::start();
    let url = postgres.url();
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.database_url = url;
        config.health_tick_ms = 300;
    })
    .await;
    let probe = Probe {
        store: "database",
        pings_need_it: false,
        path: format!("/schedulers/{NAME}"),
    };
    restart_while_rooms_ping(server, &mut postgres, probe).await;
}
