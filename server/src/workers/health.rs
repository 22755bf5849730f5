//! The health controller: one task per scheduler keeps its rooms at the desired count, replaces
//! rooms that fail, and reconciles the room store with the runtime. Decisions come from the pure
//! `app::domain::health::plan`; this module only carries them out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::domain::allocation;
use app::domain::health::{
    CrashStreak, HealthInput, HealthPlan, HealthTimeouts, StateInput, plan, scheduler_state,
};
use app::domain::quantity::{MaxSurge, parse_duration_seconds};
use app::domain::room::{GameRoom, RoomCounts, RoomStatus};
use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{
    InstanceEvent, Leases, OperationStore, RoomStore, Runtime, SchedulerCache, SchedulerFilter,
    SchedulerStore, StoreError,
};
use chrono::Utc;
use futures::StreamExt;
use rand::distr::{Alphanumeric, SampleString};
use tokio::task::JoinHandle;

use super::autoscaler::Autoscaler;
use super::wakeups::Wakeups;
use crate::room_tokens::RoomTokens;

#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] app::ports::RuntimeError),
}

pub struct HealthController {
    pub schedulers: Arc<dyn SchedulerStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub runtime: Arc<dyn Runtime>,
    /// Answers how many rooms each scheduler wants.
    pub autoscaler: Arc<Autoscaler>,
    pub tokens: Arc<RoomTokens>,
    /// The base URL rooms call back (`BATON_API_URL`).
    pub api_url: String,
    /// How often each scheduler is reconciled, and the supervisor looks for new schedulers.
    pub tick: Duration,
    /// The durable queue of scheduler changes this controller carries out.
    pub operations: Arc<dyn OperationStore>,
    /// Which process runs each scheduler (shared by every replica on the same store).
    pub leases: Arc<dyn Leases>,
    /// This process's name in leases and operation histories (unique per process).
    pub holder: String,
    /// How long a scheduler's lease lasts unless renewed (every tick renews it).
    pub lease_ttl: Duration,
    /// How many validation rooms a new major version gets before it is refused.
    pub validation_attempts: u32,
    /// What remembers schedulers in this process: told of every change made here.
    pub caches: Vec<Arc<dyn SchedulerCache>>,
    /// How the use cases of this process tell the controllers of new work.
    pub wakeups: Arc<Wakeups>,
    pub metrics: Arc<crate::observability::Metrics>,
}

/// Unregisters a scheduler's wake-up when its controller task ends (or is aborted).
struct Unregister<'a>(&'a Wakeups, &'a str);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.0.unregister(self.1);
    }
}

/// The lease a scheduler's controller holds.
pub fn lease_name(scheduler: &str) -> String {
    format!("scheduler:{scheduler}")
}

/// The scheduler's own timeouts where it sets them, the defaults elsewhere.
pub fn timeouts_of(scheduler: &Scheduler) -> HealthTimeouts {
    let defaults = HealthTimeouts::default();
    let Some(custom) = &scheduler.config.room_timeouts else {
        return defaults;
    };
    let pick = |text: &Option<String>, default: chrono::Duration| {
        text.as_deref()
            .and_then(parse_duration_seconds)
            .map_or(default, |s| {
                chrono::Duration::milliseconds((s * 1000.0) as i64)
            })
    };
    HealthTimeouts {
        initialization: pick(&custom.initialization, defaults.initialization),
        ping: pick(&custom.ping, defaults.ping),
        termination: pick(&custom.termination, defaults.termination),
        creation_grace: defaults.creation_grace,
    }
}

fn new_room_id(scheduler: &str) -> String {
    let suffix = Alphanumeric
        .sample_string(&mut rand::rng(), 6)
        .to_ascii_lowercase();
    format!("{scheduler}-{suffix}")
}

