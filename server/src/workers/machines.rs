//! Machine scaling: for each scheduler with a `capacity` section, every machine-scaling period
//! and only on the replica holding the scheduler's lease (the health controller calls
//! [`MachineScaler::tick`] from its scheduler loop), the machines of every region are gathered,
//! counted for the scheduler (`machines_of`), judged (`decide_machines`), the decision recorded
//! with what became of each action, and, with `enableScaling`, carried out:
//!
//! - `Add` goes to the machine provider, unless the machines asked for by an earlier decision
//!   have not shown up yet (the machines are as they were then: `waiting`);
//! - `Drain` goes to the machine's source, which leaves the busy rooms (occupied, running
//!   matches, claimed; of every scheduler on the machine) in place;
//! - `Release` goes to the provider, only for a draining machine with no room left at all.
//!
//! With the dry-run provider nothing is carried out: every action is recorded as `dryRun`.
//! A region whose source fails is left out of the decision and named in the record.
//!
//! Each evaluation also records the free payload capacity it saw, with the bounds, as one
//! sample of the scheduler's capacity series (in the same store as the decisions; the last day).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::capacity::{
    ActionOutcome, CapacitySample, MachineAction, MachineDecisionRecord, add_pending, busy_on,
    decide_machines, machines_of,
};
use app::domain::region::regions_of;
use app::domain::scheduler::Scheduler;
use app::ports::{MachineDecisionStore, MachineProvider, RoomStore, SchedulerStore, StoreError};
use app::services::capacity::{Gathered, MachineSources};
use chrono::Utc;

pub struct MachineScaler {
    pub rooms: Arc<dyn RoomStore>,
    pub sources: Arc<MachineSources>,
    pub provider: Arc<dyn MachineProvider>,
    /// The provider only records (`--machine-provider dry-run`): nothing is carried out.
    pub dry_run: bool,
    pub decisions: Arc<dyn MachineDecisionStore>,
    /// The region of schedulers that list none.
    pub default_region: String,
    /// How often each scheduler's machines are judged.
    pub period: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl MachineScaler {
    pub fn new(
        rooms: Arc<dyn RoomStore>,
        sources: Arc<MachineSources>,
        provider: Arc<dyn MachineProvider>,
        dry_run: bool,
        decisions: Arc<dyn MachineDecisionStore>,
        default_region: String,
        period: Duration,
    ) -> Self {
        Self {
            rooms,
            sources,
            provider,
            dry_run,
            decisions,
            default_region,
            period,
            last: Mutex::default(),
        }
    }

    /// Whether the scheduler is due now (and, if so, marks it done).
    fn due(&self, scheduler: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match last.get(scheduler) {
            Some(at) if now.duration_since(*at) < self.period => false,
            _ => {
                last.insert(scheduler.to_string(), now);
                true
            }
        }
    }

    /// Forgets a deleted scheduler: its recorded decisions and when it was last judged (a
    /// scheduler created again under the name starts afresh).
    pub async fn forget(&self, name: &str) -> Result<(), StoreError> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.decisions.forget(name).await
    }

