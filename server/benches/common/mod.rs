//! What the benchmarks share: the served API (a separate process), a minimal HTTP/1.1 client,
//! the closed-loop driver, latency samples, CPU readings and the clean-up of Redis keys.
//! Each benchmark uses part of it.
#![allow(dead_code)]

use std::future::{Future, IntoFuture};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::domain::access::HostCommands;
use app::domain::throttle::Throttle;
use app::ports::{RoomStore, SchedulerStore, UserStore};
use app::services::SchedulerService;
use app::services::active::ActiveSchedulers;
use redis::aio::ConnectionManager;
use server::adapters::storage::memory_attempts::MemoryAttemptCounter;
use server::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use server::adapters::storage::redis::RedisRoomStore;
use server::adapters::storage::sql::SqlStore;
use server::api::{self, AppState, auth::Authenticator};
use server::room_tokens::{RoomTokens, TokenlessSchedulers};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A room of `scheduler` at version `v1`, created and changed `now`, in `status` (pinged `now`
/// unless pending), on no machine yet: what the benchmarks insert before they measure.
pub fn bench_room(
    scheduler: &str,
    id: String,
    status: app::domain::room::RoomStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> app::domain::room::GameRoom {
    app::domain::room::GameRoom {
        id,
        scheduler: scheduler.to_string(),
        version: "v1".to_string(),
        status,
        status_reason: None,
        created_at: now,
        status_changed_at: now,
        last_ping_at: (status != app::domain::room::RoomStatus::Pending).then_some(now),
        running_matches: 0,
        metadata: Default::default(),
        address: None,
        region: String::new(),
        machine: String::new(),
    }
}

/// The stores a benchmark starts from: a Redis room store under a fresh key prefix, a plain
/// connection to the same Redis, and a scratch SQLite file named after the prefix (delete it,
/// and the prefix's keys, at the end).
pub struct ScratchStores {
    pub prefix: String,
    pub rooms: RedisRoomStore,
    pub connection: ConnectionManager,
    pub sql: Arc<SqlStore>,
    pub sqlite_path: std::path::PathBuf,
}

pub async fn scratch_stores(redis_url: &str) -> ScratchStores {
    let prefix = format!("baton-bench-{}", uuid::Uuid::new_v4().simple());
    let rooms = RedisRoomStore::connect(redis_url, &prefix)
        .await
        .expect("Redis (see benches/ping.rs for how to start it)");
    let connection = redis::Client::open(redis_url)
        .expect("a Redis URL")
        .get_connection_manager()
        .await
        .expect("a Redis connection");
    let sqlite_path = std::env::temp_dir().join(format!("{prefix}.db"));
    let sql = Arc::new(
        SqlStore::connect(&format!("sqlite://{}?mode=rwc", sqlite_path.display()))
            .await
            .expect("a scratch SQLite database"),
    );
    ScratchStores {
        prefix,
        rooms,
        connection,
        sql,
        sqlite_path,
    }
}

/// The Redis the benchmarks use: `BATON_BENCH_REDIS_URL`, else `BATON_TEST_REDIS_URL`, else
/// 127.0.0.1:6379.
pub fn redis_url() -> String {
    std::env::var("BATON_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("BATON_TEST_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not valid")),
        Err(_) => default,
    }
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One kind of request, made by worker `worker` (which owns a connection, where that matters);
/// `n` numbers the requests and picks the room and the status.
pub trait Driver: Send + Sync + 'static {
    fn call(&self, worker: usize, n: u64) -> impl Future<Output = Result<(), String>> + Send;
}

/// A keep-alive HTTP/1.1 connection, one request at a time; buffers reused across requests.
pub struct HttpConnection {
    pub addr: std::net::SocketAddr,
    pub stream: Option<TcpStream>,
    pub request: Vec<u8>,
    pub body: Vec<u8>,
    pub response: Vec<u8>,
}

impl HttpConnection {
    pub async fn open(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let mut connection = Self {
            addr,
            stream: None,
            request: Vec::with_capacity(512),
            body: Vec::with_capacity(128),
            response: Vec::with_capacity(1024),
        };
        connection.stream = Some(connection.connect().await?);
        Ok(connection)
    }

    async fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Sends `self.request`; the status and the body's range in `self.response`.
    pub async fn round_trip(&mut self) -> Result<(u16, std::ops::Range<usize>), String> {
        if self.stream.is_none() {
            self.stream = Some(self.connect().await.map_err(|e| e.to_string())?);
        }
        let result = self.exchange().await;
        if result.is_err() {
            // Start afresh on the next request.
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self) -> Result<(u16, std::ops::Range<usize>), String> {
        let stream = self.stream.as_mut().expect("a connected stream");
        stream
            .write_all(&self.request)
            .await
            .map_err(|e| e.to_string())?;
        self.response.clear();
        loop {
            if let Some(head_end) = self.response.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.response[..head_end])
                    .map_err(|_| "a response head that is not UTF-8".to_string())?;
                let status: u16 = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("a malformed status line: {head}"))?;
                let length: usize = head
                    .lines()
                    .skip(1)
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.trim()
                            .eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .ok_or_else(|| format!("a response without Content-Length: {head}"))?;
                let end = head_end + 4 + length;
                while self.response.len() < end {
                    read_more(stream, &mut self.response).await?;
                }
                if self.response.len() > end {
                    return Err("bytes after the response".to_string());
                }
                return Ok((status, head_end + 4..end));
            }
            read_more(stream, &mut self.response).await?;
        }
    }
}

