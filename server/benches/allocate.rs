//! Allocation throughput and latency against Redis: `cargo bench -p server --bench allocate`.
//!
//! A plain program (no harness), built like the `ping` benchmark and sharing its parts
//! (`common`). It stores `BATON_BENCH_ROOMS` ready single-match rooms (default 50,000) of one
//! scheduler, spread over `BATON_BENCH_MACHINES` machines (default 500: room `i` on machine
//! `i % machines`), under a fresh Redis key prefix (inserted `BATON_BENCH_INSERT_CONCURRENCY`
//! at a time, default 256), then measures, in one run and at the same concurrency
//! (`BATON_BENCH_CONCURRENCY`, default 64):
//!
//! - `evalsha`: raw Redis `EVALSHA` of a trivial script (`return 1`), `BATON_BENCH_CONCURRENCY`
//!   in flight on one multiplexed connection: the ceiling to compare with;
//! - `evalsha-conns`: the same over one connection per worker, one request at a time on each:
//!   the request pattern of the HTTP clients below;
//! - `http`: the real endpoint, Maestro's `POST /scheduler/{s}/rooms/allocate` with `{}` and
//!   an administrator's Basic credentials, on the API router (backed by `RedisRoomStore` and a
//!   scratch SQLite database for users and schedulers) served by a *separate process* (this
//!   program started again with `BATON_BENCH_SERVE=1`, `BATON_BENCH_SERVER_THREADS` runtime
//!   threads). One keep-alive HTTP/1.1 connection per worker, one request at a time on each.
//!
//! Each mode first runs `BATON_BENCH_WARMUP` unmeasured requests (default 1,000). Then `http`
//! makes `BATON_BENCH_ALLOCATIONS` measured ones (default 40,000), or fewer if
//! `BATON_BENCH_SECONDS` (default 20) pass first; the `EVALSHA` baselines run for
//! `BATON_BENCH_BASELINE_SECONDS` (default 5). The authenticator verifies the credential
//! once (argon2) and then answers from its cache. Every allocation must succeed, every
//! returned room id must be distinct and the store must hold exactly one claim per allocation:
//! the benchmark fails otherwise. It also prints how many machines the allocated rooms are on,
//! beside the fewest that could hold them (the scheduler's strategy is `packed`: each machine
//! should be full before the next one is used). Redis is at `BATON_BENCH_REDIS_URL`, else
//! `BATON_TEST_REDIS_URL`, else 127.0.0.1:6379. Every key the run created is deleted.

mod common;

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::SchedulerConfig;
use app::domain::user::{Role, User};
use app::ports::{RoomStore, SchedulerStore, UserStore};
use base64::Engine;
use chrono::Utc;
use common::{
    CpuMark, Driver, HttpConnection, Samples, Stats, closed_loop, cpus, delete_keys, env_or,
    micros, millis, serve, start_server, thousands,
};
use futures::StreamExt;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use server::adapters::storage::redis::RedisRoomStore;
use server::adapters::storage::sql::SqlStore;
use tokio::sync::Mutex;

const SCHEDULER: &str = "bench";
const PASSWORD: &str = "bench-admin-password";

/// The allocator of the `server` binary, so that the served endpoint runs as in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Settings {
    redis_url: String,
    rooms: u64,
    machines: u64,
    insert_concurrency: usize,
    concurrency: usize,
    warmup: u64,
    allocations: u64,
    duration: Duration,
    baseline_duration: Duration,
    server_threads: usize,
}

impl Settings {
    fn from_env() -> Self {
        let redis_url = common::redis_url();
        Self {
            redis_url,
            rooms: env_or("BATON_BENCH_ROOMS", 50_000u64).max(1),
            machines: env_or("BATON_BENCH_MACHINES", 500u64).max(1),
            insert_concurrency: env_or("BATON_BENCH_INSERT_CONCURRENCY", 256usize).max(1),
            concurrency: env_or("BATON_BENCH_CONCURRENCY", 64usize).max(1),
            warmup: env_or("BATON_BENCH_WARMUP", 1_000u64),
            allocations: env_or("BATON_BENCH_ALLOCATIONS", 40_000u64).max(1),
            duration: Duration::from_secs_f64(env_or("BATON_BENCH_SECONDS", 20.0f64)),
            baseline_duration: Duration::from_secs_f64(env_or(
                "BATON_BENCH_BASELINE_SECONDS",
                5.0f64,
            )),
            server_threads: env_or("BATON_BENCH_SERVER_THREADS", cpus()).max(1),
        }
    }
}

