//! The health controller's tick over many schedulers: `cargo bench -p server --bench health_tick`.
//!
//! A plain program (no harness). It stores `BATON_BENCH_SCHEDULERS` schedulers (default 1,000)
//! in a scratch SQLite database, each wanting `BATON_BENCH_ROOMS` rooms (default 100), with
//! their rooms in Redis under a fresh key prefix (`RedisRoomStore`). The first tick creates every
//! room through the controller's own creation path on a runtime that only remembers what it was
//! asked to run; every room then pings ready through the store. Then it measures
//! `BATON_BENCH_TICKS` full ticks (default 10): the supervisor's listing of the schedulers'
//! heads, then `HealthController::tick_once` for every scheduler, `BATON_BENCH_CONCURRENCY`
//! schedulers at a time (default 64), as the per-scheduler tasks run them concurrently in the
//! server. Every measured tick must plan nothing (steady state).
//!
//! Printed per full tick: the CPU time of this process (the controller's side: user + system,
//! from /proc/self/stat), Redis's CPU time (`INFO cpu`) and the wall time; and this process's
//! resident memory (VmRSS, VmHWM). The baseline, in the same run: raw Redis reading every
//! room (`SMEMBERS` of each scheduler's room set, then one pipeline of `HGETALL`s: what a tick
//! read before it kept its listing, `RoomStore::list_for_tick`), at the same concurrency. Targets (issue 15): under 100 ms CPU per tick and
//! under 300 MB RSS. Every key the run created is deleted at the end.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::room::{Ping, RoomStatus};
use app::domain::scheduler::{EnvironmentVariable, Scheduler, SchedulerConfig};
use app::ports::{
    InstanceEvent, InstanceUsage, RoomInstance, RoomStore, Runtime, RuntimeError, SchedulerStore,
};
use app::services::active::{ActiveSchedulers, CachedSchedulerStore};
use async_trait::async_trait;
use chrono::Utc;
use common::{cpus, delete_keys, env_or, millis, process_cpu, redis_cpu, thousands};
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::aio::ConnectionManager;
use server::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use server::room_tokens::RoomTokens;
use server::runtimes::Runtimes;
use server::workers::autoscaler::Autoscaler;
use server::workers::health::{HealthController, TickMemory};
use server::workers::wakeups::Wakeups;

/// The allocator of the `server` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CPU_TARGET: Duration = Duration::from_millis(100);
const RSS_TARGET_MB: f64 = 300.0;

/// A runtime that runs nothing: it remembers the instances it was asked for and lists them.
#[derive(Default)]
struct NoopRuntime {
    instances: Mutex<HashMap<String, Vec<RoomInstance>>>,
}

#[async_trait]
impl Runtime for NoopRuntime {
    async fn create_instance(
        &self,
        scheduler: &Scheduler,
        room: &str,
        _env: &[EnvironmentVariable],
    ) -> Result<RoomInstance, RuntimeError> {
        let instance = RoomInstance {
            scheduler: scheduler.config.name.clone(),
            room: room.to_string(),
            version: scheduler.version.clone(),
            address: None,
            machine: None,
            crashed: None,
        };
        self.instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(scheduler.config.name.clone())
            .or_default()
            .push(instance.clone());
        Ok(instance)
    }

    async fn delete_instance(&self, scheduler: &Scheduler, room: &str) -> Result<(), RuntimeError> {
        if let Some(instances) = self
            .instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&scheduler.config.name)
        {
            instances.retain(|i| i.room != room);
        }
        Ok(())
    }

    async fn instances(&self, scheduler: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
        Ok(self
            .instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(scheduler)
            .cloned()
            .unwrap_or_default())
    }

    fn watch(&self, _: &str) -> BoxStream<'static, InstanceEvent> {
        Box::pin(futures::stream::pending())
    }

    async fn usage(&self, _: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError> {
        self.instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(scheduler);
        Ok(())
    }
}

/// A line of /proc/self/status in MB (`VmRSS`, `VmHWM`); zero elsewhere.
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn scheduler_name(i: usize) -> String {
    format!("sched{i:04}")
}

fn scheduler_config(name: &str, rooms: u32) -> SchedulerConfig {
    serde_json::from_value(serde_json::json!({
        "name": name, "game": "bench", "roomsReplicas": rooms, "maxSurge": "100%",
        // The measured ticks must not time rooms out, however slow the machine.
        "roomTimeouts": {"ping": "3600s", "initialization": "3600s"},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "game:1", "command": ["./run"]}]}
    }))
    .expect("a scheduler configuration")
}

