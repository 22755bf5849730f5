//! The autoscaler's memory in process: the embedded default.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use app::domain::autoscaling::{AutoscalerState, Decision, Points};
use app::ports::{AutoscalerStore, DECISIONS_KEPT, StoreError};
use async_trait::async_trait;

#[derive(Default)]
struct SchedulerMemory {
    points: Points,
    state: Option<AutoscalerState>,
    /// Newest first.
    decisions: VecDeque<Decision>,
}

#[derive(Default)]
pub struct MemoryAutoscalerStore {
    schedulers: Mutex<HashMap<String, SchedulerMemory>>,
}

impl MemoryAutoscalerStore {
    fn with<T>(&self, scheduler: &str, f: impl FnOnce(&mut SchedulerMemory) -> T) -> T {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        let mut all = self
            .schedulers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(all.entry(scheduler.to_string()).or_default())
    }
}

#[async_trait]
impl AutoscalerStore for MemoryAutoscalerStore {
    async fn record_points(
        &self,
        scheduler: &str,
        points: &[(String, f64)],
        keep: usize,
    ) -> Result<Points, StoreError> {
        Ok(self.with(scheduler, |memory| {
            for (kind, value) in points {
                memory.points.entry(kind.clone()).or_default().push(*value);
            }
            for series in memory.points.values_mut() {
                let surplus = series.len().saturating_sub(keep);
                series.drain(..surplus);
            }
            memory.points.retain(|_, series| !series.is_empty());
            memory.points.clone()
        }))
    }

    async fn state(&self, scheduler: &str) -> Result<Option<AutoscalerState>, StoreError> {
        Ok(self.with(scheduler, |memory| memory.state.clone()))
    }

    async fn save(
        &self,
        scheduler: &str,
        state: &AutoscalerState,
        decision: Option<&Decision>,
    ) -> Result<(), StoreError> {
        self.with(scheduler, |memory| {
            memory.state = Some(state.clone());
            if let Some(decision) = decision {
                memory.decisions.push_front(decision.clone());
                memory.decisions.truncate(DECISIONS_KEPT);
            }
        });
        Ok(())
    }

    async fn decisions(&self, scheduler: &str, limit: usize) -> Result<Vec<Decision>, StoreError> {
        Ok(self.with(scheduler, |memory| {
            memory.decisions.iter().take(limit).cloned().collect()
        }))
    }

    async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        let mut all = self
            .schedulers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        all.remove(scheduler);
        Ok(())
    }
}
