//! The controller over fake runtimes in two regions: each region gets its share; a region whose
//! runtime does not answer keeps its rooms untouched while the other takes its share; recovery
//! brings the split back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::{EnvironmentVariable, Scheduler, SchedulerConfig};
use app::ports::{
    InstanceEvent, InstanceUsage, Leases, RoomInstance, RoomStore, Runtime, RuntimeError,
    SchedulerStore, StoreError,
};
use async_trait::async_trait;
use futures::stream::BoxStream;

use super::{HealthController, TickMemory};
use crate::adapters::storage::memory::MemoryRoomStore;
use crate::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use crate::adapters::storage::sql::SqlStore;
use crate::room_tokens::RoomTokens;
use crate::runtimes::{RegionRuntime, Runtimes};
use crate::workers::autoscaler::Autoscaler;
use crate::workers::wakeups::Wakeups;

/// Instances in memory; `instances()` fails while `down` is set; with `slots`, no more than
/// that many instances start (`NoCapacity`). With `slow`, a creation takes a few milliseconds;
/// `at_once` (when not zero) is how many creations it takes at once; `most_creating` is how many
/// were ever under way together.
#[derive(Default)]
struct FakeRuntime {
    instances: Mutex<HashMap<String, RoomInstance>>,
    down: AtomicBool,
    slots: Mutex<Option<usize>>,
    slow: AtomicBool,
    at_once: AtomicUsize,
    creating: AtomicUsize,
    most_creating: AtomicUsize,
}

impl FakeRuntime {
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.instances.lock().unwrap().keys().cloned().collect();
        ids.sort();
        ids
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn create_instance(
        &self,
        scheduler: &Scheduler,
        room: &str,
        _env: &[EnvironmentVariable],
    ) -> Result<RoomInstance, RuntimeError> {
        let creating = self.creating.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_creating.fetch_max(creating, Ordering::SeqCst);
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.creating.fetch_sub(1, Ordering::SeqCst);
        let slots = *self.slots.lock().unwrap();
        if slots.is_some_and(|slots| self.instances.lock().unwrap().len() >= slots) {
            return Err(RuntimeError::NoCapacity(
                "a new payload would break this host's safety limits: MemoryMB".into(),
            ));
        }
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
            .unwrap()
            .insert(room.to_string(), instance.clone());
        Ok(instance)
    }

    async fn delete_instance(&self, _: &Scheduler, room: &str) -> Result<(), RuntimeError> {
        self.instances.lock().unwrap().remove(room);
        Ok(())
    }

    async fn instances(&self, _: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(RuntimeError::Unavailable("connection refused".into()));
        }
        Ok(self.instances.lock().unwrap().values().cloned().collect())
    }

    fn watch(&self, _: &str) -> BoxStream<'static, InstanceEvent> {
        Box::pin(futures::stream::pending())
    }

    async fn usage(&self, _: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn remove_scheduler(&self, _: &str) -> Result<(), RuntimeError> {
        self.instances.lock().unwrap().clear();
        Ok(())
    }

    fn creations_at_once(&self) -> usize {
        match self.at_once.load(Ordering::SeqCst) {
            0 => 1,
            n => n,
        }
    }
}

struct Setup {
    controller: HealthController,
    rooms: Arc<dyn RoomStore>,
    eu: Arc<FakeRuntime>,
    us: Arc<FakeRuntime>,
    db: std::path::PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.db);
    }
}

async fn setup(regions: serde_json::Value, replicas: i64) -> Setup {
    setup_with(regions, replicas, serde_json::json!({})).await
}

/// `extra`'s fields are added to the scheduler.
async fn setup_with(regions: serde_json::Value, replicas: i64, extra: serde_json::Value) -> Setup {
    setup_on(
        regions,
        replicas,
        extra,
        Arc::new(MemoryRoomStore::default()),
    )
    .await
}

