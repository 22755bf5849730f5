//! Two real Baton processes on one PostgreSQL and one Redis, sharing a rooms folder (the local
//! runtime), behind a failover proxy that stands in for a load balancer. A rolling update runs
//! on the process that holds the scheduler's lease; that process is killed with SIGKILL in the
//! middle of it; the other one takes the scheduler over within the lease TTL plus a tick and
//! finishes the operation: exactly the wanted rooms, no room made twice, no room process left
//! behind. And two processes sharing Redis never hand one room's capacity out twice.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use app::domain::room::{GameRoom, RoomStatus};
use app::ports::RoomStore;
use chrono::{DateTime, Utc};
use common::rooms::{example_room, processes_with};
use common::{ADMIN_PASSWORD, Backend, RedisKeys, TestDb};
use serde_json::{Value, json};
use server::adapters::storage::redis::RedisRoomStore;
use tokio::net::{TcpListener, TcpStream};

const TICK_MS: u64 = 200;
const LEASE_TTL_MS: u64 = 2_000;

/// One Baton process, killed when dropped.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Cluster {
    db: TestDb,
    redis: RedisKeys,
    rooms_dir: PathBuf,
    api_url: String,
    client: reqwest::Client,
}

impl Cluster {
    fn start_replica(&self, port: u16, log: &str) -> Replica {
        self.start_replica_ticking(port, log, TICK_MS)
    }

