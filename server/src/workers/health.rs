//! The health controller: one task per scheduler keeps its rooms at the desired count, replaces
//! rooms that fail, and reconciles the room store with the runtimes, region by region. Decisions
//! come from the pure `app::domain::health::plan` and `app::domain::region::split`; this module
//! and its parts only carry them out: `tick` (one reconciliation), `rooms` (creating and
//! stopping rooms on their region's runtime), `events` (what runtimes report, tearing down).

mod events;
mod rooms;
#[cfg(test)]
mod tests;
mod tick;
pub use tick::TickMemory;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use app::domain::health::HealthTimeouts;
use app::domain::operation::{lease_renewal_due, own_lease_renewal_due};
use app::domain::quantity::parse_duration_seconds;
use app::domain::scheduler::Scheduler;
use app::ports::{Leases, OperationStore, RoomStore, SchedulerCache, SchedulerStore, StoreError};
use chrono::Utc;
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::autoscaler::Autoscaler;
use super::operations::Guidance;
use super::wakeups::Wakeups;
use crate::room_tokens::RoomTokens;
use crate::runtimes::Runtimes;

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
    /// Where rooms run, one runtime per region.
    pub runtimes: Arc<Runtimes>,
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
    /// How long a scheduler's lease lasts unless renewed: the supervisor renews every lease of
    /// this process at once when a third of it has passed (`operation::lease_renewal_due`), a
    /// scheduler's task its own only at half (`operation::own_lease_renewal_due`).
    pub lease_ttl: Duration,
    /// How many validation rooms a new major version gets before it is refused.
    pub validation_attempts: u32,
    /// What remembers schedulers in this process: told of every change made here.
    pub caches: Vec<Arc<dyn SchedulerCache>>,
    /// How the use cases of this process tell the controllers of new work.
    pub wakeups: Arc<Wakeups>,
    pub metrics: Arc<crate::observability::Metrics>,
    /// Machine scaling, run on the replica holding each scheduler's lease (`None`: off).
    pub machines: Option<Arc<super::machines::MachineScaler>>,
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

impl HealthController {
    /// Watches the scheduler list and runs one controller task per scheduler.
    pub fn spawn(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
            // Until when the last renewal of all this process's leases holds them.
            let mut renewed_until = None;
            loop {
                // The heads alone (no configuration): with the cached store, they also
                // confirm what the ticks remember of each scheduler (`ActiveSchedulers::confirm`).
                match self.schedulers.heads().await {
                    Ok(heads) => {
                        let names: HashSet<String> = heads.into_iter().map(|h| h.name).collect();
                        for name in &names {
                            // A finished task: its scheduler was deleted and made again since.
                            if running.get(name).is_none_or(|task| task.is_finished()) {
                                let task = self.clone().spawn_scheduler(name.clone());
                                running.insert(name.clone(), task);
                            }
                        }
                        let gone: Vec<String> = running
                            .keys()
                            .filter(|name| !names.contains(*name))
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
                // Which schedulers have an operation to run, for every task at once (a task
                // that cannot know looks for itself).
                let busy = match self.operations.busy_schedulers().await {
                    Ok(busy) => Some(busy.into_iter().collect()),
                    Err(err) => {
                        tracing::warn!(%err, "reading which schedulers have operations failed");
                        None
                    }
                };
                self.wakeups.set_busy(busy);
                self.renew_held_leases(&mut renewed_until).await;
                tokio::select! {
                    _ = tokio::time::sleep(self.tick) => {}
                    _ = self.wakeups.supervisor.notified() => {}
                }
            }
        })
    }

    /// Renews every lease this process holds in one statement once a third of the TTL has
    /// passed since the last time, and tells the tasks. When it fails, each task renews its own.
    async fn renew_held_leases(&self, renewed_until: &mut Option<chrono::DateTime<Utc>>) {
        let (now, ttl) = (Utc::now(), self.lease_ttl_chrono());
        if !lease_renewal_due(*renewed_until, now, ttl) {
            return;
        }
        let until = now + ttl;
        match self.leases.renew_held(&self.holder, now, until).await {
            Ok(leases) => {
                self.wakeups.set_renewed(leases, until);
                *renewed_until = Some(until);
            }
            Err(err) => tracing::warn!(%err, "renewing this process's leases failed"),
        }
    }

    fn lease_ttl_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease_ttl).unwrap_or(chrono::Duration::seconds(10))
    }

    fn spawn_scheduler(self: Arc<Self>, name: String) -> JoinHandle<()> {
        tokio::spawn(async move {
            let events = futures::stream::select_all(
                self.runtimes.all().iter().map(|r| r.runtime.watch(&name)),
            )
            .boxed();
            let watcher = tokio::spawn(self.clone().follow_events(name.clone(), events));
            // Abort the event follower when this task is aborted.
            let _guard = AbortOnDrop(watcher);
            let mut memory = TickMemory::default();
            let lease = lease_name(&name);
            let ttl = self.lease_ttl_chrono();
            let mut leading = false;
            let wakeup = self.wakeups.register(&name);
            let _registered = Unregister(&self.wakeups, &name);
            // A wake-up runs the operation step at once; the health tick keeps its own pace
            // (its first one a tick after the controller starts).
            let mut next_health = tokio::time::Instant::now() + self.tick;
            // Until when this process holds the lease, as it last took or renewed it.
            let mut held_until = None;
            // Whether the next step looks for an operation: when it takes the lease, when
            // woken, while one is found, and when the supervisor saw one (queued elsewhere).
            let mut look = true;
            loop {
                let now = Utc::now();
                // The supervisor renews all of this process's leases at once: a held lease
                // it renewed is held until then.
                if held_until.is_some() {
                    held_until = held_until.max(self.wakeups.renewed_until(&lease));
                }
                // Not held (`None`) is always due: only a lease this process holds is skipped.
                let held = if !own_lease_renewal_due(held_until, now, ttl) {
                    Ok(true)
                } else {
                    let until = now + ttl;
                    let renewed = self.leases.acquire(&lease, &self.holder, now, until).await;
                    held_until = matches!(renewed, Ok(true)).then_some(until);
                    renewed
                };
                let until = held_until.unwrap_or(now);
                match held {
                    Ok(true) => {
                        if !leading {
                            tracing::info!(scheduler = %name, holder = %self.holder, "controlling the scheduler");
                            // What an earlier leader saw is not ours to trust.
                            memory = TickMemory::default();
                            leading = true;
                            look = true;
                        }
                        let guidance = if look || self.wakeups.may_be_busy(&name) {
                            self.run_operation(&name, until).await
                        } else {
                            Ok(Guidance::default())
                        };
                        look = !matches!(guidance, Ok(Guidance { busy: false, .. }));
                        match guidance {
                            Ok(guidance) if guidance.deleted => return,
                            Ok(guidance) if tokio::time::Instant::now() >= next_health => {
                                next_health = tokio::time::Instant::now() + self.tick;
                                let started = std::time::Instant::now();
                                let ticked =
                                    self.tick_once(&name, &mut memory, &guidance.keep).await;
                                self.metrics.health_tick(
                                    &name,
                                    started.elapsed(),
                                    ticked.as_ref().ok(),
                                );
                                if let Some(machines) = &self.machines {
                                    machines.tick(self.schedulers.as_ref(), &name).await;
                                }
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
                    _ = wakeup.notified() => look = true,
                }
            }
        })
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