/// `setup_with` on the room store `rooms`.
async fn setup_on(
    regions: serde_json::Value,
    replicas: i64,
    extra: serde_json::Value,
    rooms: Arc<dyn RoomStore>,
) -> Setup {
    let db = std::env::temp_dir().join(format!("baton-health-{}.db", uuid::Uuid::new_v4()));
    let store = Arc::new(
        SqlStore::connect(&format!("sqlite://{}?mode=rwc", db.display()))
            .await
            .unwrap(),
    );
    let mut body = serde_json::json!({
        "name": "arena", "game": "g", "roomsReplicas": replicas, "regions": regions,
        "maxSurge": "100%",
        "portRange": {"start": 20000, "end": 21000},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "game:1", "command": ["./run"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    for (key, value) in extra.as_object().into_iter().flatten() {
        body[key] = value.clone();
    }
    let config: SchedulerConfig = serde_json::from_value(body).unwrap();
    SchedulerStore::create(store.as_ref(), &config)
        .await
        .unwrap();
    let (eu, us) = (
        Arc::new(FakeRuntime::default()),
        Arc::new(FakeRuntime::default()),
    );
    let runtimes = Arc::new(Runtimes::new(
        vec![
            RegionRuntime {
                name: "eu".into(),
                region: "eu-west".into(),
                runtime: eu.clone(),
            },
            RegionRuntime {
                name: "us".into(),
                region: "us-east".into(),
                runtime: us.clone(),
            },
        ],
        0,
    ));
    let controller = HealthController {
        schedulers: store.clone(),
        rooms: rooms.clone(),
        runtimes: runtimes.clone(),
        autoscaler: Arc::new(Autoscaler::new(
            Arc::new(MemoryAutoscalerStore::default()),
            runtimes,
            // Every tick is an autoscaling period (schedulers with a policy judge at once).
            Duration::from_millis(1),
        )),
        tokens: Arc::new(RoomTokens::new("secret")),
        api_url: "http://127.0.0.1:1".into(),
        tick: Duration::from_secs(3600),
        operations: store.clone(),
        leases: store,
        holder: "test".into(),
        lease_ttl: Duration::from_secs(10),
        validation_attempts: 0,
        caches: Vec::new(),
        wakeups: Arc::new(Wakeups::default()),
        metrics: Arc::new(crate::observability::Metrics::new(Duration::from_secs(60))),
        machines: None,
    };
    Setup {
        controller,
        rooms,
        eu,
        us,
        db,
    }
}

impl Setup {
    async fn tick(&self) {
        self.controller
            .tick_once("arena", &mut TickMemory::default(), &[])
            .await
            .unwrap();
        // Stops run in the background.
        tokio::time::sleep(Duration::from_millis(50)).await;
        // New rooms turn ready, as their programs would ping (not those waiting to start).
        for room in self.rooms.list("arena").await.unwrap() {
            if room.status == RoomStatus::Pending && room.status_reason.is_none() {
                self.rooms
                    .set_status("arena", &room.id, RoomStatus::Ready, chrono::Utc::now())
                    .await
                    .unwrap();
            }
        }
    }

    /// Enough ticks for the plan to reach its goal.
    async fn settle(&self) {
        for _ in 0..8 {
            self.tick().await;
        }
    }

    async fn live_in(&self, region: &str) -> Vec<GameRoom> {
        self.rooms
            .list("arena")
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.region == region && r.status != RoomStatus::Terminating)
            .collect()
    }
}

fn ids(rooms: &[GameRoom]) -> Vec<String> {
    let mut ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn each_region_gets_its_share_on_its_own_runtime() {
    let setup = setup(
        serde_json::json!(["eu-west", {"name": "us-east", "weight": 3}]),
        8,
    )
    .await;
    setup.settle().await;
    let (eu, us) = (
        setup.live_in("eu-west").await,
        setup.live_in("us-east").await,
    );
    assert_eq!((eu.len(), us.len()), (2, 6));
    assert_eq!(ids(&eu), setup.eu.ids());
    assert_eq!(ids(&us), setup.us.ids());
}

#[tokio::test]
async fn an_unreachable_region_is_left_alone_and_the_other_takes_its_share_until_it_recovers() {
    let setup = setup(serde_json::json!(["eu-west", "us-east"]), 4).await;
    setup.settle().await;
    let us_before = setup.live_in("us-east").await;
    assert_eq!(
        (setup.live_in("eu-west").await.len(), us_before.len()),
        (2, 2)
    );

    setup.us.down.store(true, Ordering::SeqCst);
    setup.settle().await;
    // Its rooms are untouched: not removed, not marked, their instances still there.
    let us_now = setup.rooms.list("arena").await.unwrap();
    let us_now: Vec<&GameRoom> = us_now.iter().filter(|r| r.region == "us-east").collect();
    assert_eq!(us_now.len(), 2);
    for (now, before) in us_now.iter().zip(&us_before) {
        assert_eq!((&now.id, now.status), (&before.id, before.status));
    }
    assert_eq!(setup.us.ids(), ids(&us_before));
    assert_eq!(setup.live_in("eu-west").await.len(), 4);
    let health = setup.rooms.region_health("arena").await.unwrap();
    let us = health.iter().find(|h| h.region == "us-east").unwrap();
    assert!(!us.reachable);
    assert!(
        us.last_error
            .as_deref()
            .is_some_and(|e| e.contains("connection refused"))
    );
    let eu = health.iter().find(|h| h.region == "eu-west").unwrap();
    assert!(eu.reachable && eu.desired == 4);

    setup.us.down.store(false, Ordering::SeqCst);
    setup.settle().await;
    assert_eq!(setup.live_in("eu-west").await.len(), 2);
    assert_eq!(ids(&setup.live_in("us-east").await), ids(&us_before));
    let health = setup.rooms.region_health("arena").await.unwrap();
    assert!(health.iter().all(|h| h.reachable && h.desired == 2));
}

#[tokio::test]
async fn rooms_of_a_region_no_longer_listed_go_like_surplus_and_old_rooms_are_the_defaults() {
    let setup = setup(serde_json::json!(["us-east"]), 2).await;
    // A room of the default runtime (eu-west) stored before regions, and its instance.
    let scheduler = setup
        .controller
        .schedulers
        .get("arena", None)
        .await
        .unwrap();
    let id = setup
        .controller
        .create_room(&scheduler, "eu-west")
        .await
        .unwrap();
    let mut old = setup.rooms.get("arena", &id).await.unwrap();
    setup.rooms.remove("arena", &id).await.unwrap();
    old.region = String::new();
    setup.rooms.insert(&old).await.unwrap();
    setup.tick().await;
    assert_eq!(
        setup.rooms.get("arena", &id).await.unwrap().status,
        RoomStatus::Terminating
    );
    setup.settle().await;
    assert_eq!(setup.live_in("us-east").await.len(), 2);
    // Stopped on the default runtime, then forgotten once its instance was gone.
    assert!(setup.eu.ids().is_empty());
    assert!(setup.rooms.get("arena", &id).await.is_err());
}

#[tokio::test]
async fn rooms_without_capacity_wait_pending_with_the_reason_and_start_once_it_frees() {
    let setup = setup(serde_json::json!(["eu-west"]), 3).await;
    *setup.eu.slots.lock().unwrap() = Some(1);
    setup.tick().await;
    let rooms = setup.rooms.list("arena").await.unwrap();
    assert_eq!(rooms.len(), 3, "every wanted room is stored: {rooms:?}");
    assert_eq!(setup.eu.ids().len(), 1);
    let waiting: Vec<&GameRoom> = rooms.iter().filter(|r| r.status_reason.is_some()).collect();
    assert_eq!(waiting.len(), 2);
    for room in &waiting {
        assert_eq!(room.status, RoomStatus::Pending);
        assert!(
            room.status_reason
                .as_deref()
                .is_some_and(|r| r.contains("safety limits: MemoryMB")),
            "{room:?}"
        );
    }
    // Long past the creation grace and the initialization timeout: still the same rooms, not
    // replaced, none started.
    let before = ids(&rooms);
    for room in &waiting {
        let mut old = (*room).clone();
        old.created_at -= chrono::Duration::minutes(30);
        old.status_changed_at -= chrono::Duration::minutes(30);
        setup.rooms.remove("arena", &old.id).await.unwrap();
        setup.rooms.insert(&old).await.unwrap();
    }
    setup.settle().await;
    assert_eq!(ids(&setup.rooms.list("arena").await.unwrap()), before);
    assert_eq!(setup.eu.ids().len(), 1);

    // Capacity frees: the waiting rooms start, lose their reason and turn ready.
    *setup.eu.slots.lock().unwrap() = Some(3);
    setup.tick().await;
    let rooms = setup.rooms.list("arena").await.unwrap();
    assert_eq!(ids(&rooms), before);
    assert_eq!(setup.eu.ids(), before);
    assert!(rooms.iter().all(|r| r.status_reason.is_none()), "{rooms:?}");
    setup.tick().await;
    assert!(
        setup
            .rooms
            .list("arena")
            .await
            .unwrap()
            .iter()
            .all(|r| r.status == RoomStatus::Ready)
    );
}

#[tokio::test]
async fn manage_payloads_keeps_the_unreserved_rooms_with_machine_scaling_off() {
    let capacity = serde_json::json!({"capacity": {
        "PayloadQuota": {"CpuCores": 0.1, "MemoryMB": 64},
        "EnableScaling": false, "ManagePayloads": true,
        "MinUnreservedPayloads": 2, "MaxUnreservedPayloads": 3}});
    // roomsReplicas 0 and no autoscaling section: ManagePayloads decides.
    let setup = setup_with(serde_json::json!(["eu-west"]), 0, capacity).await;
    setup.settle().await;
    let live = setup.live_in("eu-west").await;
    assert_eq!(live.len(), 2, "{live:?}");
    // One room taken by a match: one unreserved left, below the minimum of 2: one more.
    setup
        .rooms
        .set_status(
            "arena",
            &live[0].id,
            RoomStatus::Occupied,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    setup.settle().await;
    let live = setup.live_in("eu-west").await;
    assert_eq!(live.len(), 3, "{live:?}");
    assert_eq!(
        live.iter()
            .filter(|r| r.status == RoomStatus::Occupied)
            .count(),
        1
    );
}

mod creation;
mod silent;

/// The test's leases, counting how each is renewed.
struct CountingLeases {
    inner: Arc<dyn Leases>,
    acquired: AtomicUsize,
    renewals_of_all: AtomicUsize,
}

#[async_trait]
impl Leases for CountingLeases {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.acquired.fetch_add(1, Ordering::SeqCst);
        self.inner.acquire(name, holder, now, expires_at).await
    }

    async fn renew_held(
        &self,
        holder: &str,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.renewals_of_all.fetch_add(1, Ordering::SeqCst);
        self.inner.renew_held(holder, now, expires_at).await
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release(name, holder).await
    }

    async fn holder(
        &self,
        name: &str,
    ) -> Result<Option<(String, chrono::DateTime<chrono::Utc>)>, StoreError> {
        self.inner.holder(name).await
    }
}

#[tokio::test]
async fn the_process_renews_its_leases_at_once_and_a_controller_keeps_its_own_without_renewing() {
    let s = setup(serde_json::json!(["eu-west"]), 1).await;
    let leases = Arc::new(CountingLeases {
        inner: s.controller.leases.clone(),
        acquired: AtomicUsize::new(0),
        renewals_of_all: AtomicUsize::new(0),
    });
    let c = &s.controller;
    let controller = Arc::new(HealthController {
        schedulers: c.schedulers.clone(),
        rooms: c.rooms.clone(),
        runtimes: c.runtimes.clone(),
        autoscaler: c.autoscaler.clone(),
        tokens: c.tokens.clone(),
        api_url: c.api_url.clone(),
        // The process renews every ~500 ms (a third), a controller its own at 750 ms (half).
        tick: Duration::from_millis(50),
        operations: c.operations.clone(),
        leases: leases.clone(),
        holder: c.holder.clone(),
        lease_ttl: Duration::from_millis(1500),
        validation_attempts: 0,
        caches: Vec::new(),
        wakeups: Arc::new(Wakeups::default()),
        metrics: c.metrics.clone(),
        machines: None,
    });
    let supervisor = controller.clone().spawn();
    // Two TTLs: a lease nobody renewed would be over, and taken anew.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (acquired, renewals_of_all) = (
        leases.acquired.load(Ordering::SeqCst),
        leases.renewals_of_all.load(Ordering::SeqCst),
    );
    let held = leases.holder("scheduler:arena").await.unwrap();
    supervisor.abort();
    assert_eq!(
        acquired, 1,
        "the controller took its lease once, and renewed nothing itself"
    );
    assert!(
        (4..=8).contains(&renewals_of_all),
        "about every 500 ms over 3 s: {renewals_of_all}"
    );
    let (holder, until) = held.expect("the lease is held");
    assert_eq!(holder, "test");
    assert!(until > chrono::Utc::now(), "and not over");
}
