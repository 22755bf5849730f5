//! Machine-scaling decisions in process: the embedded default.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use app::domain::capacity::{CapacitySample, MachineDecisionRecord, keep_sample};
use app::ports::{DECISIONS_KEPT, MachineDecisionStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Default)]
pub struct MemoryMachineDecisionStore {
    /// Per scheduler, newest first.
    schedulers: Mutex<HashMap<String, VecDeque<MachineDecisionRecord>>>,
    /// Per scheduler, the free-capacity samples, oldest first.
    samples: Mutex<HashMap<String, VecDeque<CapacitySample>>>,
}

impl MemoryMachineDecisionStore {
    fn with_samples<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, VecDeque<CapacitySample>>) -> T,
    ) -> T {
        let mut all = self
            .samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut all)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, VecDeque<MachineDecisionRecord>>) -> T,
    ) -> T {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        let mut all = self
            .schedulers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut all)
    }
}

#[async_trait]
impl MachineDecisionStore for MemoryMachineDecisionStore {
    async fn record(&self, record: &MachineDecisionRecord) -> Result<(), StoreError> {
        self.with(|all| {
            let decisions = all.entry(record.scheduler.clone()).or_default();
            decisions.push_front(record.clone());
            decisions.truncate(DECISIONS_KEPT);
        });
        Ok(())
    }

    async fn decisions(
        &self,
        scheduler: &str,
        limit: usize,
    ) -> Result<Vec<MachineDecisionRecord>, StoreError> {
        Ok(self.with(|all| {
            all.get(scheduler)
                .map(|d| d.iter().take(limit).cloned().collect())
                .unwrap_or_default()
        }))
    }

    async fn record_sample(
        &self,
        scheduler: &str,
        sample: &CapacitySample,
    ) -> Result<(), StoreError> {
        self.with_samples(|all| {
            keep_sample(all.entry(scheduler.to_string()).or_default(), *sample)
        });
        Ok(())
    }

    async fn samples(
        &self,
        scheduler: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<CapacitySample>, StoreError> {
        Ok(self.with_samples(|all| {
            all.get(scheduler)
                .map(|s| s.iter().filter(|s| s.at >= since).copied().collect())
                .unwrap_or_default()
        }))
    }

    async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        self.with(|all| all.remove(scheduler));
        self.with_samples(|all| all.remove(scheduler));
        Ok(())
    }
}