    /// Called by the scheduler's controller on every tick while it holds the lease: judges
    /// the machines when the period is up and the scheduler has a capacity section.
    pub async fn tick(&self, schedulers: &dyn SchedulerStore, name: &str) {
        if self.sources.is_empty() || !self.due(name) {
            return;
        }
        let scheduler = match schedulers.get(name, None).await {
            Ok(scheduler) => scheduler,
            Err(err) => {
                tracing::warn!(scheduler = %name, %err, "machine scaling: reading the scheduler failed");
                return;
            }
        };
        match self.run_once(&scheduler).await {
            Ok(Some(record)) => {
                tracing::debug!(scheduler = %name, decision = %record.id, summary = %record.decision.summary, "machine-scaling decision")
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(scheduler = %name, %err, "machine scaling failed"),
        }
    }

    /// One machine-scaling round for `scheduler`: the recorded decision (`None` without a
    /// capacity section).
    pub async fn run_once(
        &self,
        scheduler: &Scheduler,
    ) -> Result<Option<MachineDecisionRecord>, StoreError> {
        let Some(capacity) = &scheduler.config.capacity else {
            return Ok(None);
        };
        let name = &scheduler.config.name;
        let gathered = self.sources.gather().await;
        for skipped in &gathered.skipped {
            tracing::warn!(scheduler = %name, region = %skipped.region, error = %skipped.error, "machines of a region unknown: left out");
        }
        let rooms = self.rooms.list(name).await?;
        let claims = self.rooms.claims(name, None).await?;
        let machines = machines_of(
            gathered
                .reports
                .iter()
                .map(|(_, r)| (&r.machine, r.rooms.as_slice())),
            name,
            &rooms,
            &claims,
        );
        let regions: Vec<String> = if scheduler.config.regions.is_empty() {
            Vec::new()
        } else {
            regions_of(&scheduler.config.regions, &self.default_region)
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        let decision = decide_machines(capacity, &machines, &regions);
        let mut ids: Vec<String> = machines.iter().map(|m| m.id.clone()).collect();
        ids.sort();
        let latest = self.decisions.decisions(name, 1).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut outcomes = Vec::with_capacity(decision.actions.len());
        for action in &decision.actions {
            let outcome = match action {
                MachineAction::Add { .. } => match add_pending(latest.first(), &ids) {
                    Some(earlier) => ActionOutcome::Waiting {
                        decision: earlier.to_string(),
                    },
                    None => self.provide(name, &id, action, &decision).await,
                },
                MachineAction::Drain { machine } => {
                    if self.dry_run {
                        ActionOutcome::DryRun
                    } else {
                        self.drain(name, machine, &gathered, &rooms, &claims).await
                    }
                }
                MachineAction::Release { machine } => {
                    let empty = gathered
                        .reports
                        .iter()
                        .find(|(_, r)| &r.machine.id == machine)
                        .is_some_and(|(_, r)| r.machine.draining && r.rooms.is_empty());
                    if empty {
                        self.provide(name, &id, action, &decision).await
                    } else {
                        ActionOutcome::Failed {
                            error: format!("machine {machine} is not drained and empty yet"),
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        let record = MachineDecisionRecord {
            id,
            at: Utc::now(),
            scheduler: name.clone(),
            decision,
            outcomes,
            machines: ids,
            skipped_regions: gathered.skipped,
        };
        self.decisions.record(&record).await?;
        self.decisions
            .record_sample(
                name,
                &CapacitySample::of(record.at, &record.decision.figures),
            )
            .await?;
        Ok(Some(record))
    }

    async fn provide(
        &self,
        scheduler: &str,
        id: &str,
        action: &MachineAction,
        decision: &app::domain::capacity::MachineDecision,
    ) -> ActionOutcome {
        match self.provider.act(scheduler, id, action, decision).await {
            Ok(()) if self.dry_run => ActionOutcome::DryRun,
            Ok(()) => ActionOutcome::Done,
            Err(err) => ActionOutcome::Failed {
                error: err.to_string(),
            },
        }
    }

    async fn drain(
        &self,
        scheduler: &str,
        machine: &str,
        gathered: &Gathered,
        rooms: &[app::domain::room::GameRoom],
        claims: &[app::domain::allocation::Claim],
    ) -> ActionOutcome {
        let Some((region, report)) = gathered
            .reports
            .iter()
            .find(|(_, r)| r.machine.id == machine)
        else {
            return ActionOutcome::Failed {
                error: format!("machine {machine} is not reported"),
            };
        };
        let Some(source) = self.sources.source(region) else {
            return ActionOutcome::Failed {
                error: format!("no machine source for region {region}"),
            };
        };
        // Every scheduler's busy rooms stay, not only this one's.
        let mut busy = busy_on(&report.rooms, scheduler, rooms, claims);
        let mut others: Vec<&str> = report
            .rooms
            .iter()
            .map(|(s, _)| s.as_str())
            .filter(|s| *s != scheduler)
            .collect();
        others.sort();
        others.dedup();
        for other in others {
            let listed = self.rooms.list(other).await;
            let claimed = self.rooms.claims(other, None).await;
            match (listed, claimed) {
                (Ok(listed), Ok(claimed)) => {
                    busy.extend(busy_on(&report.rooms, other, &listed, &claimed))
                }
                (Err(err), _) | (_, Err(err)) => {
                    return ActionOutcome::Failed {
                        error: format!("rooms of {other} on {machine} unknown: {err}"),
                    };
                }
            }
        }
        match source.drain(machine, &busy).await {
            Ok(()) => ActionOutcome::Done,
            Err(err) => ActionOutcome::Failed {
                error: err.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