fn room_id(i: u64) -> String {
    format!("room-{i:06}")
}

/// The machine of room `i`.
fn machine_of(settings: &Settings, i: u64) -> String {
    format!("machine-{:04}", i % settings.machines)
}

/// Raw `EVALSHA` of a trivial script, all workers on one multiplexed connection.
struct RawEvalSha {
    connection: ConnectionManager,
    sha: String,
}

impl Driver for RawEvalSha {
    async fn call(&self, _worker: usize, _n: u64) -> Result<(), String> {
        redis::cmd("EVALSHA")
            .arg(&self.sha)
            .arg(0)
            .query_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Raw `EVALSHA` over one connection per worker, one request at a time on each.
struct RawEvalShaPerConnection {
    connections: Vec<Mutex<MultiplexedConnection>>,
    sha: String,
}

impl Driver for RawEvalShaPerConnection {
    async fn call(&self, worker: usize, _n: u64) -> Result<(), String> {
        let mut connection = self.connections[worker % self.connections.len()]
            .lock()
            .await;
        redis::cmd("EVALSHA")
            .arg(&self.sha)
            .arg(0)
            .query_async::<i64>(&mut *connection)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaestroAnswer {
    room_id: String,
    success: bool,
    message: String,
}

/// Maestro's allocate over HTTP; each worker keeps the room ids it was given.
struct HttpAllocate {
    /// One per worker.
    connections: Vec<Mutex<HttpConnection>>,
    host: String,
    authorization: String,
    /// The room ids handed out, per worker.
    allocated: Vec<std::sync::Mutex<Vec<String>>>,
}

impl Driver for HttpAllocate {
    async fn call(&self, worker: usize, _n: u64) -> Result<(), String> {
        let mut connection = self.connections[worker % self.connections.len()]
            .lock()
            .await;
        let connection = &mut *connection;
        connection.request.clear();
        write!(
            connection.request,
            "POST /scheduler/{SCHEDULER}/rooms/allocate HTTP/1.1\r\nHost: {}\r\n\
             Authorization: {}\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\n\r\n{{}}",
            self.host, self.authorization,
        )
        .map_err(|e| e.to_string())?;
        let (status, body) = connection.round_trip().await?;
        let body = &connection.response[body];
        let error = || {
            format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(body).into_owned()
            )
        };
        if status != 200 {
            return Err(error());
        }
        let answer: MaestroAnswer = serde_json::from_slice(body).map_err(|_| error())?;
        if !answer.success || answer.room_id.is_empty() {
            return Err(format!("no room allocated: {}", answer.message));
        }
        self.allocated[worker % self.allocated.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(answer.room_id);
        Ok(())
    }
}

/// One measured run.
struct Report {
    mode: &'static str,
    stats: Stats,
}

impl std::ops::Deref for Report {
    type Target = Stats;

    fn deref(&self) -> &Stats {
        &self.stats
    }
}

/// `settings.warmup` unmeasured requests, then the measured run.
async fn measure<D: Driver>(
    settings: &Settings,
    connection: &mut ConnectionManager,
    server_pid: Option<u32>,
    mode: &'static str,
    (driver, max_requests, duration): (D, u64, Duration),
) -> Report {
    let driver = Arc::new(driver);
    let next = Arc::new(AtomicU64::new(0));
    if settings.warmup > 0 {
        let (warmup, _) = closed_loop(
            driver.clone(),
            next.clone(),
            settings.concurrency,
            settings.duration,
            settings.warmup,
        )
        .await;
        if let Some(error) = warmup.first_error {
            println!("{mode}: warm-up error: {error}");
        }
    }
    let before = CpuMark::now(connection, server_pid).await;
    let (samples, elapsed): (Samples, Duration) =
        closed_loop(driver, next, settings.concurrency, duration, max_requests).await;
    let after = CpuMark::now(connection, server_pid).await;
    let report = Report {
        mode,
        stats: Stats::of(&samples, elapsed, &before, &after),
    };
    println!(
        "{:<13} {:>3} conc.: {}",
        report.mode,
        settings.concurrency,
        report.summary()
    );
    if let Some(error) = &samples.first_error {
        println!("              first error: {error}");
    }
    report
}

fn print_table(settings: &Settings, reports: &[Report]) {
    let rate_of = |mode: &str| {
        reports
            .iter()
            .find(|r| r.mode == mode)
            .map(|r| r.per_second())
    };
    let ratio = |r: &Report, baseline: &str| match rate_of(baseline) {
        Some(base) if r.mode != baseline && r.mode != "evalsha" => {
            format!("{:.2}", r.per_second() / base)
        }
        _ => "-".to_string(),
    };
    println!();
    println!(
        "| mode | load | requests/s | p50 ms | p99 ms | max ms | / evalsha | / evalsha-conns | \
         Redis µs/req | client µs/req | server µs/req |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        println!(
            "| {} | {} conc. | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.mode,
            settings.concurrency,
            thousands(r.per_second()),
            millis(r.p50),
            millis(r.p99),
            millis(r.max),
            ratio(r, "evalsha"),
            ratio(r, "evalsha-conns"),
            micros(r.redis_cpu),
            micros(r.client_cpu),
            r.server_cpu.map_or("-".to_string(), micros),
        );
    }
}

/// The administrator and the scheduler, in the scratch SQLite database the server will open.
async fn prepare_sqlite(path: &std::path::Path) {
    let sql = SqlStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("a scratch SQLite database");
    let admin = User {
        username: "admin".to_string(),
        role: Role::Admin,
        games: Vec::new(),
        disabled: false,
    };
    let hash = server::api::auth::hash_password(PASSWORD).expect("hashing the password");
    UserStore::create(&sql, &admin, &hash)
        .await
        .expect("creating the admin");
    let config: SchedulerConfig = serde_json::from_value(serde_json::json!({
        "name": SCHEDULER,
        "game": "bench-game",
        "roomsReplicas": 0,
        "portRange": {"start": 20000, "end": 21000},
        "spec": {
            "terminationGracePeriod": "100s",
            "containers": [{
                "name": "game",
                "image": "registry.example.com/game:1.0.0",
                "ports": [{"name": "game", "protocol": "udp", "port": 7777}]
            }]
        }
    }))
    .expect("a valid scheduler");
    SchedulerStore::create(&sql, &config)
        .await
        .expect("creating the scheduler");
}

/// `settings.rooms` ready single-match rooms spread over `settings.machines`, inserted
/// concurrently.
async fn insert_rooms(settings: &Settings, store: &RedisRoomStore) {
    let now = Utc::now();
    futures::stream::iter(0..settings.rooms)
        .for_each_concurrent(settings.insert_concurrency, |i| {
            let store = store.clone();
            async move {
                let room = GameRoom {
                    machine: machine_of(settings, i),
                    ..common::bench_room(SCHEDULER, room_id(i), RoomStatus::Ready, now)
                };
                store.insert(&room).await.expect("inserting a bench room");
            }
        })
        .await;
}

fn main() {
    let settings = Settings::from_env();
    if std::env::var("BATON_BENCH_SERVE").is_ok_and(|v| v == "1") {
        return serve(&settings.redis_url, settings.server_threads);
    }
    assert!(
        settings.warmup + settings.allocations <= settings.rooms,
        "{} warm-up and {} measured allocations need that many rooms (BATON_BENCH_ROOMS={})",
        settings.warmup,
        settings.allocations,
        settings.rooms
    );
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(bench(settings));
}

async fn bench(settings: Settings) {
    let prefix = format!("baton-bench-{}", uuid::Uuid::new_v4().simple());
    let store = RedisRoomStore::connect(&settings.redis_url, &prefix)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nStart Redis with: redis-server --daemonize yes --bind 127.0.0.1 -::1 \
                 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis \
                 --logfile /var/log/redis/ci.log"
            )
        });
    let mut connection = redis::Client::open(settings.redis_url.as_str())
        .expect("a Redis URL")
        .get_connection_manager()
        .await
        .expect("a Redis connection");
    let started = std::time::Instant::now();
    insert_rooms(&settings, &store).await;
    println!(
        "allocate benchmark: {} ready rooms on {} machines inserted in {:.2} s ({} at a time), \
         concurrency {}, \
         {} warm-up requests per mode, then {:.0} s of EVALSHA, at most {} allocations (at \
         most {:.0} s), redis {} \
         (prefix {prefix}), {} CPUs, server process with {} runtime threads",
        settings.rooms,
        settings.machines,
        started.elapsed().as_secs_f64(),
        settings.insert_concurrency,
        settings.concurrency,
        settings.warmup,
        settings.baseline_duration.as_secs_f64(),
        settings.allocations,
        settings.duration.as_secs_f64(),
        server::config::mask_password(&settings.redis_url),
        cpus(),
        settings.server_threads,
    );

