//! The active version of each scheduler, remembered for the paths that read it on every call
//! (allocation: who may allocate, `maxMatches`), so that they do not cost a database read each.
//!
//! A [`SchedulerCache`]: this process forgets a scheduler as soon as it changes it (the service
//! and the operation workers tell their caches), and, with Redis, as soon as another replica
//! publishes a change; a change nobody was told of takes effect within the TTL. A read that
//! started before a change is not remembered (a generation count guards the race between the
//! read and the change), so a forgotten scheduler is never brought back stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::domain::scheduler::Scheduler;
use crate::ports::{SchedulerCache, SchedulerStore, StoreError};

/// Schedulers remembered at most: past it, expired ones go, then all.
const KEPT: usize = 10_000;

pub struct ActiveSchedulers {
    ttl: Duration,
    state: Mutex<Remembered>,
}

#[derive(Default)]
struct Remembered {
    /// Counts forgets: a read that saw another count is not remembered.
    generation: u64,
    known: HashMap<String, (Arc<Scheduler>, Instant)>,
}

impl ActiveSchedulers {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(Remembered::default()),
        }
    }

    /// The active version of `name`: remembered, or read from `store` (unknown schedulers and
    /// failures are not remembered).
    pub async fn get(
        &self,
        name: &str,
        store: &dyn SchedulerStore,
    ) -> Result<Arc<Scheduler>, StoreError> {
        let generation = {
            let state = self.lock();
            if let Some((scheduler, at)) = state.known.get(name)
                && at.elapsed() < self.ttl
            {
                return Ok(scheduler.clone());
            }
            state.generation
        };
        let scheduler = Arc::new(store.get(name, None).await?);
        let mut state = self.lock();
        if state.generation == generation {
            if state.known.len() >= KEPT {
                let ttl = self.ttl;
                state.known.retain(|_, (_, at)| at.elapsed() < ttl);
                if state.known.len() >= KEPT {
                    state.known.clear();
                }
            }
            state
                .known
                .insert(name.to_string(), (scheduler.clone(), Instant::now()));
        }
        Ok(scheduler)
    }

    fn lock(&self) -> MutexGuard<'_, Remembered> {
        // The map holds no invariant a panicking holder could break.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SchedulerCache for ActiveSchedulers {
    fn forget(&self, scheduler: &str) {
        let mut state = self.lock();
        state.generation += 1;
        state.known.remove(scheduler);
    }

    fn forget_all(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.known.clear();
    }
}
