//! Ping throughput against Redis: `cargo bench -p server --bench ping`.
//!
//! A plain program (no harness). It creates `BATON_BENCH_ROOMS` rooms under a fresh key prefix,
//! then runs each mode with `BATON_BENCH_CONCURRENCY` workers for at most
//! `BATON_BENCH_SECONDS` seconds or `BATON_BENCH_MAX_REQUESTS` requests:
//!
//! - `http`: the real ping endpoint, `PUT /scheduler/{s}/rooms/{r}/ping` with each room's token,
//!   on the API router (`server::api::router`) served on a loopback port 0, backed by
//!   `RedisRoomStore`;
//! - `store`: `RedisRoomStore::ping` called directly (one EVALSHA per ping);
//! - `set`: raw Redis `SET`s on the same kind of connection, the ceiling to compare with.
//!
//! `BATON_BENCH_MODES` picks modes (comma separated, default `http,store,set`); Redis is at
//! `BATON_BENCH_REDIS_URL`, else `BATON_TEST_REDIS_URL`, else 127.0.0.1:6379. Every key the run
//! created is deleted at the end. Each ping flips its room between ready and occupied, so every
//! ping takes the script's status-change path (the most work a ping does).
//!
//! A mode is a `Driver`: one request numbered `n`. Adding one is a type and a line in `main`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::domain::room::{GameRoom, Ping, RoomStatus};
use app::ports::{RoomStore, SchedulerStore, UserStore};
use chrono::Utc;
use redis::aio::ConnectionManager;
use server::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use server::adapters::storage::redis::RedisRoomStore;
use server::adapters::storage::sql::SqlStore;
use server::api::{self, AppState, auth::Authenticator};
use server::room_tokens::RoomTokens;

const SCHEDULER: &str = "bench";

struct Settings {
    redis_url: String,
    rooms: u64,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
    modes: Vec<String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not valid")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        let redis_url = std::env::var("BATON_BENCH_REDIS_URL")
            .or_else(|_| std::env::var("BATON_TEST_REDIS_URL"))
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
        Self {
            redis_url,
            rooms: env_or("BATON_BENCH_ROOMS", 1_000u64).max(1),
            concurrency: env_or("BATON_BENCH_CONCURRENCY", 64usize).max(1),
            duration: Duration::from_secs_f64(env_or("BATON_BENCH_SECONDS", 10.0f64)),
            max_requests: env_or("BATON_BENCH_MAX_REQUESTS", 200_000u64),
            modes: env_or("BATON_BENCH_MODES", "http,store,set".to_string())
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
        }
    }
}

/// One kind of request; `n` numbers the requests of a run (it picks the room and the status).
trait Driver: Send + Sync + 'static {
    fn call(&self, n: u64) -> impl Future<Output = Result<(), String>> + Send;
}

fn room_id(i: u64) -> String {
    format!("room-{i:06}")
}

/// Request `n` pings room `n % rooms`, alternating ready and occupied on each pass.
fn ping_of(n: u64, rooms: u64) -> (String, Ping) {
    let status = if (n / rooms).is_multiple_of(2) {
        RoomStatus::Ready
    } else {
        RoomStatus::Occupied
    };
    let ping = Ping {
        status,
        timestamp: Some(Utc::now().timestamp()),
        metadata: None,
        running_matches: Some((n % 4) as u32),
    };
    (room_id(n % rooms), ping)
}

struct StorePing {
    store: RedisRoomStore,
    rooms: u64,
}