pub async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    buffer.reserve(1024);
    match stream.read_buf(buffer).await {
        Ok(0) => Err("the server closed the connection".to_string()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Latencies and errors of one run.
#[derive(Default)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Samples {
    pub fn record(&mut self, latency: Duration, result: Result<(), String>) {
        self.latencies.push(latency);
        if let Err(e) = result {
            self.errors += 1;
            self.first_error.get_or_insert(e);
        }
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// `concurrency` workers call the driver back to back until `duration` has passed or
/// `max_requests` were started.
pub async fn closed_loop<D: Driver>(
    driver: Arc<D>,
    next: Arc<AtomicU64>,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
) -> (Samples, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let issued = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (driver, next, issued) = (driver.clone(), next.clone(), issued.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while issued.fetch_add(1, Ordering::Relaxed) < max_requests
                    && Instant::now() < deadline
                {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    let result = driver.call(worker, n).await;
                    samples.record(t.elapsed(), result);
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for worker in workers {
        samples.merge(worker.await.expect("a benchmark worker"));
    }
    (samples, started.elapsed())
}

pub fn millis(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The API router, backed by `RedisRoomStore`, in this process: the `BATON_BENCH_SERVE=1` side.
/// Prints its address, then serves until its standard input closes (the benchmark ended).
pub fn serve(redis_url: &str, server_threads: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let store = RedisRoomStore::connect(redis_url, &var("BATON_BENCH_PREFIX"))
            .await
            .expect("Redis");
        let sql = Arc::new(
            SqlStore::connect(&format!("sqlite://{}?mode=rwc", var("BATON_BENCH_SQLITE")))
                .await
                .expect("a scratch SQLite database for the API state"),
        );
        let users: Arc<dyn UserStore> = sql.clone();
        let operations: Arc<dyn app::ports::OperationStore> = sql.clone();
        let audit_log: Arc<dyn app::ports::AuditLog> = sql.clone();
        let audit = Arc::new(app::services::audit::AuditTrail::new(audit_log));
        let schedulers: Arc<dyn SchedulerStore> = sql;
        let rooms: Arc<dyn RoomStore> = Arc::new(store);
        let active = Arc::new(ActiveSchedulers::new(Duration::from_secs(5)));
        let service = Arc::new(SchedulerService {
            schedulers,
            rooms: rooms.clone(),
            autoscaling: Arc::new(MemoryAutoscalerStore::default()),
            host: HostCommands::elsewhere(),
            operations,
            caches: vec![active.clone() as Arc<dyn app::ports::SchedulerCache>],
            active,
            wake: None,
            regions: vec![app::domain::region::DEFAULT_REGION.to_string()],
            audit: audit.clone(),
        });
        let authenticator = Arc::new(
            Authenticator::new(
                users.clone(),
                Arc::new(MemoryAttemptCounter::default()),
                Throttle::default(),
            )
            .expect("an authenticator"),
        );
        let state = AppState {
            capacity: Arc::new(app::services::capacity::CapacityService {
                schedulers: service.clone(),
                sources: Default::default(),
                decisions: Arc::new(
                    server::adapters::storage::memory_machine_decisions::MemoryMachineDecisionStore::default(),
                ),
            }),
            schedulers: service,
            rooms,
            auth: authenticator.clone(),
            users: Arc::new(app::services::UserService {
                users,
                passwords: authenticator,
                audit,
            }),
            room_tokens: Arc::new(RoomTokens::new(var("BATON_BENCH_SECRET"))),
            tokenless: Arc::new(TokenlessSchedulers::new(Duration::from_secs(5))),
            forwarding: server::workers::forwarding::Forwarding::off(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        println!("{addr}");
        std::io::stdout().flush().expect("stdout");
        let mut stdin = tokio::io::stdin();
        let mut sink = [0u8; 64];
        tokio::select! {
            served = axum::serve(listener, api::router(state)).into_future() => served.expect("serving"),
            _ = async { while stdin.read(&mut sink).await.is_ok_and(|n| n > 0) {} } => {}
        }
    });
}

/// The server process (this program with `BATON_BENCH_SERVE=1`) and its address.
pub async fn start_server(
    redis_url: &str,
    server_threads: usize,
    prefix: &str,
    secret: &str,
    sqlite_path: &std::path::Path,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("this program"))
        .env("BATON_BENCH_SERVE", "1")
        .env("BATON_BENCH_REDIS_URL", redis_url)
        .env("BATON_BENCH_SERVER_THREADS", server_threads.to_string())
        .env("BATON_BENCH_PREFIX", prefix)
        .env("BATON_BENCH_SECRET", secret)
        .env("BATON_BENCH_SQLITE", sqlite_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the server process");
    let stdout = child.stdout.take().expect("the server's stdout");
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("the server's address");
    let addr = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the server printed {line:?}, not its address"));
    (child, addr)
}

/// CPU time Redis has used (user + system), from `INFO cpu`.
pub async fn redis_cpu(connection: &mut ConnectionManager) -> Duration {
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

/// CPU time a process (`self` or a pid) has used (user + system), from /proc (zero elsewhere).
pub fn process_cpu(pid: &str) -> Duration {
    // Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name, in clock
    // ticks; USER_HZ is 100 on Linux.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
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

pub async fn delete_keys(connection: &mut ConnectionManager, prefix: &str) -> usize {
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

/// CPU time used so far by Redis, this process (the clients) and the server process.
pub struct CpuMark {
    redis: Duration,
    client: Duration,
    server: Option<Duration>,
}

impl CpuMark {
    pub async fn now(connection: &mut ConnectionManager, server_pid: Option<u32>) -> Self {
        Self {
            redis: redis_cpu(connection).await,
            client: process_cpu("self"),
            server: server_pid.map(|pid| process_cpu(&pid.to_string())),
        }
    }
}

/// What one measured run gave: counts, latency percentiles and CPU time per request.
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub redis_cpu: Duration,
    pub client_cpu: Duration,
    pub server_cpu: Option<Duration>,
}

impl Stats {
    /// The run's samples, with the CPU marks taken before and after it.
    pub fn of(samples: &Samples, elapsed: Duration, before: &CpuMark, after: &CpuMark) -> Self {
        let requests = samples.latencies.len() as u64;
        let per_request = |d: Duration| d / requests.max(1) as u32;
        let mut latencies = samples.latencies.clone();
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Self {
            requests,
            errors: samples.errors,
            elapsed,
            p50: at(0.50),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            redis_cpu: per_request(after.redis.saturating_sub(before.redis)),
            client_cpu: per_request(after.client.saturating_sub(before.client)),
            server_cpu: after
                .server
                .zip(before.server)
                .map(|(after, before)| per_request(after.saturating_sub(before))),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// `N requests in T s = R /s   p50 ...   CPU/request: ...`, for one line of output.
    pub fn summary(&self) -> String {
        format!(
            "{:>8} requests in {:>5.2} s = {:>7} /s   p50 {:>6} ms   p99 {:>6} ms   max {:>7} ms   \
             errors {}   CPU/request: redis {} µs, client {} µs{}",
            self.requests,
            self.elapsed.as_secs_f64(),
            thousands(self.per_second()),
            millis(self.p50),
            millis(self.p99),
            millis(self.max),
            self.errors,
            micros(self.redis_cpu),
            micros(self.client_cpu),
            self.server_cpu
                .map_or(String::new(), |s| format!(", server {} µs", micros(s))),
        )
    }
}
