//! One scheduler from 0 to 10,000 rooms on the Kubernetes runtime: `cargo bench -p server
//! --bench scale_up`.
//!
//! A plain program (no harness). The Kubernetes runtime (`KubernetesRuntime`, its client-side
//! limit `ApiLimits` included) talks over HTTP to an API-server double in this process (axum on
//! 127.0.0.1) that answers as a real one would for what room creation uses: namespaces,
//! Secrets (create; the rooms' tokens, in batches of the rooms created together), pods (create,
//! list) and nodes; every request waits a random latency between
//! `BATON_BENCH_LATENCY_MIN_MS` and `BATON_BENCH_LATENCY_MAX_MS` (default 5 and 20) first. A
//! created pod is scheduled onto one of `BATON_BENCH_NODES` nodes (default 100) and its room
//! pings ready (through the Redis room store, as the room's program would) after a random start
//! time between `BATON_BENCH_START_MIN_MS` and `BATON_BENCH_START_MAX_MS` (default 1,000 and
//! 2,000).
//!
//! The health controller (`HealthController::tick_once`, rooms in Redis under a fresh prefix,
//! the scheduler in scratch SQLite) ticks every `BATON_BENCH_TICK_MS` (default 1,000, the
//! server's default) from the moment the scheduler wants `BATON_BENCH_ROOMS` rooms (default
//! 10,000; `maxSurge` `BATON_BENCH_MAX_SURGE`, default 100%). Measured from that decision: when
//! every pod has been created on the API server (submitted), and when every room is ready.
//! The client-side limit is `BATON_BENCH_IN_FLIGHT` calls in flight (default 40) and
//! `BATON_BENCH_CALLS_PER_SECOND` started per second (default 2,000; 0: no rate limit). Target
//! (issue 15): every room submitted within 10 s of the decision.

mod api_server;
#[path = "../common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_server::{ApiServer, SECRET_LIMIT, handle, secret_size};
use app::domain::scheduler::SchedulerConfig;
use app::ports::{RoomStore, SchedulerStore};
use common::{cpus, delete_keys, env_or, millis, process_cpu, thousands};
use serde_json::json;
use server::adapters::runtime::kubernetes::{
    ApiLimits, KubernetesRuntime, KubernetesRuntimeConfig,
};
use server::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use server::room_tokens::RoomTokens;
use server::runtimes::Runtimes;
use server::workers::autoscaler::Autoscaler;
use server::workers::health::{HealthController, TickMemory};
use server::workers::wakeups::Wakeups;

