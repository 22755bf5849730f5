//! A long ping soak against Redis: `cargo bench -p server --bench soak`.
//!
//! A plain program (no harness). `BATON_BENCH_ROOMS` rooms (default 10,000) under a fresh Redis
//! key prefix ping the real endpoint, `PUT /scheduler/{s}/rooms/{r}/ping` with each room's
//! token, on the API router (`RedisRoomStore`) served by a *separate process* (this program
//! again with `BATON_BENCH_SERVE=1`), open loop at `BATON_BENCH_RATE` pings per second (default
//! 10,000) for `BATON_BENCH_SECONDS` (default 300), released in 1 ms batches. Ping `n` goes to
//! room `n % rooms`, alternately ready and occupied on successive passes, and carries its
//! sequence number in its metadata (`{"seq": n + 1}`). Each room belongs to one of
//! `BATON_BENCH_CONCURRENCY` workers (default 64; one keep-alive connection each, one request
//! at a time), so a room's pings arrive in order and its last acknowledged ping is well defined.
//! Latency counts from a ping's release, including any queueing behind a slow server.
//!
//! Every `BATON_BENCH_REPORT_SECONDS` (default 30) it prints the window's pings, p50, p99, max
//! and errors, and the server process's resident memory (VmRSS) and CPU. At the end every room
//! is read back from the store: its metadata must carry the sequence number of its last
//! acknowledged ping (or of a later one whose answer failed) and its status must be that ping's:
//! anything older is a lost update. Before the soak, the same rate and room ownership drive raw
//! Redis `HSET`s of the same fields for `BATON_BENCH_BASELINE_SECONDS` (default 30): the
//! baseline the ratio is taken against. All keys are deleted at the end.

mod common;

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::room::{Ping, RoomStatus};
use app::ports::RoomStore;
use chrono::Utc;
use common::{
    HttpConnection, cpus, delete_keys, env_or, millis, process_cpu, serve, start_server, thousands,
};
use redis::aio::MultiplexedConnection;
use server::adapters::storage::redis::RedisRoomStore;
use server::room_tokens::RoomTokens;

const SCHEDULER: &str = "soak";

/// The allocator of the `server` binary, so that the served endpoint runs as in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Settings {
    redis_url: String,
    rooms: u64,
    concurrency: usize,
    duration: Duration,
    rate: f64,
    report_every: Duration,
    baseline: Duration,
    server_threads: usize,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            redis_url: common::redis_url(),
            rooms: env_or("BATON_BENCH_ROOMS", 10_000u64).max(1),
            concurrency: env_or("BATON_BENCH_CONCURRENCY", 64usize).max(1),
            duration: Duration::from_secs_f64(env_or("BATON_BENCH_SECONDS", 300.0f64)),
            rate: env_or("BATON_BENCH_RATE", 10_000.0f64).max(1.0),
            report_every: Duration::from_secs_f64(
                env_or("BATON_BENCH_REPORT_SECONDS", 30.0f64).max(1.0),
            ),
            baseline: Duration::from_secs_f64(env_or("BATON_BENCH_BASELINE_SECONDS", 30.0f64)),
            server_threads: env_or("BATON_BENCH_SERVER_THREADS", cpus()).max(1),
        }
    }
}

fn room_id(i: u64) -> String {
    format!("room-{i:06}")
}

/// What ping `n` says: its room, its status and running matches (flipping on every pass).
fn ping_of(n: u64, rooms: u64) -> (u64, RoomStatus, u32) {
    if (n / rooms).is_multiple_of(2) {
        (n % rooms, RoomStatus::Ready, 0)
    } else {
        (n % rooms, RoomStatus::Occupied, 1)
    }
}

/// Per room, the sequence number of the last ping sent and of the last one acknowledged
/// (0: none).
struct Ledger {
    sent: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
}

