//! Where machine-scaling decisions are kept, per scheduler, newest first, and the free payload
//! capacity each evaluation saw (`domain::capacity::series`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::capacity::{CapacitySample, MachineDecisionRecord};

/// The recent machine-scaling decisions of every scheduler (the latest [`super::DECISIONS_KEPT`]
/// each). Redis in production, in-process by default.
#[async_trait]
pub trait MachineDecisionStore: Send + Sync {
    /// Appends `record` to its scheduler's decisions, dropping the oldest past the limit.
    async fn record(&self, record: &MachineDecisionRecord) -> Result<(), StoreError>;
    /// The latest decisions, newest first.
    async fn decisions(
        &self,
        scheduler: &str,
        limit: usize,
    ) -> Result<Vec<MachineDecisionRecord>, StoreError>;
    /// Appends one free-capacity sample of `scheduler`, dropping what the series no longer keeps
    /// (older than a day before it, the oldest past `SAMPLES_KEPT`: see `keep_sample`).
    async fn record_sample(
        &self,
        scheduler: &str,
        sample: &CapacitySample,
    ) -> Result<(), StoreError>;
    /// The scheduler's free-capacity samples taken at or after `since`, oldest first.
    async fn samples(
        &self,
        scheduler: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<CapacitySample>, StoreError>;
    /// Forgets the scheduler's decisions and samples (it was deleted).
    async fn forget(&self, scheduler: &str) -> Result<(), StoreError>;
}