/// The allocator of the `server` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCHEDULER: &str = "scale";
const TARGET: Duration = Duration::from_secs(10);
fn scheduler_config(rooms: u32, max_surge: &str) -> SchedulerConfig {
    serde_json::from_value(json!({
        "name": SCHEDULER, "game": "bench", "roomsReplicas": rooms, "maxSurge": max_surge,
        "portRange": {"start": 10000, "end": 60000},
        "roomTimeouts": {"ping": "3600s", "initialization": "3600s"},
        "spec": {"terminationGracePeriod": "10s", "containers": [{
            "name": "game", "image": "game:1", "command": ["./run"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    }))
    .expect("a scheduler configuration")
}

fn main() {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(bench());
}

async fn bench() {
    let redis_url = common::redis_url();
    let rooms_wanted: u32 = env_or("BATON_BENCH_ROOMS", 10_000u32).max(1);
    let latency = (
        env_or("BATON_BENCH_LATENCY_MIN_MS", 5u64),
        env_or("BATON_BENCH_LATENCY_MAX_MS", 20u64),
    );
    let start = (
        env_or("BATON_BENCH_START_MIN_MS", 1_000u64),
        env_or("BATON_BENCH_START_MAX_MS", 2_000u64),
    );
    let nodes: usize = env_or("BATON_BENCH_NODES", 100usize).max(1);
    let tick = Duration::from_millis(env_or("BATON_BENCH_TICK_MS", 1_000u64).max(50));
    let max_surge: String = env_or("BATON_BENCH_MAX_SURGE", "100%".to_string());
    let in_flight: usize = env_or("BATON_BENCH_IN_FLIGHT", 40usize);
    let per_second: f64 = env_or("BATON_BENCH_CALLS_PER_SECOND", 2_000.0f64);
    let timeout = Duration::from_secs(env_or("BATON_BENCH_TIMEOUT_SECONDS", 300u64));

    let common::ScratchStores {
        prefix,
        rooms: rooms_store,
        mut connection,
        sql,
        sqlite_path,
    } = common::scratch_stores(&redis_url).await;
    SchedulerStore::create(sql.as_ref(), &scheduler_config(rooms_wanted, &max_surge))
        .await
        .expect("storing the scheduler");

    let api = Arc::new(ApiServer {
        latency,
        start,
        nodes,
        expected: u64::from(rooms_wanted),
        cluster: Mutex::default(),
        rooms: rooms_store.clone(),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
        requests: Mutex::default(),
        response_bytes: AtomicU64::new(0),
        pods_created: AtomicU64::new(0),
        decided: Mutex::new(None),
        submitted: Mutex::new(None),
        oversized: AtomicU64::new(0),
        started_pods: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let app = axum::Router::new().fallback(handle).with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut kube_config = kube::Config::new(format!("http://{addr}").parse().expect("a URL"));
    kube_config.default_retry = false;
    let client = kube::Client::try_from(kube_config).expect("a Kubernetes client");
    let limits = ApiLimits::new(in_flight, Some(per_second).filter(|r| *r > 0.0));
    let runtime = KubernetesRuntime::with_config(
        client,
        KubernetesRuntimeConfig {
            limits: limits.clone(),
            ..KubernetesRuntimeConfig::default()
        },
    );
    let runtimes = Arc::new(Runtimes::single(Arc::new(runtime)));
    let rooms: Arc<dyn RoomStore> = Arc::new(rooms_store.clone());
    let controller = Arc::new(HealthController {
        schedulers: sql.clone(),
        rooms: rooms.clone(),
        runtimes: runtimes.clone(),
        autoscaler: Arc::new(Autoscaler::new(
            Arc::new(MemoryAutoscalerStore::default()),
            runtimes,
            Duration::from_secs(60),
        )),
        tokens: Arc::new(RoomTokens::new(uuid::Uuid::new_v4().to_string())),
        api_url: "http://127.0.0.1:1".into(),
        tick,
        operations: sql.clone(),
        leases: sql.clone(),
        holder: "bench".into(),
        lease_ttl: Duration::from_secs(10),
        validation_attempts: 0,
        caches: Vec::new(),
        wakeups: Arc::new(Wakeups::default()),
        metrics: Arc::new(server::observability::Metrics::new(Duration::from_secs(60))),
        machines: None,
    });
    println!(
        "scale-up benchmark: 0 -> {} rooms, maxSurge {max_surge}, API latency {}-{} ms, pod \
         start {}-{} ms, {nodes} nodes, tick {} ms, client limit {} calls in flight and {} \
         calls/s, redis {} (prefix {prefix}), {} CPUs",
        thousands(f64::from(rooms_wanted)),
        latency.0,
        latency.1,
        start.0,
        start.1,
        tick.as_millis(),
        limits.max_in_flight(),
        limits
            .per_second()
            .map_or("unlimited".to_string(), thousands),
        server::config::mask_password(&redis_url),
        cpus(),
    );

    // The decision: from now on the controller sees the scheduler wanting every room.
    let cpu_before = process_cpu("self");
    let decided = Instant::now();
    *api.decided.lock().unwrap_or_else(|e| e.into_inner()) = Some(decided);
    let ticks = {
        let controller = controller.clone();
        tokio::spawn(async move {
            let mut streak = TickMemory::default();
            loop {
                let next = tokio::time::Instant::now() + tick;
                let began = decided.elapsed();
                let result = controller.tick_once(SCHEDULER, &mut streak, &[]).await;
                let took = decided.elapsed() - began;
                println!(
                    "tick at {:>6} ms took {:>7} ms: {}",
                    millis(began),
                    millis(took),
                    match &result {
                        Ok(plan) => format!("created {}", plan.create),
                        Err(e) => format!("failed: {e}"),
                    }
                );
                tokio::time::sleep_until(next).await;
            }
        })
    };
    let mut ready_at = None;
    let mut last_print = Instant::now();
    while decided.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let counts = rooms.counts(SCHEDULER).await.expect("counts");
        if counts.ready >= u64::from(rooms_wanted) {
            ready_at = Some(decided.elapsed());
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(2) {
            last_print = Instant::now();
            println!(
                "  {:>6.1} s: pods created {}, rooms ready {}, in flight now {}",
                decided.elapsed().as_secs_f64(),
                api.pods_created.load(Ordering::SeqCst),
                counts.ready,
                api.in_flight.load(Ordering::SeqCst),
            );
        }
    }
    ticks.abort();
    let cpu = process_cpu("self").saturating_sub(cpu_before);
    let submitted = *api.submitted.lock().unwrap_or_else(|e| e.into_inner());

    // One more tick with every pod running: what a steady tick costs at this size.
    let steady_started = Instant::now();
    let steady = controller
        .tick_once(SCHEDULER, &mut TickMemory::default(), &[])
        .await;
    let steady_took = steady_started.elapsed();

    let (secrets, secret_bytes) = {
        let cluster = api.cluster();
        let largest = cluster.secrets.values().map(secret_size).max();
        (cluster.secrets.len(), largest.unwrap_or(0))
    };
    println!();
    println!("requests the API server answered:");
    for (what, count) in api
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        println!("  {what}: {}", thousands(*count as f64));
    }
    println!(
        "most requests in flight at the API server: {} (limit {}); response bytes {:.0} MB",
        api.most_in_flight.load(Ordering::SeqCst),
        limits.max_in_flight(),
        api.response_bytes.load(Ordering::Relaxed) as f64 / 1e6,
    );
    println!(
        "{} Secrets ({:.1} rooms each on average); the largest holds {} bytes of data ({:.1}% of \
         the {} bytes a real server accepts); writes a real server would have refused: {}",
        thousands(secrets as f64),
        api.pods_created.load(Ordering::SeqCst) as f64 / secrets.max(1) as f64,
        thousands(secret_bytes as f64),
        secret_bytes as f64 * 100.0 / SECRET_LIMIT as f64,
        thousands(SECRET_LIMIT as f64),
        api.oversized.load(Ordering::Relaxed),
    );
    println!(
        "steady tick with {} pods: {} ms ({})",
        thousands(api.pods_created.load(Ordering::SeqCst) as f64),
        millis(steady_took),
        match steady {
            Ok(plan) if plan.is_empty() => "nothing to do".to_string(),
            Ok(plan) => format!("{plan:?}"),
            Err(e) => format!("failed: {e}"),
        }
    );
    println!(
        "process CPU from the decision to all ready: {:.1} s (API-server double included)",
        cpu.as_secs_f64()
    );
    println!();
    println!("| from the decision | time |");
    println!("|---|---:|");
    println!(
        "| all {} pods submitted | {} |",
        thousands(f64::from(rooms_wanted)),
        submitted.map_or("not reached".to_string(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        ))
    );
    println!(
        "| all {} rooms ready | {} |",
        thousands(f64::from(rooms_wanted)),
        ready_at.map_or(format!("not within {} s", timeout.as_secs()), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        ))
    );
    println!();
    match submitted {
        Some(d) if d <= TARGET => println!(
            "target: every room submitted within {} s: met ({:.2} s)",
            TARGET.as_secs(),
            d.as_secs_f64()
        ),
        Some(d) => println!(
            "target: every room submitted within {} s: MISSED by {:.2} s ({:.2} s)",
            TARGET.as_secs(),
            (d - TARGET).as_secs_f64(),
            d.as_secs_f64()
        ),
        None => println!(
            "target: every room submitted within {} s: MISSED (not all submitted)",
            TARGET.as_secs()
        ),
    }

    let deleted = delete_keys(&mut connection, &prefix).await;
    drop(sql);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }
    println!("cleaned up {deleted} keys");
}
