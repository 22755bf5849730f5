//! Where machine-scaling decisions are kept, per scheduler, newest first.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::capacity::MachineDecisionRecord;

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
    /// Forgets the scheduler's decisions (it was deleted).
    async fn forget(&self, scheduler: &str) -> Result<(), StoreError>;
}
