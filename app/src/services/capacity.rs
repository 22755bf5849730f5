//! A scheduler's capacity as the machines report it: each machine with this scheduler's
//! payloads and its payload capacity, the free payload capacity (total and per region), the
//! scaling bounds, the latest machine-scaling decisions, and the free payload capacity over
//! time (one sample per machine-scaling evaluation, the last day).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{SchedulerService, ServiceError};
use crate::domain::capacity::{
    CapacitySample, Machine, MachineDecisionRecord, SkippedRegion, free_capacity_by_region,
    machine_capacities, machines_of, samples_span,
};
use crate::domain::history;
use crate::domain::user::User;
use crate::ports::{MachineDecisionStore, MachineReport, Machines};

/// Every region's machine source: `(region, source)`. Empty until a runtime provides one.
#[derive(Clone, Default)]
pub struct MachineSources {
    pub sources: Vec<(String, Arc<dyn Machines>)>,
}

/// Each region's machine reports, and the regions whose source failed.
pub struct Gathered {
    pub reports: Vec<(String, MachineReport)>,
    pub skipped: Vec<SkippedRegion>,
}

impl MachineSources {
    pub fn new(sources: Vec<(String, Arc<dyn Machines>)>) -> Self {
        Self { sources }
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Asks every source at once; a machine that names no region gets its source's. A source
    /// that fails is skipped and named.
    pub async fn gather(&self) -> Gathered {
        let answers = futures::future::join_all(
            self.sources
                .iter()
                .map(|(region, source)| async move { (region.clone(), source.machines().await) }),
        )
        .await;
        let mut gathered = Gathered {
            reports: Vec::new(),
            skipped: Vec::new(),
        };
        for (region, answer) in answers {
            match answer {
                Ok(reports) => {
                    for mut report in reports {
                        if report.machine.region.is_empty() {
                            report.machine.region = region.clone();
                        }
                        gathered.reports.push((region.clone(), report));
                    }
                }
                Err(err) => gathered.skipped.push(SkippedRegion {
                    region,
                    error: err.to_string(),
                }),
            }
        }
        gathered
    }

    /// The source of `region`.
    pub fn source(&self, region: &str) -> Option<&Arc<dyn Machines>> {
        self.sources
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, s)| s)
    }
}

/// One machine as the capacity view shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MachineView {
    /// With `payloads` and `busyPayloads` counted for this scheduler.
    #[serde(flatten)]
    pub machine: Machine,
    /// Whether it meets the minimum spec (one that does not holds no new payload).
    pub meets_min_spec: bool,
    /// Payloads it could hold in all.
    pub payload_capacity: u32,
    /// Payloads that still fit.
    pub free_payload_capacity: u32,
}

/// A scheduler's capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CapacityView {
    pub scheduler: String,
    pub machines: Vec<MachineView>,
    pub free_payload_capacity: u64,
    /// Per region the machines are in.
    pub free_payload_capacity_by_region: BTreeMap<String, u64>,
    pub min_free_payload_capacity: i64,
    pub max_free_payload_capacity: i64,
    pub max_bare_metal_machines: i64,
    pub max_cloud_machines: i64,
    pub enable_scaling: bool,
    /// Regions whose machines could not be listed (left out of the figures).
    pub skipped_regions: Vec<SkippedRegion>,
    /// The latest machine-scaling decisions, newest first.
    pub decisions: Vec<MachineDecisionRecord>,
    /// Only when asked for (`?history=MINUTES`): the free payload capacity at each
    /// machine-scaling evaluation of that window, oldest first (at most [`HISTORY_POINTS`]:
    /// the latest of each stretch of the window when there were more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<CapacitySample>>,
}

/// How many samples a history answer holds at most.
pub const HISTORY_POINTS: usize = 300;

/// The capacity use case.
pub struct CapacityService {
    pub schedulers: Arc<SchedulerService>,
    pub sources: Arc<MachineSources>,
    pub decisions: Arc<dyn MachineDecisionStore>,
}

impl CapacityService {
    /// `name`'s capacity, for whoever may read the scheduler; `NotFound` when it has no
    /// capacity section. `limit`: how many decisions.
    pub async fn capacity(
        &self,
        user: &User,
        name: &str,
        limit: usize,
    ) -> Result<CapacityView, ServiceError> {
        let scheduler = self.schedulers.readable(user, name, None).await?;
        let Some(capacity) = &scheduler.config.capacity else {
            return Err(ServiceError::NotFound(format!(
                "scheduler {name} has no capacity section"
            )));
        };
        let gathered = self.sources.gather().await;
        let rooms = self.schedulers.rooms.list(name).await?;
        let claims = self.schedulers.rooms.claims(name, None).await?;
        let machines = machines_of(
            gathered
                .reports
                .iter()
                .map(|(_, r)| (&r.machine, r.rooms.as_slice())),
            name,
            &rooms,
            &claims,
        );
        let figures = machine_capacities(capacity, &machines);
        let free = figures.iter().map(|f| u64::from(f.free)).sum();
        let by_region = free_capacity_by_region(capacity, &machines);
        let views = machines
            .into_iter()
            .zip(figures)
            .map(|(machine, figures)| MachineView {
                machine,
                meets_min_spec: figures.meets_min_spec,
                payload_capacity: figures.capacity,
                free_payload_capacity: figures.free,
            })
            .collect();
        Ok(CapacityView {
            scheduler: name.to_string(),
            machines: views,
            free_payload_capacity: free,
            free_payload_capacity_by_region: by_region,
            min_free_payload_capacity: capacity.min_free_payload_capacity,
            max_free_payload_capacity: capacity.max_free_payload_capacity,
            max_bare_metal_machines: capacity.max_bare_metal_machines,
            max_cloud_machines: capacity.max_cloud_machines,
            enable_scaling: capacity.enable_scaling,
            skipped_regions: gathered.skipped,
            decisions: self.decisions.decisions(name, limit).await?,
            history: None,
        })
    }

    /// `name`'s free payload capacity over the `window` before `now` (at most a day), reduced
    /// to at most `points` samples, for whoever may read the scheduler; `NotFound` when it has
    /// no capacity section.
    pub async fn history(
        &self,
        user: &User,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
        window: chrono::Duration,
        points: usize,
    ) -> Result<Vec<CapacitySample>, ServiceError> {
        let scheduler = self.schedulers.readable(user, name, None).await?;
        if scheduler.config.capacity.is_none() {
            return Err(ServiceError::NotFound(format!(
                "scheduler {name} has no capacity section"
            )));
        }
        let window = window.min(samples_span());
        let samples = self.decisions.samples(name, now - window).await?;
        Ok(history::window(&samples, now, window, points))
    }
}