impl Ledger {
    fn new(rooms: u64) -> Self {
        Self {
            sent: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Latencies (µs) and errors since the last report, and all latencies of the run.
#[derive(Default)]
struct Window {
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Default)]
struct Recorder {
    window: Mutex<Window>,
    all: Mutex<Vec<u32>>,
    errors: AtomicU64,
}

impl Recorder {
    fn record(&self, latency: Duration, result: Result<(), String>) {
        let micros = latency.as_micros().min(u32::MAX as u128) as u32;
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.latencies.push(micros);
        if let Err(e) = result {
            window.errors += 1;
            self.errors.fetch_add(1, Ordering::Relaxed);
            window.first_error.get_or_insert(e);
        }
    }

    /// The window so far, started afresh; its latencies are kept for the whole run.
    fn take(&self) -> Window {
        let window = std::mem::take(&mut *self.window.lock().unwrap_or_else(|e| e.into_inner()));
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(&window.latencies);
        window
    }
}

/// `(p50, p99, max)` of latencies in µs.
fn percentiles(latencies: &mut [u32]) -> (Duration, Duration, Duration) {
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        Duration::from_micros(latencies.get(i).copied().unwrap_or_default() as u64)
    };
    (at(0.5), at(0.99), at(1.0))
}

/// One worker's way of sending ping `n` (its connection is its own).
trait Sender: Send + 'static {
    fn send(&mut self, n: u64) -> impl Future<Output = Result<(), String>> + Send;
}

struct HttpPinger {
    connection: HttpConnection,
    host: String,
    tokens: Arc<Vec<String>>,
    rooms: u64,
    ledger: Arc<Ledger>,
}

impl Sender for HttpPinger {
    async fn send(&mut self, n: u64) -> Result<(), String> {
        let (room, status, matches) = ping_of(n, self.rooms);
        let seq = n + 1;
        let ping = Ping {
            status,
            timestamp: None,
            metadata: Some([("seq".to_string(), serde_json::json!(seq))].into()),
            running_matches: Some(matches),
        };
        let connection = &mut self.connection;
        connection.body.clear();
        serde_json::to_writer(&mut connection.body, &ping).map_err(|e| e.to_string())?;
        connection.request.clear();
        write!(
            connection.request,
            "PUT /scheduler/{SCHEDULER}/rooms/{}/ping HTTP/1.1\r\nHost: {}\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            room_id(room),
            self.host,
            self.tokens[room as usize],
            connection.body.len()
        )
        .map_err(|e| e.to_string())?;
        connection.request.extend_from_slice(&connection.body);
        self.ledger.sent[room as usize].store(seq, Ordering::SeqCst);
        let (code, body) = connection.round_trip().await?;
        let body = &connection.response[body];
        if code == 200 && body == br#"{"success":true}"# {
            self.ledger.acked[room as usize].store(seq, Ordering::SeqCst);
            Ok(())
        } else {
            Err(format!(
                "HTTP {code}: {}",
                String::from_utf8_lossy(body).into_owned()
            ))
        }
    }
}

/// The baseline: the same fields written with one raw `HSET` per ping.
struct RawHset {
    connection: MultiplexedConnection,
    prefix: String,
    rooms: u64,
}

