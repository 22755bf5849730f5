//! Ping throughput and latency against Redis: `cargo bench -p server --bench ping`.
//!
//! A plain program (no harness). It creates `BATON_BENCH_ROOMS` rooms (default 1,000) under a
//! fresh Redis key prefix and measures, in one run and at the same concurrency
//! (`BATON_BENCH_CONCURRENCY`, default 64):
//!
//! - `set`: raw Redis `SET`s of a ping-sized value, `BATON_BENCH_CONCURRENCY` in flight on one
//!   multiplexed connection (the kind `RedisRoomStore` uses): the ceiling to compare with;
//! - `set-conns`: the same `SET`s over one connection per worker, one request at a time on
//!   each: the request pattern of the HTTP clients below, for comparison;
//! - `store`: `RedisRoomStore::ping` called directly (one `EVALSHA` per ping);
//! - `http`: the real endpoint, `PUT /scheduler/{s}/rooms/{r}/ping` with each room's token, on
//!   the API router (`server::api::router`, backed by `RedisRoomStore`) served by a *separate
//!   process* (this program started again with `BATON_BENCH_SERVE=1`, its own tokio runtime of
//!   `BATON_BENCH_SERVER_THREADS` threads). The client is a minimal HTTP/1.1 client: one
//!   keep-alive connection per worker, one request at a time on each (no pipelining);
//! - `http-rate`: the same endpoint and connections, open loop at `BATON_BENCH_RATE` pings per
//!   second (default 10,000), released in 1 ms batches (the tokio timer's resolution); latency
//!   counts from a request's release, including any wait for a free connection, so a server
//!   that falls behind shows it (no coordinated omission).
//!
//! Closed-loop modes run for `BATON_BENCH_SECONDS` (default 10) or `BATON_BENCH_MAX_REQUESTS`,
//! after one second of unmeasured warm-up. Each ping mode runs each workload of
//! `BATON_BENCH_WORKLOADS` (default `flip,heartbeat`):
//!
//! - `flip`: every ping changes its room's status, ready <-> occupied, and reports running
//!   matches: the script's longest path (HGET, SMOVE, HSET);
//! - `heartbeat`: ready -> ready with only a timestamp, the common case (HGET, HSET).
//!
//! `BATON_BENCH_MODES` picks modes (comma separated, default
//! `set,set-conns,store,http,http-rate`); the ratio columns compare with `set` and `set-conns`.
//! Redis is at `BATON_BENCH_REDIS_URL`, else `BATON_TEST_REDIS_URL`, else 127.0.0.1:6379.
//! CPU per request is reported for Redis (`INFO cpu`), this process (the clients) and the
//! server process, so that where the time goes on a small machine is visible. At the end a
//! Markdown table of every run is printed, every key the run created is deleted and every room
//! must still be counted exactly once.

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::domain::room::{Ping, RoomStatus};
use app::ports::RoomStore;
use chrono::Utc;
use common::{
    CpuMark, Driver, HttpConnection, Samples, Stats, closed_loop, cpus, delete_keys, env_or,
    micros, millis, serve, start_server, thousands,
};
use redis::aio::{ConnectionManager, MultiplexedConnection};
use server::adapters::storage::redis::RedisRoomStore;
use server::room_tokens::RoomTokens;
use tokio::sync::Mutex;

const SCHEDULER: &str = "bench";

/// The allocator of the `server` binary, so that the served endpoint runs as in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Settings {
    redis_url: String,
    rooms: u64,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
    rate: f64,
    server_threads: usize,
    modes: Vec<String>,
    workloads: Vec<Workload>,
}