    fn start_replica_ticking(&self, port: u16, log: &str, tick_ms: u64) -> Replica {
        let log = std::fs::File::create(std::env::temp_dir().join(log)).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &self.db.url])
            .args(["--redis-url", &self.redis.url])
            .args(["--redis-prefix", &self.redis.prefix])
            .args(["--admin-password", ADMIN_PASSWORD])
            .args(["--runtime", "local"])
            .arg("--local-rooms-dir")
            .arg(&self.rooms_dir)
            .args(["--api-url", &self.api_url])
            .args(["--health-tick-ms", &tick_ms.to_string()])
            .args(["--lease-ttl-ms", &LEASE_TTL_MS.to_string()])
            .args(["--validation-attempts", "2"])
            .args(["--site-root", "target/site"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("the server binary starts");
        Replica {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn call(
        &self,
        replica: &Replica,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", replica.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD));
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    async fn get(&self, replica: &Replica, path: &str) -> Value {
        let (status, body) = self.call(replica, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path} on {}: {body}", replica.url);
        body
    }

    async fn wait_up(&self, replica: &Replica) {
        let started = Instant::now();
        while self
            .call(replica, reqwest::Method::GET, "/schedulers", None)
            .await
            .0
            != 200
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not start",
                replica.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A TCP proxy that sends each connection to the first backend that accepts it: what a load
/// balancer in front of the replicas does for the rooms' pings.
async fn failover_proxy(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a proxy port");
    let addr = listener.local_addr().expect("the proxy address");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let backends = backends.clone();
            tokio::spawn(async move {
                for backend in backends {
                    if let Ok(mut outbound) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn fleet(rooms: u32) -> Value {
    json!({
        "name": "fleet", "game": "g", "roomsReplicas": rooms, "maxSurge": "20%",
        "portRange": {"start": 46000, "end": 46100},
        "roomTimeouts": {"ping": "5s", "initialization": "20s", "termination": "5s"},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    })
}

fn events(operation: &Value) -> Vec<(DateTime<Utc>, String)> {
    operation["executionHistory"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["createdAt"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_default(),
                e["event"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_rollout_is_taken_over_and_the_rollout_finishes_exactly() {
    let ports = (free_port(), free_port());
    let proxy = failover_proxy(vec![
        SocketAddr::from(([127, 0, 0, 1], ports.0)),
        SocketAddr::from(([127, 0, 0, 1], ports.1)),
    ])
    .await;
    let cluster = Cluster {
        db: TestDb::new(Backend::Postgres).await,
        redis: RedisKeys::new(),
        rooms_dir: std::env::temp_dir()
            .join(format!("baton-replicas-{}", uuid::Uuid::new_v4().simple())),
        api_url: format!("http://{proxy}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };
    let _cleanup = KillRooms(cluster.rooms_dir.clone());
    let a = cluster.start_replica(ports.0, "baton-replica-a.log");
    cluster.wait_up(&a).await;
    let b = cluster.start_replica(ports.1, "baton-replica-b.log");
    cluster.wait_up(&b).await;
    let replicas = [a, b];

    // Schedulers are created through either replica.
    let (status, created) = cluster
        .call(
            &replicas[0],
            reqwest::Method::POST,
            "/schedulers?wait=10s",
            Some(&fleet(10)),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let mut bystander = fleet(1);
    bystander["name"] = json!("bystander");
    bystander["portRange"] = json!({"start": 46200, "end": 46300});
    let (status, body) = cluster
        .call(
            &replicas[1],
            reqwest::Method::POST,
            "/schedulers?wait=10s",
            Some(&bystander),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut watch = |rooms: &Value| -> Vec<Value> {
        let rooms = rooms["rooms"].as_array().cloned().unwrap_or_default();
        for room in &rooms {
            seen.entry(room["id"].as_str().unwrap_or_default().to_string())
                .or_default()
                .insert(room["version"].as_str().unwrap_or_default().to_string());
        }
        rooms
    };
    let started = Instant::now();
    loop {
        let rooms = watch(&cluster.get(&replicas[1], "/schedulers/fleet/rooms").await);
        if rooms.len() == 10 && rooms.iter().all(|r| r["status"] == "ready") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "10 ready rooms: {rooms:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A new major version, through the other replica; the leader runs it. Its rooms take a
    // second to turn ready, so the rolling update takes several seconds (waves of 2).
    let mut v2 = fleet(10);
    v2["spec"]["containers"][0]["environment"][0]["value"] = json!("1.0");
    let (status, queued) = cluster
        .call(
            &replicas[1],
            reqwest::Method::POST,
            "/schedulers/fleet",
            Some(&v2),
        )
        .await;
    assert_eq!(status, 200, "{queued}");
    let id = queued["operationId"].as_str().unwrap().to_string();
    let path = format!("/schedulers/fleet/operations/{id}");

    // In the middle of the rolling update, kill the leader.
    let started = Instant::now();
    let holder = loop {
        watch(&cluster.get(&replicas[1], "/schedulers/fleet/rooms").await);
        let operation = cluster.get(&replicas[1], &path).await["operation"].clone();
        let rolling = events(&operation)
            .iter()
            .any(|(_, e)| e.contains("rooms of older versions left to replace"));
        if rolling {
            let started_by = events(&operation)
                .iter()
                .find_map(|(_, e)| e.strip_prefix("Started by ").map(String::from))
                .expect("the operation names its runner");
            break started_by;
        }
        assert!(
            operation["status"] == "pending" || operation["status"] == "in_progress",
            "the rolling update ended before it was seen: {operation:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "{operation:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (leader, survivor) = if holder.contains(&replicas[0].url["http://".len()..]) {
        (0, 1)
    } else {
        (1, 0)
    };
    let mut replicas = replicas.map(Some);
    let mut killed = replicas[leader].take().expect("the leader");
    unsafe { libc::kill(killed.child.id() as i32, libc::SIGKILL) };
    let _ = killed.child.wait();
    let killed_at = Utc::now();
    let survivor = replicas[survivor].take().expect("the survivor");

    let finished = loop {
        watch(&cluster.get(&survivor, "/schedulers/fleet/rooms").await);
        let operation = cluster.get(&survivor, &path).await["operation"].clone();
        if operation["status"] != "in_progress" {
            break operation;
        }
        assert!(
            (Utc::now() - killed_at).num_seconds() < 60,
            "the survivor did not finish: {operation:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished["status"], "finished", "{finished:#}");
    let history = events(&finished);
    let resumed_at = history
        .iter()
        .find(|(_, e)| e.starts_with("Resumed by"))
        .map(|(at, _)| *at)
        .unwrap_or_else(|| panic!("the survivor resumed the operation: {history:?}"));
    let takeover = (resumed_at - killed_at).num_milliseconds();
    println!(
        "takeover after SIGKILL: {takeover} ms (lease TTL {LEASE_TTL_MS} ms, tick {TICK_MS} ms); \
         operation finished {} ms after the kill",
        (Utc::now() - killed_at).num_milliseconds()
    );
    // One tick of slack for when the survivor's tick fell, one for scheduling on this machine.
    assert!(
        takeover <= (LEASE_TTL_MS + 2 * TICK_MS) as i64,
        "takeover took {takeover} ms"
    );

    // Exactly ten ready rooms of v2, one process each; nothing else of the fleet runs.
    let started = Instant::now();
    loop {
        let rooms = watch(&cluster.get(&survivor, "/schedulers/fleet/rooms").await);
        let ids: Vec<String> = rooms
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_string())
            .collect();
        let exact = rooms.len() == 10
            && rooms
                .iter()
                .all(|r| r["status"] == "ready" && r["version"] == "v2");
        // This test's room processes (their HOME is under its rooms folder).
        let processes: Vec<i32> = processes_with("MAESTRO_SCHEDULER_NAME", "fleet")
            .into_iter()
            .filter(|pid| home_of(*pid).starts_with(&cluster.rooms_dir))
            .collect();
        let one_each = ids
            .iter()
            .all(|id| processes.iter().filter(|pid| room_of(**pid) == *id).count() == 1);
        if exact && one_each && processes.len() == 10 {
            break;
        }
        let strays: Vec<String> = processes
            .iter()
            .map(|pid| room_of(*pid))
            .filter(|id| !ids.contains(id))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "rooms {ids:?} ({} exact: {exact}), {} fleet processes, not in the store: {strays:?}",
            rooms.len(),
            processes.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // No room id was ever seen with two versions (an id made twice would be).
    for (id, versions) in &seen {
        assert_eq!(versions.len(), 1, "room {id} had versions {versions:?}");
    }
    // The bystander kept its room, and the survivor serves it.
    let rooms = cluster.get(&survivor, "/schedulers/bystander/rooms").await;
    assert_eq!(rooms["rooms"].as_array().map(Vec::len), Some(1));
    drop(survivor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_redis_hand_each_room_out_once() {
    let cluster = Cluster {
        db: TestDb::new(Backend::Postgres).await,
        redis: RedisKeys::new(),
        rooms_dir: std::env::temp_dir()
            .join(format!("baton-replicas-{}", uuid::Uuid::new_v4().simple())),
        api_url: "http://127.0.0.1:9".into(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
    };
    let _cleanup = KillRooms(cluster.rooms_dir.clone());
    // No health ticks: the rooms below are put in the store, with no process behind them.
    let a = cluster.start_replica_ticking(free_port(), "baton-alloc-a.log", 3_600_000);
    let b = cluster.start_replica_ticking(free_port(), "baton-alloc-b.log", 3_600_000);
    cluster.wait_up(&a).await;
    cluster.wait_up(&b).await;
    let mut pool = fleet(0);
    pool["name"] = json!("pool");
    let (status, body) = cluster
        .call(
            &a,
            reqwest::Method::POST,
            "/schedulers?wait=10s",
            Some(&pool),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let store = RedisRoomStore::connect(&cluster.redis.url, &cluster.redis.prefix)
        .await
        .expect("the replicas' Redis");
    let now = Utc::now();
    for i in 0..200 {
        let room = GameRoom {
            id: format!("pool-{i:03}"),
            scheduler: "pool".into(),
            version: "v1".into(),
            status: RoomStatus::Ready,
            status_reason: None,
            created_at: now,
            status_changed_at: now,
            last_ping_at: Some(now),
            running_matches: 0,
            metadata: Default::default(),
            address: None,
            region: String::new(),
            machine: String::new(),
        };
        store.insert(&room).await.expect("a ready room");
    }

    // 1,000 matchmaker calls at once, half through each process.
    let replicas = Arc::new([a, b]);
    let cluster = Arc::new(cluster);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let (replicas, cluster) = (replicas.clone(), cluster.clone());
        calls.spawn(async move {
            cluster
                .call(
                    &replicas[i % 2],
                    reqwest::Method::POST,
                    "/scheduler/pool/rooms/allocate",
                    Some(&json!({})),
                )
                .await
        });
    }
    let mut handed = Vec::new();
    let mut refused = 0;
    while let Some(call) = calls.join_next().await {
        let (status, body) = call.expect("a call");
        assert_eq!(status, 200, "{body}");
        if body["success"] == true {
            handed.push(body["roomId"].as_str().unwrap_or_default().to_string());
        } else {
            refused += 1;
        }
    }
    let distinct: BTreeSet<&String> = handed.iter().collect();
    assert_eq!(handed.len(), 200, "every room handed out once");
    assert_eq!(distinct.len(), 200, "no room handed out twice");
    assert_eq!(refused, 800);
}

/// The room a process belongs to (its `MAESTRO_ROOM_ID`).
fn room_of(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"MAESTRO_ROOM_ID="))
        .map(|id| String::from_utf8_lossy(id).into_owned())
        .unwrap_or_default()
}

/// A process's `HOME`.
fn home_of(pid: i32) -> PathBuf {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"HOME="))
        .map(|home| PathBuf::from(String::from_utf8_lossy(home).into_owned()))
        .unwrap_or_default()
}

/// Kills every room process recorded under the folder when the test ends.
struct KillRooms(PathBuf);

impl Drop for KillRooms {
    fn drop(&mut self) {
        server::adapters::runtime::local::kill_recorded_rooms(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