    let mut reports = Vec::new();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return 1")
        .query_async(&mut connection)
        .await
        .expect("SCRIPT LOAD");
    let driver = RawEvalSha {
        connection: connection.clone(),
        sha: sha.clone(),
    };
    let baseline = (u64::MAX, settings.baseline_duration);
    reports.push(
        measure(
            &settings,
            &mut connection,
            None,
            "evalsha",
            (driver, baseline.0, baseline.1),
        )
        .await,
    );
    let client = redis::Client::open(settings.redis_url.as_str()).expect("a Redis URL");
    let mut connections = Vec::with_capacity(settings.concurrency);
    for _ in 0..settings.concurrency {
        let opened = client
            .get_multiplexed_async_connection()
            .await
            .expect("a Redis connection");
        connections.push(Mutex::new(opened));
    }
    let driver = RawEvalShaPerConnection { connections, sha };
    reports.push(
        measure(
            &settings,
            &mut connection,
            None,
            "evalsha-conns",
            (driver, baseline.0, baseline.1),
        )
        .await,
    );

    let sqlite_path = std::env::temp_dir().join(format!("{prefix}.db"));
    prepare_sqlite(&sqlite_path).await;
    let secret = uuid::Uuid::new_v4().to_string();
    let (mut child, addr) = start_server(
        &settings.redis_url,
        settings.server_threads,
        &prefix,
        &secret,
        &sqlite_path,
    )
    .await;
    let mut opened = Vec::with_capacity(settings.concurrency);
    for _ in 0..settings.concurrency {
        let http = HttpConnection::open(addr)
            .await
            .expect("a connection to the server");
        opened.push(Mutex::new(http));
    }
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let driver = HttpAllocate {
        connections: opened,
        host: addr.to_string(),
        authorization: format!("Basic {credentials}"),
        allocated: (0..settings.concurrency)
            .map(|_| std::sync::Mutex::new(Vec::new()))
            .collect(),
    };
    let driver = Arc::new(driver);
    let report = measure(
        &settings,
        &mut connection,
        child.id(),
        "http",
        (
            SharedDriver(driver.clone()),
            settings.allocations,
            settings.duration,
        ),
    )
    .await;
    reports.push(report);