fn list(name: &str, default: &str) -> Vec<String> {
    env_or(name, default.to_string())
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

impl Settings {
    fn from_env() -> Self {
        let redis_url = common::redis_url();
        Self {
            redis_url,
            rooms: env_or("BATON_BENCH_ROOMS", 1_000u64).max(1),
            concurrency: env_or("BATON_BENCH_CONCURRENCY", 64usize).max(1),
            duration: Duration::from_secs_f64(env_or("BATON_BENCH_SECONDS", 10.0f64)),
            max_requests: env_or("BATON_BENCH_MAX_REQUESTS", u64::MAX),
            rate: env_or("BATON_BENCH_RATE", 10_000.0f64).max(1.0),
            server_threads: env_or("BATON_BENCH_SERVER_THREADS", cpus()).max(1),
            modes: list("BATON_BENCH_MODES", "set,set-conns,store,http,http-rate"),
            workloads: list("BATON_BENCH_WORKLOADS", "flip,heartbeat")
                .iter()
                .map(|w| match w.as_str() {
                    "flip" => Workload::Flip,
                    "heartbeat" => Workload::Heartbeat,
                    other => panic!("unknown workload {other} (use flip, heartbeat)"),
                })
                .collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// Every ping flips its room between ready and occupied and reports running matches.
    Flip,
    /// Ready -> ready, timestamp only.
    Heartbeat,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::Flip => "flip",
            Self::Heartbeat => "heartbeat",
        }
    }

    /// Request `n` pings room `n % rooms`; with `Flip`, alternately ready and occupied on
    /// successive passes (`n` keeps counting across runs, so every ping of a room flips it).
    fn ping(self, n: u64, rooms: u64) -> (u64, Ping) {
        let (status, running_matches) = match self {
            Self::Flip if (n / rooms).is_multiple_of(2) => (RoomStatus::Ready, Some(0)),
            Self::Flip => (RoomStatus::Occupied, Some(1 + (n % 3) as u32)),
            Self::Heartbeat => (RoomStatus::Ready, None),
        };
        let ping = Ping {
            status,
            timestamp: Some(Utc::now().timestamp()),
            metadata: None,
            running_matches,
        };
        (n % rooms, ping)
    }
}

fn room_id(i: u64) -> String {
    format!("room-{i:06}")
}

struct StorePing {
    store: RedisRoomStore,
    rooms: u64,
    workload: Workload,
}

impl Driver for StorePing {
    async fn call(&self, _worker: usize, n: u64) -> Result<(), String> {
        let (i, ping) = self.workload.ping(n, self.rooms);
        match self
            .store
            .ping(SCHEDULER, &room_id(i), &ping, Utc::now())
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(refused)) => Err(refused.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

struct RawSet {
    connection: ConnectionManager,
    prefix: String,
    rooms: u64,
}

impl Driver for RawSet {
    async fn call(&self, _worker: usize, n: u64) -> Result<(), String> {
        let (i, ping) = Workload::Flip.ping(n, self.rooms);
        // The value a flipping ping carries over HTTP.
        let value = serde_json::to_string(&ping).map_err(|e| e.to_string())?;
        redis::cmd("SET")
            .arg(format!("{}:raw:{}", self.prefix, room_id(i)))
            .arg(value)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Raw SETs over one connection per worker, one request at a time on each: the request
/// pattern of the HTTP clients, without HTTP and without the ping's work.
struct RawSetPerConnection {
    connections: Vec<Mutex<MultiplexedConnection>>,
    prefix: String,
    rooms: u64,
}

impl Driver for RawSetPerConnection {
    async fn call(&self, worker: usize, n: u64) -> Result<(), String> {
        let (i, ping) = Workload::Flip.ping(n, self.rooms);
        let value = serde_json::to_string(&ping).map_err(|e| e.to_string())?;
        let mut connection = self.connections[worker % self.connections.len()]
            .lock()
            .await;
        redis::cmd("SET")
            .arg(format!("{}:raw:{}", self.prefix, room_id(i)))
            .arg(value)
            .query_async::<()>(&mut *connection)
            .await
            .map_err(|e| e.to_string())
    }
}

struct HttpPing {
    /// One per worker.
    connections: Arc<Vec<Mutex<HttpConnection>>>,
    host: String,
    /// Each room's token, by room number.
    tokens: Arc<Vec<String>>,
    rooms: u64,
    workload: Workload,
}

impl Driver for HttpPing {
    async fn call(&self, worker: usize, n: u64) -> Result<(), String> {
        let (i, ping) = self.workload.ping(n, self.rooms);
        let mut connection = self.connections[worker % self.connections.len()]
            .lock()
            .await;
        let connection = &mut *connection;
        connection.body.clear();
        serde_json::to_writer(&mut connection.body, &ping).map_err(|e| e.to_string())?;
        connection.request.clear();
        write!(
            connection.request,
            "PUT /scheduler/{SCHEDULER}/rooms/{}/ping HTTP/1.1\r\nHost: {}\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            room_id(i),
            self.host,
            self.tokens[i as usize],
            connection.body.len()
        )
        .map_err(|e| e.to_string())?;
        connection.request.extend_from_slice(&connection.body);
        let (status, body) = connection.round_trip().await?;
        let body = &connection.response[body];
        if status == 200 && body == br#"{"success":true}"# {
            Ok(())
        } else {
            Err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(body).into_owned()
            ))
        }
    }
}

/// Requests released at `rate` per second for `duration`, in 1 ms batches, served by
/// `concurrency` workers; a request's latency counts from its release.
async fn open_loop<D: Driver>(
    driver: Arc<D>,
    next: Arc<AtomicU64>,
    concurrency: usize,
    rate: f64,
    duration: Duration,
) -> (Samples, Duration) {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let receiver = Arc::new(Mutex::new(receiver));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (driver, next, receiver) = (driver.clone(), next.clone(), receiver.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                loop {
                    let released = receiver.lock().await.recv().await;
                    let Some(released) = released else {
                        return samples;
                    };
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let result = driver.call(worker, n).await;
                    samples.record(released.elapsed(), result);
                }
            })
        })
        .collect();
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut released = 0u64;
    while released < total {
        ticks.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(total);
        let now = Instant::now();
        while released < due {
            sender.send(now).expect("the workers are running");
            released += 1;
        }
    }
    drop(sender);
    let mut samples = Samples::default();
    for worker in workers {
        samples.merge(worker.await.expect("a benchmark worker"));
    }
    (samples, started.elapsed())
}