/// One full tick's cost.
struct Measured {
    cpu: Duration,
    redis: Duration,
    wall: Duration,
}

async fn measure<F, Fut>(connection: &mut ConnectionManager, pass: F) -> Measured
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (cpu, redis) = (process_cpu("self"), redis_cpu(connection).await);
    let started = Instant::now();
    pass().await;
    let wall = started.elapsed();
    Measured {
        cpu: process_cpu("self").saturating_sub(cpu),
        redis: redis_cpu(connection).await.saturating_sub(redis),
        wall,
    }
}

fn mean(runs: &[Measured], f: impl Fn(&Measured) -> Duration) -> Duration {
    runs.iter().map(f).sum::<Duration>() / runs.len().max(1) as u32
}

fn main() {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(bench());
}

async fn bench() {
    let redis_url = common::redis_url();
    let schedulers: usize = env_or("BATON_BENCH_SCHEDULERS", 1_000usize).max(1);
    let rooms_each: u32 = env_or("BATON_BENCH_ROOMS", 100u32).max(1);
    let ticks: usize = env_or("BATON_BENCH_TICKS", 10usize).max(1);
    let concurrency: usize = env_or("BATON_BENCH_CONCURRENCY", 64usize).max(1);
    let common::ScratchStores {
        prefix,
        rooms: rooms_store,
        mut connection,
        sql,
        sqlite_path,
    } = common::scratch_stores(&redis_url).await;
    println!(
        "health tick benchmark: {schedulers} schedulers x {rooms_each} rooms = {} rooms, \
         {ticks} measured full ticks, {concurrency} schedulers at a time, redis {} (prefix \
         {prefix}), {} CPUs",
        thousands((schedulers * rooms_each as usize) as f64),
        server::config::mask_password(&redis_url),
        cpus(),
    );
    let rss_start = memory_mb("VmRSS");

    let names: Vec<String> = (0..schedulers).map(scheduler_name).collect();
    for name in &names {
        SchedulerStore::create(sql.as_ref(), &scheduler_config(name, rooms_each))
            .await
            .expect("storing a scheduler");
    }
    let runtime = Arc::new(NoopRuntime::default());
    let runtimes = Arc::new(Runtimes::single(runtime.clone()));
    let rooms: Arc<dyn RoomStore> = Arc::new(rooms_store.clone());
    // As the server does: the active version of each scheduler from memory, remembered 5 s
    // (`BATON_BENCH_SCHEDULER_CACHE=0`: read from SQLite every tick).
    let remembered = env_or("BATON_BENCH_SCHEDULER_CACHE", 1u8) != 0;
    let schedulers_read: Arc<dyn SchedulerStore> = if remembered {
        Arc::new(CachedSchedulerStore::new(
            sql.clone(),
            Arc::new(ActiveSchedulers::new(Duration::from_secs(5))),
        ))
    } else {
        sql.clone()
    };
    println!(
        "schedulers read {}",
        if remembered {
            "from memory (remembered 5 s, as the server does)"
        } else {
            "from SQLite every tick (BATON_BENCH_SCHEDULER_CACHE=0)"
        }
    );
    let controller = Arc::new(HealthController {
        schedulers: schedulers_read,
        rooms: rooms.clone(),
        runtimes: runtimes.clone(),
        autoscaler: Arc::new(Autoscaler::new(
            Arc::new(MemoryAutoscalerStore::default()),
            runtimes,
            Duration::from_secs(60),
        )),
        tokens: Arc::new(RoomTokens::new(uuid::Uuid::new_v4().to_string())),
        api_url: "http://127.0.0.1:1".into(),
        tick: Duration::from_secs(1),
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
    let streaks: Arc<Vec<tokio::sync::Mutex<TickMemory>>> = Arc::new(
        (0..schedulers)
            .map(|_| tokio::sync::Mutex::new(TickMemory::default()))
            .collect(),
    );
    // One full tick: every scheduler once; answers how many planned actions there were.
    let full_tick = |concurrency: usize| {
        let (controller, streaks, names) = (controller.clone(), streaks.clone(), names.clone());
        async move {
            // The supervisor's listing, once per tick as in the server: the heads alone, which
            // confirm what the ticks remember of each scheduler.
            let heads = controller.schedulers.heads().await.expect("the heads");
            assert_eq!(heads.len(), names.len(), "every scheduler listed");
            futures::stream::iter(names.iter().enumerate())
                .map(|(i, name)| {
                    let (controller, streaks) = (controller.clone(), streaks.clone());
                    async move {
                        let mut streak = streaks[i].lock().await;
                        let plan = controller
                            .tick_once(name, &mut streak, &[])
                            .await
                            .unwrap_or_else(|e| panic!("tick of {name}: {e}"));
                        plan.create as usize
                            + plan.remove.len()
                            + plan.forget.len()
                            + plan.orphans.len()
                            + plan.start.len()
                    }
                })
                .buffer_unordered(concurrency)
                .fold(0usize, |sum, n| async move { sum + n })
                .await
        }
    };

    // The creating tick, then every room pings ready.
    let started = Instant::now();
    let planned = full_tick(concurrency).await;
    println!(
        "creating tick: {} actions in {:.1} s",
        thousands(planned as f64),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut all_rooms = Vec::new();
    for name in &names {
        for room in rooms.list(name).await.expect("listing rooms") {
            all_rooms.push((name.clone(), room.id));
        }
    }
    assert_eq!(
        all_rooms.len(),
        schedulers * rooms_each as usize,
        "the creating tick made every room"
    );
    let ready = Ping {
        status: RoomStatus::Ready,
        timestamp: None,
        metadata: None,
        running_matches: Some(0),
    };
    futures::stream::iter(all_rooms.iter())
        .map(|(scheduler, id)| {
            let (rooms, ready) = (rooms.clone(), &ready);
            async move {
                rooms
                    .ping(scheduler, id, ready, Utc::now())
                    .await
                    .expect("Redis")
                    .expect("a ready ping accepted");
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>()
        .await;
    println!(
        "{} rooms pinged ready in {:.1} s",
        thousands(all_rooms.len() as f64),
        started.elapsed().as_secs_f64()
    );
    drop(all_rooms);

    // Two unmeasured steady ticks (caches, connections, every scheduler's state turning
    // in-sync), then the measured ones.
    // Few at a time: this tick turns every scheduler's state (one SQLite write each), and 64
    // writers at once can wait past SQLite's busy timeout on the scratch database.
    let warm = full_tick(4).await;
    assert_eq!(warm, 0, "the warm-up tick planned nothing");
    let settled = full_tick(concurrency).await;
    assert_eq!(settled, 0, "the second warm-up tick planned nothing");
    let mut runs = Vec::new();
    for i in 0..ticks {
        let mut planned = 0;
        let run = measure(&mut connection, || async {
            planned = full_tick(concurrency).await
        })
        .await;
        println!(
            "tick {}: CPU {} ms (this process), Redis CPU {} ms, wall {} ms, planned {planned}, \
             RSS {:.0} MB",
            i + 1,
            millis(run.cpu),
            millis(run.redis),
            millis(run.wall),
            memory_mb("VmRSS"),
        );
        assert_eq!(planned, 0, "a steady tick planned something");
        runs.push(run);
    }

    // The baseline: the same room keys, read raw.
    let rooms_key = |name: &str| format!("{prefix}:{{{name}}}:rooms");
    let room_key = |name: &str, id: &str| format!("{prefix}:{{{name}}}:room:{id}");
    let raw = connection.clone();
    let mut baselines = Vec::new();
    for i in 0..ticks {
        let run = measure(&mut connection, || async {
            let read: usize = futures::stream::iter(names.iter())
                .map(|name| {
                    let mut connection = raw.clone();
                    let (rooms_key, room_key) = (&rooms_key, &room_key);
                    async move {
                        let ids: Vec<String> = redis::cmd("SMEMBERS")
                            .arg(rooms_key(name))
                            .query_async(&mut connection)
                            .await
                            .expect("SMEMBERS");
                        let mut pipe = redis::pipe();
                        for id in &ids {
                            pipe.cmd("HGETALL").arg(room_key(name, id));
                        }
                        let all: Vec<HashMap<String, String>> =
                            pipe.query_async(&mut connection).await.expect("HGETALLs");
                        all.len()
                    }
                })
                .buffer_unordered(concurrency)
                .fold(0usize, |sum, n| async move { sum + n })
                .await;
            assert_eq!(read, schedulers * rooms_each as usize, "every room read");
        })
        .await;
        println!(
            "raw SMEMBERS+HGETALL pass {}: CPU {} ms (this process), Redis CPU {} ms, wall {} ms",
            i + 1,
            millis(run.cpu),
            millis(run.redis),
            millis(run.wall),
        );
        baselines.push(run);
    }

    // What each scheduler's task and the supervisor call besides `tick_once` (SQL; SQLite here),
    // measured apart, one pass each: a lease renewal per scheduler (what each task did once a
    // third of the TTL had passed: every 3.3 s at the default 10 s; now only when the
    // supervisor's renewal fails), the supervisor's renewal of every lease in one statement
    // (`Leases::renew_held`, as often), the read of a scheduler's
    // unfinished operations per scheduler (what each task read every tick before; now only
    // those the supervisor's query names, none here), and that query (once a tick).
    let passes = ticks.min(3);
    let mut renewals = Vec::new();
    let mut batch_renewals = Vec::new();
    let mut operation_reads = Vec::new();
    let mut busy_reads = Vec::new();
    for _ in 0..passes {
        renewals.push(
            measure(&mut connection, || async {
                futures::stream::iter(names.iter())
                    .map(|name| {
                        let controller = controller.clone();
                        async move {
                            let now = Utc::now();
                            let lease = server::workers::health::lease_name(name);
                            let until = now + chrono::Duration::seconds(10);
                            let held = controller
                                .leases
                                .acquire(&lease, &controller.holder, now, until)
                                .await
                                .expect("renewing a lease");
                            assert!(held, "the bench holds every lease");
                        }
                    })
                    .buffer_unordered(concurrency)
                    .collect::<Vec<()>>()
                    .await;
            })
            .await,
        );
        batch_renewals.push(
            measure(&mut connection, || async {
                let now = Utc::now();
                let renewed = controller
                    .leases
                    .renew_held(&controller.holder, now, now + chrono::Duration::seconds(10))
                    .await
                    .expect("renewing the leases");
                assert_eq!(renewed.len(), names.len(), "the bench holds every lease");
            })
            .await,
        );
        operation_reads.push(
            measure(&mut connection, || async {
                futures::stream::iter(names.iter())
                    .map(|name| {
                        let controller = controller.clone();
                        async move {
                            let unfinished = controller
                                .operations
                                .unfinished(name)
                                .await
                                .expect("reading the operations");
                            assert!(unfinished.is_empty(), "no operation in the bench");
                        }
                    })
                    .buffer_unordered(concurrency)
                    .collect::<Vec<()>>()
                    .await;
            })
            .await,
        );
        busy_reads.push(
            measure(&mut connection, || async {
                let busy = controller
                    .operations
                    .busy_schedulers()
                    .await
                    .expect("reading the busy schedulers");
                assert!(busy.is_empty(), "no operation in the bench");
            })
            .await,
        );
    }

    let (rss, hwm) = (memory_mb("VmRSS"), memory_mb("VmHWM"));
    let tick_cpu = mean(&runs, |r| r.cpu);
    let raw_cpu = mean(&baselines, |r| r.cpu);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!();
    println!("| per full tick (mean of its passes) | CPU ms (process) | Redis CPU ms | wall ms |");
    println!("|---|---:|---:|---:|");
    for (what, runs) in [
        (
            format!("health tick (`tick_once` per scheduler, {concurrency} at a time)"),
            &runs,
        ),
        (
            format!("raw SMEMBERS + HGETALL pipeline, same keys, {concurrency} at a time"),
            &baselines,
        ),
        (
            "a lease renewal per scheduler (SQLite; a task's own, when the batch fails)"
                .to_string(),
            &renewals,
        ),
        (
            "every lease renewed in one statement (SQLite; the supervisor, every 3.3 s)"
                .to_string(),
            &batch_renewals,
        ),
        (
            "a read of unfinished operations per scheduler (SQLite; read only when busy)"
                .to_string(),
            &operation_reads,
        ),
        (
            "the supervisor's query of the busy schedulers (SQLite; once a tick)".to_string(),
            &busy_reads,
        ),
    ] {
        println!(
            "| {what} | {} | {} | {} |",
            millis(mean(runs, |r| r.cpu)),
            millis(mean(runs, |r| r.redis)),
            millis(mean(runs, |r| r.wall)),
        );
    }
    println!();
    println!(
        "CPU per full tick: {} ms (target < {} ms: {}), {:.1}x the raw read of the same keys",
        millis(tick_cpu),
        CPU_TARGET.as_millis(),
        if tick_cpu < CPU_TARGET {
            "met"
        } else {
            "MISSED"
        },
        ratio(tick_cpu, raw_cpu),
    );
    println!(
        "RSS: {rss:.0} MB now, {hwm:.0} MB peak, {rss_start:.0} MB at start (target < \
         {RSS_TARGET_MB:.0} MB: {})",
        if hwm < RSS_TARGET_MB { "met" } else { "MISSED" },
    );

    let deleted = delete_keys(&mut connection, &prefix).await;
    drop(sql);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }
    println!("cleaned up {deleted} keys");
}