    // Closing its standard input ends the server; kill it if it does not end.
    drop(child.stdin.take());
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }

    // Every allocation (warm-up included) was handed a different room, and the store holds
    // exactly one claim per allocation.
    let allocated: Vec<String> = driver
        .allocated
        .iter()
        .flat_map(|ids| std::mem::take(&mut *ids.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();
    let distinct: HashSet<&String> = allocated.iter().collect();
    let claims = store.claims(SCHEDULER, None).await.expect("the claims");
    let claimed: HashSet<&String> = claims.iter().map(|c| &c.room).collect();
    println!(
        "allocations: {} answered, {} distinct rooms; the store holds {} claims on {} rooms",
        allocated.len(),
        distinct.len(),
        claims.len(),
        claimed.len()
    );
    // Packing: the machines the allocated rooms are on, against the fewest that hold them.
    let machines: HashSet<String> = allocated
        .iter()
        .filter_map(|id| id.strip_prefix("room-")?.parse::<u64>().ok())
        .map(|i| machine_of(&settings, i))
        .collect();
    let per_machine = settings.rooms.div_ceil(settings.machines);
    println!(
        "packing: the allocated rooms are on {} machines; {} rooms a machine fit on {} at least",
        machines.len(),
        per_machine,
        (allocated.len() as u64).div_ceil(per_machine)
    );
    print_table(&settings, &reports);

    let deleted = delete_keys(&mut connection, &prefix).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }
    println!("cleaned up {deleted} keys");
    assert_eq!(
        distinct.len(),
        allocated.len(),
        "DOUBLE ALLOCATION: some room was handed out more than once"
    );
    assert_eq!(
        (claims.len(), claimed.len()),
        (allocated.len(), allocated.len()),
        "the store's claims do not match the allocations answered"
    );
    let failed: u64 = reports.iter().map(|r| r.errors).sum();
    assert_eq!(failed, 0, "some requests failed");
}

/// The HTTP driver, shared so that its room ids can be read after the run.
struct SharedDriver(Arc<HttpAllocate>);

impl Driver for SharedDriver {
    async fn call(&self, worker: usize, n: u64) -> Result<(), String> {
        self.0.call(worker, n).await
    }
}