/// One measured run.
struct Report {
    mode: String,
    workload: Option<Workload>,
    /// `64 conc.` or `10,000/s`.
    load: String,
    closed: bool,
    stats: Stats,
}

impl std::ops::Deref for Report {
    type Target = Stats;

    fn deref(&self) -> &Stats {
        &self.stats
    }
}

/// How a mode loads the system.
#[derive(Clone, Copy)]
enum Load {
    Closed,
    Rate(f64),
}

struct Bench<'a> {
    settings: &'a Settings,
    connection: ConnectionManager,
    server_pid: Option<u32>,
}

impl Bench<'_> {
    /// One second of unmeasured closed-loop warm-up (connections, script cache, allocator),
    /// then the measured run.
    async fn measure<D: Driver>(
        &mut self,
        mode: &str,
        workload: Option<Workload>,
        driver: D,
        next: &Arc<AtomicU64>,
        load: Load,
    ) -> Report {
        let settings = self.settings;
        let driver = Arc::new(driver);
        closed_loop(
            driver.clone(),
            next.clone(),
            settings.concurrency,
            Duration::from_secs(1),
            settings.max_requests,
        )
        .await;
        let before = CpuMark::now(&mut self.connection, self.server_pid).await;
        let (samples, elapsed) = match load {
            Load::Closed => {
                closed_loop(
                    driver,
                    next.clone(),
                    settings.concurrency,
                    settings.duration,
                    settings.max_requests,
                )
                .await
            }
            Load::Rate(rate) => {
                open_loop(
                    driver,
                    next.clone(),
                    settings.concurrency,
                    rate,
                    settings.duration,
                )
                .await
            }
        };
        let after = CpuMark::now(&mut self.connection, self.server_pid).await;
        let report = Report {
            mode: mode.to_string(),
            workload,
            load: match load {
                Load::Closed => format!("{} conc.", settings.concurrency),
                Load::Rate(rate) => format!("{}/s", thousands(rate)),
            },
            closed: matches!(load, Load::Closed),
            stats: Stats::of(&samples, elapsed, &before, &after),
        };
        println!(
            "{:<9} {:<9} {:>10}: {}",
            report.mode,
            workload.map_or("-", Workload::name),
            report.load,
            report.summary()
        );
        if let Some(error) = &samples.first_error {
            println!("          first error: {error}");
        }
        report
    }
}

fn print_table(reports: &[Report]) {
    let rate_of = |mode: &str| {
        reports
            .iter()
            .find(|r| r.mode == mode)
            .map(|r| r.per_second())
    };
    // Each ping against the `SET`s sent the same way: pipelined on one connection (the
    // ceiling), and one at a time on each of 64 connections (how game rooms send pings).
    let ratio = |r: &Report, baseline: &str| match rate_of(baseline) {
        Some(base) if r.closed && r.mode != baseline && r.mode != "set" => {
            format!("{:.2}", r.per_second() / base)
        }
        _ => "-".to_string(),
    };
    println!();
    println!(
        "| mode | workload | load | pings/s | p50 ms | p99 ms | max ms | / set | / set-conns | \
         Redis µs/ping | client µs/ping | server µs/ping |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.mode,
            r.workload.map_or("-", Workload::name),
            r.load,
            thousands(r.per_second()),
            millis(r.p50),
            millis(r.p99),
            millis(r.max),
            ratio(r, "set"),
            ratio(r, "set-conns"),
            micros(r.redis_cpu),
            micros(r.client_cpu),
            r.server_cpu.map_or("-".to_string(), micros),
        );
    }
}