impl Driver for StorePing {
    async fn call(&self, n: u64) -> Result<(), String> {
        let (id, ping) = ping_of(n, self.rooms);
        self.store
            .ping(SCHEDULER, &id, &ping, Utc::now())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

struct RawSet {
    connection: ConnectionManager,
    prefix: String,
    rooms: u64,
}

impl Driver for RawSet {
    async fn call(&self, n: u64) -> Result<(), String> {
        let (id, ping) = ping_of(n, self.rooms);
        let value = serde_json::to_string(&ping).map_err(|e| e.to_string())?;
        redis::cmd("SET")
            .arg(format!("{}:raw:{id}", self.prefix))
            .arg(value)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| e.to_string())
    }
}

struct HttpPing {
    client: reqwest::Client,
    base_url: String,
    /// Each room's token, by room number.
    tokens: Vec<String>,
    rooms: u64,
}

impl Driver for HttpPing {
    async fn call(&self, n: u64) -> Result<(), String> {
        let (id, ping) = ping_of(n, self.rooms);
        let response = self
            .client
            .put(format!(
                "{}/scheduler/{SCHEDULER}/rooms/{id}/ping",
                self.base_url
            ))
            .bearer_auth(&self.tokens[(n % self.rooms) as usize])
            .json(&ping)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            // Read the body so that the connection goes back to the pool.
            response.bytes().await.map_err(|e| e.to_string())?;
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!("HTTP {status}: {body}"))
        }
    }
}