impl Sender for RawHset {
    async fn send(&mut self, n: u64) -> Result<(), String> {
        let (room, status, matches) = ping_of(n, self.rooms);
        redis::cmd("HSET")
            .arg(format!("{}:raw:{}", self.prefix, room_id(room)))
            .arg("status")
            .arg(status.to_string())
            .arg("metadata")
            .arg(format!("{{\"seq\":{}}}", n + 1))
            .arg("running_matches")
            .arg(matches)
            .arg("last_ping_at")
            .arg(Utc::now().timestamp_millis())
            .query_async::<()>(&mut self.connection)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A window's line, kept for the final table.
struct Row {
    at: Duration,
    pings: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: u64,
    rss_mb: f64,
    server_cpu: f64,
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix("VmRSS:")?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Pings released at `rate` per second for `duration` in 1 ms batches; ping `n` goes to the
/// worker owning room `n % rooms`. With a server pid, a line every `report_every`.
async fn open_loop<S: Sender>(
    senders: Vec<S>,
    settings: &Settings,
    duration: Duration,
    server: Option<u32>,
) -> (Arc<Recorder>, Vec<Row>, Duration) {
    let recorder = Arc::new(Recorder::default());
    let workers = senders.len();
    let mut queues = Vec::with_capacity(workers);
    let mut tasks = Vec::with_capacity(workers);
    for mut sender in senders {
        let (queue, mut released) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
        queues.push(queue);
        let recorder = recorder.clone();
        tasks.push(tokio::spawn(async move {
            while let Some((n, at)) = released.recv().await {
                let result = sender.send(n).await;
                recorder.record(at.elapsed(), result);
            }
        }));
    }
    let started = Instant::now();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reporter = server.map(|pid| {
        let (recorder, every) = (recorder.clone(), settings.report_every);
        tokio::spawn(async move {
            let mut rows = Vec::new();
            let mut cpu = process_cpu(&pid.to_string());
            let mut last = Instant::now();
            let mut done = false;
            while !done {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = &mut stopped => done = true,
                }
                let mut window = recorder.take();
                let (p50, p99, max) = percentiles(&mut window.latencies);
                let now_cpu = process_cpu(&pid.to_string());
                let row = Row {
                    at: started.elapsed(),
                    pings: window.latencies.len(),
                    p50,
                    p99,
                    max,
                    errors: window.errors,
                    rss_mb: rss_mb(pid),
                    server_cpu: (now_cpu.saturating_sub(cpu)).as_secs_f64()
                        / last.elapsed().as_secs_f64(),
                };
                (cpu, last) = (now_cpu, Instant::now());
                println!(
                    "{:>5.0} s: {:>7} pings  p50 {:>6} ms  p99 {:>7} ms  max {:>8} ms  errors {}  \
                     server RSS {:.0} MB  server CPU {:.0}%",
                    row.at.as_secs_f64(),
                    thousands(row.pings as f64),
                    millis(row.p50),
                    millis(row.p99),
                    millis(row.max),
                    row.errors,
                    row.rss_mb,
                    row.server_cpu * 100.0,
                );
                if let Some(error) = window.first_error {
                    println!("        first error: {error}");
                }
                rows.push(row);
            }
            rows
        })
    });
    let total = (settings.rate * duration.as_secs_f64()).round() as u64;
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut released = 0u64;
    while released < total {
        ticks.tick().await;
        let due = ((started.elapsed().as_secs_f64() * settings.rate) as u64).min(total);
        let now = Instant::now();
        while released < due {
            let worker = ((released % settings.rooms) % workers as u64) as usize;
            queues[worker]
                .send((released, now))
                .expect("the workers are running");
            released += 1;
        }
    }
    drop(queues);
    for task in tasks {
        task.await.expect("a benchmark worker");
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let rows = match reporter {
        Some(reporter) => reporter.await.expect("the reporter"),
        None => Vec::new(),
    };
    // What is left of the last window joins the whole run's latencies.
    recorder.take();
    (recorder, rows, elapsed)
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
        .expect("Redis (see benches/ping.rs for how to start it)");
    let client = redis::Client::open(settings.redis_url.as_str()).expect("a Redis URL");
    let mut connection = client
        .get_connection_manager()
        .await
        .expect("a Redis connection");
    let now = Utc::now();
    for i in 0..settings.rooms {
        let room = common::bench_room(SCHEDULER, room_id(i), RoomStatus::Pending, now);
        store.insert(&room).await.expect("inserting a soak room");
    }
    println!(
        "soak: {} rooms, {}/s for {:.0} s ({} pings), {} workers, baseline {:.0} s, redis {} \
         (prefix {prefix}), {} CPUs, server process with {} runtime threads",
        thousands(settings.rooms as f64),
        thousands(settings.rate),
        settings.duration.as_secs_f64(),
        thousands(settings.rate * settings.duration.as_secs_f64()),
        settings.concurrency,
        settings.baseline.as_secs_f64(),
        server::config::mask_password(&settings.redis_url),
        cpus(),
        settings.server_threads,
    );

    // The baseline: raw HSETs at the same rate, one connection per worker.
    let mut baseline_p99 = None;
    if !settings.baseline.is_zero() {
        let mut senders = Vec::with_capacity(settings.concurrency);
        for _ in 0..settings.concurrency {
            senders.push(RawHset {
                connection: client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("a Redis connection"),
                prefix: prefix.clone(),
                rooms: settings.rooms,
            });
        }
        let (recorder, _, elapsed) = open_loop(senders, &settings, settings.baseline, None).await;
        let mut all = std::mem::take(&mut *recorder.all.lock().unwrap_or_else(|e| e.into_inner()));
        let (p50, p99, max) = percentiles(&mut all);
        println!(
            "baseline raw HSET: {} writes in {:.1} s, p50 {} ms, p99 {} ms, max {} ms, errors {}",
            thousands(all.len() as f64),
            elapsed.as_secs_f64(),
            millis(p50),
            millis(p99),
            millis(max),
            recorder.errors.load(Ordering::Relaxed),
        );
        baseline_p99 = Some(p99);
    }

    let secret = uuid::Uuid::new_v4().to_string();
    let room_tokens = RoomTokens::new(secret.clone());
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..settings.rooms)
            .map(|i| room_tokens.issue(SCHEDULER, &room_id(i)))
            .collect(),
    );
    let sqlite_path = std::env::temp_dir().join(format!("{prefix}.db"));
    let (mut child, addr) = start_server(
        &settings.redis_url,
        settings.server_threads,
        &prefix,
        &secret,
        &sqlite_path,
    )
    .await;
    let pid = child.id().expect("the server's pid");
    let ledger = Arc::new(Ledger::new(settings.rooms));
    let mut senders = Vec::with_capacity(settings.concurrency);
    for _ in 0..settings.concurrency {
        senders.push(HttpPinger {
            connection: HttpConnection::open(addr)
                .await
                .expect("a connection to the server"),
            host: addr.to_string(),
            tokens: tokens.clone(),
            rooms: settings.rooms,
            ledger: ledger.clone(),
        });
    }
    println!("server RSS before the soak: {:.0} MB", rss_mb(pid));
    let (recorder, rows, elapsed) =
        open_loop(senders, &settings, settings.duration, Some(pid)).await;
    let rss_after = rss_mb(pid);
    drop(child.stdin.take());
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }

    // Every room's last state against its last acknowledged ping.
    let (mut lost, mut wrong_status, mut unacked_applied) = (0u64, 0u64, 0u64);
    let mut first_lost = None;
    for i in 0..settings.rooms {
        let room = store
            .get(SCHEDULER, &room_id(i))
            .await
            .expect("reading a room back");
        let stored = room
            .metadata
            .get("seq")
            .and_then(|seq| seq.as_u64())
            .unwrap_or(0);
        let acked = ledger.acked[i as usize].load(Ordering::SeqCst);
        let sent = ledger.sent[i as usize].load(Ordering::SeqCst);
        if stored < acked || stored > sent {
            lost += 1;
            first_lost.get_or_insert(format!(
                "{}: stored seq {stored}, last acknowledged {acked}, last sent {sent}",
                room_id(i)
            ));
        } else if stored > acked {
            unacked_applied += 1;
        }
        if stored > 0 && room.status != ping_of(stored - 1, settings.rooms).1 {
            wrong_status += 1;
        }
    }
    let counts = store.counts(SCHEDULER).await.expect("counts");

    let mut all = std::mem::take(&mut *recorder.all.lock().unwrap_or_else(|e| e.into_inner()));
    let errors = recorder.errors.load(Ordering::Relaxed);
    let (p50, p99, max) = percentiles(&mut all);
    println!();
    println!("| at | pings | p50 ms | p99 ms | max ms | errors | server RSS MB | server CPU |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {:.0} s | {} | {} | {} | {} | {} | {:.0} | {:.0}% |",
            row.at.as_secs_f64(),
            thousands(row.pings as f64),
            millis(row.p50),
            millis(row.p99),
            millis(row.max),
            row.errors,
            row.rss_mb,
            row.server_cpu * 100.0,
        );
    }
    println!();
    println!(
        "soak: {} pings in {:.1} s = {}/s, p50 {} ms, p99 {} ms, max {} ms, errors {errors}; \
         server RSS at the end {rss_after:.0} MB",
        thousands(all.len() as f64),
        elapsed.as_secs_f64(),
        thousands(all.len() as f64 / elapsed.as_secs_f64()),
        millis(p50),
        millis(p99),
        millis(max),
    );
    if let Some(base) = baseline_p99 {
        println!(
            "p99 against raw Redis HSET at the same rate: {} ms vs {} ms = {:.1}x",
            millis(p99),
            millis(base),
            p99.as_secs_f64() / base.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "rooms checked: {}, lost updates: {lost}, status not the last ping's: {wrong_status}, \
         unacknowledged pings applied: {unacked_applied}; counts {counts:?}",
        thousands(settings.rooms as f64)
    );
    if let Some(first) = &first_lost {
        println!("first lost update: {first}");
    }

    let deleted = delete_keys(&mut connection, &prefix).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }
    println!("cleaned up {deleted} keys");
    assert_eq!(lost, 0, "lost updates");
    assert_eq!(
        wrong_status, 0,
        "rooms whose status is not their last ping's"
    );
    assert_eq!(
        counts.live() + counts.terminating,
        settings.rooms,
        "rooms counted more or less than once"
    );
}