fn main() {
    let settings = Settings::from_env();
    if std::env::var("BATON_BENCH_SERVE").is_ok_and(|v| v == "1") {
        return serve(&settings.redis_url, settings.server_threads);
    }
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
    let connection = redis::Client::open(settings.redis_url.as_str())
        .expect("a Redis URL")
        .get_connection_manager()
        .await
        .expect("a Redis connection");

    let now = Utc::now();
    for i in 0..settings.rooms {
        let room = common::bench_room(SCHEDULER, room_id(i), RoomStatus::Pending, now);
        store.insert(&room).await.expect("inserting a bench room");
    }
    println!(
        "ping benchmark: {} rooms, concurrency {}, {:.0} s per run (at most {} requests), \
         open-loop rate {}/s, redis {} (prefix {prefix}), {} CPUs, server process with {} \
         runtime threads",
        settings.rooms,
        settings.concurrency,
        settings.duration.as_secs_f64(),
        settings.max_requests,
        thousands(settings.rate),
        server::config::mask_password(&settings.redis_url),
        cpus(),
        settings.server_threads,
    );

    let secret = uuid::Uuid::new_v4().to_string();
    let room_tokens = RoomTokens::new(secret.clone());
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..settings.rooms)
            .map(|i| room_tokens.issue(SCHEDULER, &room_id(i)))
            .collect(),
    );
    let sqlite_path = std::env::temp_dir().join(format!("{prefix}.db"));
    let mut server: Option<(tokio::process::Child, std::net::SocketAddr)> = None;
    let mut connections: Option<Arc<Vec<Mutex<HttpConnection>>>> = None;
    // Request numbers per workload, kept across runs so that every flip ping flips.
    let flip_next = Arc::new(AtomicU64::new(0));
    let heartbeat_next = Arc::new(AtomicU64::new(0));
    let next_of = |workload: Workload| match workload {
        Workload::Flip => flip_next.clone(),
        Workload::Heartbeat => heartbeat_next.clone(),
    };

    let mut bench = Bench {
        settings: &settings,
        connection: connection.clone(),
        server_pid: None,
    };
    let mut reports = Vec::new();
    for mode in &settings.modes {
        if mode == "set" {
            let driver = RawSet {
                connection: connection.clone(),
                prefix: prefix.clone(),
                rooms: settings.rooms,
            };
            let next = Arc::new(AtomicU64::new(0));
            reports.push(
                bench
                    .measure("set", None, driver, &next, Load::Closed)
                    .await,
            );
            continue;
        }
        if mode == "set-conns" {
            let client = redis::Client::open(settings.redis_url.as_str()).expect("a Redis URL");
            let mut connections = Vec::with_capacity(settings.concurrency);
            for _ in 0..settings.concurrency {
                let connection = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("a Redis connection");
                connections.push(Mutex::new(connection));
            }
            let driver = RawSetPerConnection {
                connections,
                prefix: prefix.clone(),
                rooms: settings.rooms,
            };
            let next = Arc::new(AtomicU64::new(0));
            reports.push(
                bench
                    .measure("set-conns", None, driver, &next, Load::Closed)
                    .await,
            );
            continue;
        }
        for &workload in &settings.workloads {
            let next = next_of(workload);
            let report = match mode.as_str() {
                "store" => {
                    let driver = StorePing {
                        store: store.clone(),
                        rooms: settings.rooms,
                        workload,
                    };
                    bench
                        .measure(mode, Some(workload), driver, &next, Load::Closed)
                        .await
                }
                "http" | "http-rate" => {
                    if server.is_none() {
                        let (child, addr) = start_server(
                            &settings.redis_url,
                            settings.server_threads,
                            &prefix,
                            &secret,
                            &sqlite_path,
                        )
                        .await;
                        bench.server_pid = child.id();
                        let mut opened = Vec::with_capacity(settings.concurrency);
                        for _ in 0..settings.concurrency {
                            let connection = HttpConnection::open(addr)
                                .await
                                .expect("a connection to the server");
                            opened.push(Mutex::new(connection));
                        }
                        connections = Some(Arc::new(opened));
                        server = Some((child, addr));
                    }
                    let addr = server.as_ref().map(|(_, addr)| *addr).expect("a server");
                    let driver = HttpPing {
                        connections: connections.clone().expect("connections"),
                        host: addr.to_string(),
                        tokens: tokens.clone(),
                        rooms: settings.rooms,
                        workload,
                    };
                    let load = if mode == "http" {
                        Load::Closed
                    } else {
                        Load::Rate(settings.rate)
                    };
                    bench
                        .measure(mode, Some(workload), driver, &next, load)
                        .await
                }
                other => {
                    panic!("unknown mode {other} (use set, set-conns, store, http, http-rate)")
                }
            };
            reports.push(report);
        }
    }

    if let Some((mut child, _)) = server {
        // Closing its standard input ends it; kill it if it does not end.
        drop(child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }

    // Every room is still counted exactly once.
    let counts = store.counts(SCHEDULER).await.expect("counts");
    let counted = counts.live() + counts.terminating;
    println!(
        "counts after the run: {counts:?} ({counted} of {} rooms)",
        settings.rooms
    );
    print_table(&reports);

    let mut connection = connection;
    let deleted = delete_keys(&mut connection, &prefix).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }
    println!("cleaned up {deleted} keys");
    assert_eq!(
        counted, settings.rooms,
        "rooms counted more or less than once"
    );
    let failed: u64 = reports.iter().map(|r| r.errors).sum();
    assert_eq!(failed, 0, "some requests failed");
}