struct Report {
    /// CPU time per request: Redis (INFO cpu) and this process (client, and server in http mode).
    redis_cpu: Duration,
    own_cpu: Duration,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Report {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// `concurrency` workers call the driver until `duration` has passed or `max_requests` were
/// started.
async fn run<D: Driver>(
    driver: Arc<D>,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
) -> Report {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let driver = driver.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    let result = driver.call(n).await;
                    latencies.push(t.elapsed());
                    if let Err(e) = result {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        let (l, e, f) = worker.await.expect("a benchmark worker");
        latencies.extend(l);
        errors += e;
        first_error = first_error.or(f);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Report {
        redis_cpu: Duration::ZERO,
        own_cpu: Duration::ZERO,
        requests: latencies.len() as u64,
        errors,
        first_error,
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

/// A short unmeasured run (connections, script cache, allocator), then the measured one.
async fn measure<D: Driver>(
    name: &str,
    driver: D,
    settings: &Settings,
    connection: &mut ConnectionManager,
) -> Report {
    let driver = Arc::new(driver);
    let warmup = (settings.max_requests / 20).clamp(1, 5_000);
    run(
        driver.clone(),
        settings.concurrency,
        Duration::from_secs(2),
        warmup,
    )
    .await;
    let (redis_before, own_before) = (redis_cpu(connection).await, own_cpu());
    let mut report = run(
        driver,
        settings.concurrency,
        settings.duration,
        settings.max_requests,
    )
    .await;
    let per_request = |d: Duration| d / report.requests.max(1) as u32;
    report.redis_cpu = per_request(redis_cpu(connection).await.saturating_sub(redis_before));
    report.own_cpu = per_request(own_cpu().saturating_sub(own_before));
    println!(
        "{name:<6} {:>8} requests in {:>6.2} s  {:>10.0} /s   p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   errors {}",
        report.requests,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        report.p50.as_secs_f64() * 1e3,
        report.p99.as_secs_f64() * 1e3,
        report.max.as_secs_f64() * 1e3,
        report.errors,
    );
    println!(
        "       CPU per request: redis {:>6.2} µs, this process {:>6.2} µs",
        report.redis_cpu.as_secs_f64() * 1e6,
        report.own_cpu.as_secs_f64() * 1e6,
    );
    if let Some(error) = &report.first_error {
        println!("       first error: {error}");
    }
    report
}

/// The API router on loopback port 0, rooms in `store`; the base URL and each room's token.
async fn start_api(
    store: RedisRoomStore,
    rooms: u64,
    sqlite_path: &std::path::Path,
) -> (String, Vec<String>) {
    let sql = Arc::new(
        SqlStore::connect(&format!("sqlite://{}?mode=rwc", sqlite_path.display()))
            .await
            .expect("a scratch SQLite database for the API state"),
    );
    let users: Arc<dyn UserStore> = sql.clone();
    let schedulers: Arc<dyn SchedulerStore> = sql;
    let room_tokens = Arc::new(RoomTokens::new(uuid::Uuid::new_v4().to_string()));
    let tokens = (0..rooms)
        .map(|i| room_tokens.issue(SCHEDULER, &room_id(i)))
        .collect();
    let state = AppState {
        schedulers,
        rooms: Arc::new(store),
        autoscaling: Arc::new(MemoryAutoscalerStore::default()),
        history: Default::default(),
        auth: Arc::new(Authenticator::new(users).expect("an authenticator")),
        room_tokens,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    (format!("http://{addr}"), tokens)
}

/// CPU time Redis has used (user + system), from `INFO cpu`.
async fn redis_cpu(connection: &mut ConnectionManager) -> Duration {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(connection)
        .await
        .expect("INFO cpu");
    let seconds: f64 = info
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| matches!(*name, "used_cpu_user" | "used_cpu_sys"))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum();
    Duration::from_secs_f64(seconds)
}

/// CPU time this process has used (user + system), from /proc (zero elsewhere).
fn own_cpu() -> Duration {
    // Fields 14 and 15 of /proc/self/stat, after the parenthesised command name, in clock
    // ticks; USER_HZ is 100 on Linux.
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

async fn delete_keys(connection: &mut ConnectionManager, prefix: &str) -> usize {
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            deleted += keys.len();
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(connection)
                .await
                .expect("UNLINK");
        }
        if next == 0 {
            return deleted;
        }
        cursor = next;
    }
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_env();
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

    let now = Utc::now();
    for i in 0..settings.rooms {
        let room = GameRoom {
            id: room_id(i),
            scheduler: SCHEDULER.to_string(),
            version: "v1".to_string(),
            status: RoomStatus::Pending,
            created_at: now,
            status_changed_at: now,
            last_ping_at: None,
            running_matches: 0,
            metadata: Default::default(),
            address: None,
        };
        store.insert(&room).await.expect("inserting a bench room");
    }
    println!(
        "ping benchmark: {} rooms, concurrency {}, at most {:.0} s or {} requests per mode, \
         redis {} (prefix {prefix}), {} CPUs",
        settings.rooms,
        settings.concurrency,
        settings.duration.as_secs_f64(),
        settings.max_requests,
        server::config::mask_password(&settings.redis_url),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let sqlite_path = std::env::temp_dir().join(format!("{prefix}.db"));
    let mut reports = Vec::new();
    for mode in &settings.modes {
        let report = match mode.as_str() {
            "http" => {
                let (base_url, tokens) =
                    start_api(store.clone(), settings.rooms, &sqlite_path).await;
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(settings.concurrency)
                    .build()
                    .expect("an HTTP client");
                let driver = HttpPing {
                    client,
                    base_url,
                    tokens,
                    rooms: settings.rooms,
                };
                measure("http", driver, &settings, &mut connection).await
            }
            "store" => {
                let driver = StorePing {
                    store: store.clone(),
                    rooms: settings.rooms,
                };
                measure("store", driver, &settings, &mut connection).await
            }
            "set" => {
                let driver = RawSet {
                    connection: connection.clone(),
                    prefix: prefix.clone(),
                    rooms: settings.rooms,
                };
                measure("set", driver, &settings, &mut connection).await
            }
            other => panic!("unknown mode {other} (use http, store, set)"),
        };
        reports.push((mode.clone(), report));
    }

    // Every room is still counted exactly once.
    let counts = store.counts(SCHEDULER).await.expect("counts");
    let counted = counts.live() + counts.terminating;
    println!(
        "counts after the run: {counts:?} ({counted} of {} rooms)",
        settings.rooms
    );

    if let Some((_, set)) = reports.iter().find(|(m, _)| m == "set") {
        for (mode, report) in reports.iter().filter(|(m, _)| m != "set") {
            println!(
                "{mode} / raw SET throughput: {:.2}",
                report.per_second() / set.per_second()
            );
        }
    }

    let deleted = delete_keys(&mut connection, &prefix).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }
    println!("cleaned up {deleted} keys");
    assert_eq!(
        counted, settings.rooms,
        "rooms counted more or less than once"
    );
    let failed: u64 = reports.iter().map(|(_, r)| r.errors).sum();
    assert_eq!(failed, 0, "some requests failed");
}