impl HealthController {
    /// Watches the scheduler list and runs one controller task per scheduler.
    pub fn spawn(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
            loop {
                match self.schedulers.list(&SchedulerFilter::default()).await {
                    Ok(schedulers) => {
                        let names: Vec<String> =
                            schedulers.into_iter().map(|s| s.config.name).collect();
                        for name in &names {
                            // A finished task: its scheduler was deleted and made again since.
                            if running.get(name).is_none_or(|task| task.is_finished()) {
                                let task = self.clone().spawn_scheduler(name.clone());
                                running.insert(name.clone(), task);
                            }
                        }
                        let gone: Vec<String> = running
                            .keys()
                            .filter(|name| !names.contains(name))
                            .cloned()
                            .collect();
                        // A deleted scheduler's rooms were stopped by its delete operation.
                        for name in gone {
                            if let Some(task) = running.remove(&name) {
                                task.abort();
                            }
                        }
                    }
                    Err(err) => tracing::warn!(%err, "listing schedulers failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.tick) => {}
                    _ = self.wakeups.supervisor.notified() => {}
                }
            }
        })
    }

    /// A deleted scheduler: stop every instance and forget its rooms.
    pub(super) async fn tear_down(&self, name: &str) {
        if let Err(err) = self.runtime.remove_scheduler(name).await {
            tracing::warn!(scheduler = %name, %err, "removing the scheduler from the runtime failed");
        }
        match self.rooms.list(name).await {
            Ok(rooms) => {
                for room in rooms {
                    let _ = self.rooms.remove(name, &room.id).await;
                }
            }
            Err(err) => tracing::warn!(scheduler = %name, %err, "forgetting rooms failed"),
        }
        if let Err(err) = self.rooms.forget_counts(name).await {
            tracing::warn!(scheduler = %name, %err, "forgetting the room count history failed");
        }
        if let Err(err) = self.autoscaler.forget(name).await {
            tracing::warn!(scheduler = %name, %err, "forgetting autoscaling history failed");
        }
        tracing::info!(scheduler = %name, "scheduler torn down");
    }

    fn spawn_scheduler(self: Arc<Self>, name: String) -> JoinHandle<()> {
        tokio::spawn(async move {
            let events = self.runtime.watch(&name);
            let watcher = tokio::spawn(self.clone().follow_events(name.clone(), events));
            // Abort the event follower when this task is aborted.
            let _guard = AbortOnDrop(watcher);
            let mut streak = CrashStreak::default();
            let lease = lease_name(&name);
            let ttl =
                chrono::Duration::from_std(self.lease_ttl).unwrap_or(chrono::Duration::seconds(10));
            let mut leading = false;
            let wakeup = self.wakeups.register(&name);
            let _registered = Unregister(&self.wakeups, &name);
            // A wake-up runs the operation step at once; the health tick keeps its own pace
            // (its first one a tick after the controller starts).
            let mut next_health = tokio::time::Instant::now() + self.tick;
            loop {
                let now = Utc::now();
                let until = now + ttl;
                match self.leases.acquire(&lease, &self.holder, now, until).await {
                    Ok(true) => {
                        if !leading {
                            tracing::info!(scheduler = %name, holder = %self.holder, "controlling the scheduler");
                            // What an earlier leader saw is not ours to trust.
                            streak = CrashStreak::default();
                            leading = true;
                        }
                        match self.run_operation(&name, until).await {
                            Ok(guidance) if guidance.deleted => return,
                            Ok(guidance) if tokio::time::Instant::now() >= next_health => {
                                next_health = tokio::time::Instant::now() + self.tick;
                                let started = std::time::Instant::now();
                                let ticked =
                                    self.tick_once(&name, &mut streak, &guidance.keep).await;
                                self.metrics.health_tick(
                                    &name,
                                    started.elapsed(),
                                    ticked.as_ref().ok(),
                                );
                                match ticked {
                                    Ok(plan) if !plan.is_empty() => {
                                        tracing::debug!(scheduler = %name, ?plan, "health plan carried out")
                                    }
                                    Ok(_) => {}
                                    Err(err) => {
                                        tracing::warn!(scheduler = %name, %err, "health tick failed")
                                    }
                                }
                            }
                            Ok(_) => {}
                            Err(err) => {
                                tracing::warn!(scheduler = %name, %err, "operation step failed; health tick skipped")
                            }
                        }
                    }
                    Ok(false) => leading = false,
                    Err(err) => {
                        leading = false;
                        tracing::warn!(scheduler = %name, %err, "renewing the scheduler's lease failed")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(next_health.min(tokio::time::Instant::now() + self.tick)) => {}
                    _ = wakeup.notified() => {}
                }
            }
        })
    }

    async fn follow_events(
        self: Arc<Self>,
        name: String,
        mut events: futures::stream::BoxStream<'static, InstanceEvent>,
    ) {
        while let Some(event) = events.next().await {
            let result = match &event {
                InstanceEvent::Crashed { room, reason, .. } => {
                    tracing::warn!(scheduler = %name, %room, %reason, "room instance crashed");
                    match self.rooms.get(&name, room).await {
                        Ok(r) if r.status != RoomStatus::Terminating => {
                            self.rooms
                                .set_status(&name, room, RoomStatus::Error, Utc::now())
                                .await
                        }
                        _ => Ok(()),
                    }
                }
                InstanceEvent::AddressKnown { room, address, .. } => {
                    self.rooms.set_address(&name, room, address).await
                }
                InstanceEvent::Gone { room, .. } => self.rooms.remove(&name, room).await,
                InstanceEvent::Created { .. } | InstanceEvent::Running { .. } => Ok(()),
            };
            match result {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(err) => {
                    tracing::warn!(scheduler = %name, %err, ?event, "applying a runtime event failed")
                }
            }
        }
    }

    /// One reconciliation of one scheduler; `streak` is what the previous ticks saw crash.
    async fn tick_once(
        &self,
        name: &str,
        streak: &mut CrashStreak,
        keep: &[String],
    ) -> Result<HealthPlan, TickError> {
        let scheduler = self.schedulers.get(name, None).await?;
        let mut rooms = self.rooms.list(name).await?;
        let instances = self.runtime.instances(name).await?;
        let now = Utc::now();
        // Instances that failed turn their rooms to error, so the plan replaces them.
        for instance in instances.iter().filter(|i| i.crashed.is_some()) {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == instance.room)
                && !matches!(room.status, RoomStatus::Error | RoomStatus::Terminating)
            {
                self.rooms
                    .set_status(name, &room.id, RoomStatus::Error, now)
                    .await?;
                room.status = RoomStatus::Error;
            }
        }
        let instance_ids: Vec<String> = instances.iter().map(|i| i.room.clone()).collect();
        let grace = scheduler
            .config
            .spec
            .termination_grace_period
            .seconds()
            .unwrap_or(30);
        let mut counts = RoomCounts::default();
        for room in &rooms {
            counts.add(room.status);
        }
        // The history is for people watching: a failed record does not stop the tick.
        if let Err(err) = self.rooms.record_counts(name, counts, now).await {
            tracing::warn!(scheduler = %name, %err, "recording room counts failed");
        }
        // The sweeper: claims their rooms did not confirm in time free their capacity.
        match self.rooms.expire_claims(name, now).await {
            Ok(expired) if !expired.is_empty() => {
                tracing::info!(scheduler = %name, count = expired.len(), "allocation claims expired")
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(scheduler = %name, %err, "expiring claims failed"),
        }
        let claims = self.rooms.claims(name, None).await?;
        let claimed: Vec<String> = claims.iter().map(|claim| claim.room.clone()).collect();
        // The autoscaler counts open claims as running matches.
        let max = allocation::max_matches(&scheduler.config.match_allocation);
        let counted = allocation::with_claims(&rooms, &claims, max);
        let desired = self.autoscaler.desired(&scheduler, &counted).await?;
        self.metrics.rooms.record(&scheduler, &rooms, desired);
        let decided = plan(&HealthInput {
            desired,
            max_surge: MaxSurge::parse(&scheduler.config.max_surge)
                .unwrap_or(MaxSurge::Percent(10)),
            active_version: &scheduler.version,
            rooms: &rooms,
            instances: &instance_ids,
            now,
            timeouts: timeouts_of(&scheduler),
            grace_period: chrono::Duration::seconds(grace as i64),
            keep,
            claimed: &claimed,
        });
        self.carry_out(&scheduler, &decided, &instance_ids).await?;
        let (state, seen) = scheduler_state(&StateInput {
            stored: scheduler.state,
            streak,
            active_version: &scheduler.version,
            rooms: &rooms,
            plan: &decided,
        });
        *streak = seen;
        if state != scheduler.state {
            self.schedulers.set_state(name, state).await?;
        }
        Ok(decided)
    }

    async fn carry_out(
        &self,
        scheduler: &Scheduler,
        decided: &HealthPlan,
        instances: &[String],
    ) -> Result<(), TickError> {
        let name = &scheduler.config.name;
        for room in &decided.forget {
            self.rooms.remove(name, room).await?;
            if instances.contains(room) {
                self.stop_in_background(scheduler, room);
            }
        }
        for room in &decided.orphans {
            tracing::info!(scheduler = %name, %room, "stopping an instance with no room");
            self.stop_in_background(scheduler, room);
        }
        for removal in &decided.remove {
            tracing::info!(scheduler = %name, room = %removal.room, reason = ?removal.reason, "removing room");
            self.rooms
                .set_status(name, &removal.room, RoomStatus::Terminating, Utc::now())
                .await?;
            self.stop_in_background(scheduler, &removal.room);
        }
        for _ in 0..decided.create {
            self.create_room(scheduler).await?;
        }
        Ok(())
    }

    /// Stopping waits for the grace period, so it never holds up the tick.
    pub(super) fn stop_in_background(&self, scheduler: &Scheduler, room: &str) {
        let runtime = self.runtime.clone();
        let scheduler = scheduler.clone();
        let room = room.to_string();
        tokio::spawn(async move {
            if let Err(err) = runtime.delete_instance(&scheduler, &room).await {
                tracing::warn!(scheduler = %scheduler.config.name, %room, %err, "stopping a room failed");
            }
        });
    }

    /// Creates one room of `scheduler`'s version; answers its id.
    pub(super) async fn create_room(&self, scheduler: &Scheduler) -> Result<String, TickError> {
        let name = &scheduler.config.name;
        let id = new_room_id(name);
        let now = Utc::now();
        let room = GameRoom {
            id: id.clone(),
            scheduler: name.clone(),
            version: scheduler.version.clone(),
            status: RoomStatus::Pending,
            created_at: now,
            status_changed_at: now,
            last_ping_at: None,
            running_matches: 0,
            metadata: Default::default(),
            address: None,
            region: String::new(),
        };
        self.rooms.insert(&room).await?;
        let env = [
            EnvironmentVariable::plain("MAESTRO_SCHEDULER_NAME", name.clone()),
            EnvironmentVariable::plain("MAESTRO_ROOM_ID", id.clone()),
            EnvironmentVariable::plain("BATON_API_URL", self.api_url.clone()),
            EnvironmentVariable::secret("BATON_ROOM_TOKEN", self.tokens.issue(name, &id)),
        ];
        match self.runtime.create_instance(scheduler, &id, &env).await {
            Ok(instance) => {
                if let Some(address) = &instance.address {
                    self.rooms.set_address(name, &id, address).await?;
                }
                tracing::info!(scheduler = %name, room = %id, "room created");
                Ok(id)
            }
            Err(err) => {
                self.rooms.remove(name, &id).await?;
                Err(err.into())
            }
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
