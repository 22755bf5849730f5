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

use crate::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion};
use crate::ports::{SchedulerCache, SchedulerFilter, SchedulerHead, SchedulerStore, StoreError};

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

    /// `name`'s state was just set to `state` in the store: a remembered scheduler takes it
    /// (a read under way, which may have seen the state before, is not remembered).
    pub fn state_set(&self, name: &str, state: SchedulerState) {
        let mut remembered = self.lock();
        remembered.generation += 1;
        if let Some((scheduler, _)) = remembered.known.get_mut(name)
            && scheduler.state != state
        {
            Arc::make_mut(scheduler).state = state;
        }
    }

    /// Checks what is remembered against `heads`, read from the store at `read_at`: a scheduler
    /// they describe is known current as of `read_at` (its TTL counts from then), any other is
    /// forgotten. The health supervisor lists the heads every tick, so that a change nobody was
    /// told of is seen within a tick and a steady scheduler is never read again.
    pub fn confirm(&self, heads: &[SchedulerHead], read_at: Instant) {
        let mut state = self.lock();
        let before = state.known.len();
        state.known.retain(|name, (scheduler, at)| {
            let Ok(i) = heads.binary_search_by(|head| head.name.as_str().cmp(name)) else {
                return false;
            };
            if !heads[i].describes(scheduler) {
                return false;
            }
            *at = (*at).max(read_at);
            true
        });
        if state.known.len() != before {
            // A read under way may have seen what was just found stale.
            state.generation += 1;
        }
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

/// A [`SchedulerStore`] that answers the active version of a scheduler from
/// [`ActiveSchedulers`] (for the health controller's tick, which reads it every second), and
/// forgets a scheduler in it whenever it writes one. Everything else goes to the store.
pub struct CachedSchedulerStore {
    store: Arc<dyn SchedulerStore>,
    active: Arc<ActiveSchedulers>,
}

impl CachedSchedulerStore {
    pub fn new(store: Arc<dyn SchedulerStore>, active: Arc<ActiveSchedulers>) -> Self {
        Self { store, active }
    }

    /// The write's outcome, the scheduler forgotten whatever it was.
    fn written<T>(&self, name: &str, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        self.active.forget(name);
        outcome
    }
}

#[async_trait::async_trait]
impl SchedulerStore for CachedSchedulerStore {
    async fn create(&self, config: &SchedulerConfig) -> Result<Scheduler, StoreError> {
        let created = self.store.create(config).await;
        self.written(&config.name, created)
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<Scheduler, StoreError> {
        match version {
            None => Ok(Scheduler::clone(
                &*self.active.get(name, &*self.store).await?,
            )),
            Some(_) => self.store.get(name, version).await,
        }
    }

    async fn active(&self, name: &str) -> Result<Arc<Scheduler>, StoreError> {
        self.active.get(name, &*self.store).await
    }

    async fn list(&self, filter: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError> {
        self.store.list(filter).await
    }

    /// The store's heads (sorted by name), which also confirm or forget what is remembered.
    async fn heads(&self) -> Result<Vec<SchedulerHead>, StoreError> {
        let read_at = Instant::now();
        let mut heads = self.store.heads().await?;
        heads.sort_by(|a, b| a.name.cmp(&b.name));
        self.active.confirm(&heads, read_at);
        Ok(heads)
    }

    async fn add_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<Scheduler, StoreError> {
        let added = self.store.add_version(config, version).await;
        self.written(&config.name, added)
    }

    async fn versions(&self, name: &str) -> Result<Vec<SchedulerVersion>, StoreError> {
        self.store.versions(name).await
    }

    async fn store_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<SchedulerVersion, StoreError> {
        self.store.store_version(config, version).await
    }

    async fn remove_version(&self, name: &str, version: &str) -> Result<(), StoreError> {
        self.store.remove_version(name, version).await
    }

    async fn switch_active(&self, name: &str, version: &str) -> Result<Scheduler, StoreError> {
        let switched = self.store.switch_active(name, version).await;
        self.written(name, switched)
    }

    /// A state set is remembered as set (the health tick sets it whenever its rooms settle or
    /// stir, and would otherwise read the scheduler again on its next tick); a failed one
    /// forgets the scheduler.
    async fn set_state(&self, name: &str, state: SchedulerState) -> Result<(), StoreError> {
        let set = self.store.set_state(name, state).await;
        match set {
            Ok(()) => self.active.state_set(name, state),
            Err(_) => self.active.forget(name),
        }
        set
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let deleted = self.store.delete(name).await;
        self.written(name, deleted)
    }
}

#[cfg(test)]
mod cached_store_tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// What the fake answers to calls the decorator must not make in this test.
    fn not_asked() -> StoreError {
        StoreError::Backend("not asked of this fake".into())
    }

    /// One scheduler; counts the reads of its active version.
    struct Counting {
        scheduler: Mutex<Scheduler>,
        reads: AtomicUsize,
        /// Deleted by someone who did not tell (the heads no longer list it).
        deleted: AtomicBool,
    }

    #[async_trait::async_trait]
    impl SchedulerStore for Counting {
        async fn create(&self, _: &SchedulerConfig) -> Result<Scheduler, StoreError> {
            Err(not_asked())
        }
        async fn get(&self, _: &str, _: Option<&str>) -> Result<Scheduler, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.scheduler.lock().unwrap().clone())
        }
        async fn list(&self, _: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError> {
            Err(not_asked())
        }
        async fn add_version(&self, _: &SchedulerConfig, _: &str) -> Result<Scheduler, StoreError> {
            Err(not_asked())
        }
        async fn versions(&self, _: &str) -> Result<Vec<SchedulerVersion>, StoreError> {
            Err(not_asked())
        }
        async fn store_version(
            &self,
            _: &SchedulerConfig,
            _: &str,
        ) -> Result<SchedulerVersion, StoreError> {
            Err(not_asked())
        }
        async fn remove_version(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Err(not_asked())
        }
        async fn switch_active(&self, _: &str, _: &str) -> Result<Scheduler, StoreError> {
            Err(not_asked())
        }
        async fn set_state(&self, _: &str, state: SchedulerState) -> Result<(), StoreError> {
            self.scheduler.lock().unwrap().state = state;
            Ok(())
        }
        async fn heads(&self) -> Result<Vec<SchedulerHead>, StoreError> {
            let scheduler = self.scheduler.lock().unwrap();
            Ok(if self.deleted.load(Ordering::SeqCst) {
                Vec::new()
            } else {
                vec![SchedulerHead::of(&scheduler)]
            })
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Err(not_asked())
        }
    }

    /// The fake with scheduler `s` at `v1` in `state`.
    fn counting(state: SchedulerState) -> Arc<Counting> {
        let config: SchedulerConfig = serde_json::from_value(serde_json::json!({
            "name": "s", "game": "g", "roomsReplicas": 1,
            "spec": {"terminationGracePeriod": "10s", "containers": []}
        }))
        .unwrap();
        Arc::new(Counting {
            scheduler: Mutex::new(Scheduler {
                config,
                version: "v1".into(),
                state,
                created_at: chrono::Utc::now(),
            }),
            reads: AtomicUsize::new(0),
            deleted: AtomicBool::new(false),
        })
    }

    #[tokio::test]
    async fn the_active_version_is_read_once_until_the_store_writes_it() {
        let store = counting(SchedulerState::Creating);
        let cached = CachedSchedulerStore::new(
            store.clone(),
            Arc::new(ActiveSchedulers::new(Duration::from_secs(60))),
        );
        for _ in 0..3 {
            assert_eq!(
                cached.get("s", None).await.unwrap().state,
                SchedulerState::Creating
            );
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1, "remembered");
        cached.set_state("s", SchedulerState::InSync).await.unwrap();
        assert_eq!(
            cached.get("s", None).await.unwrap().state,
            SchedulerState::InSync
        );
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            1,
            "the state set, remembered"
        );
        // Any other write forgets it, failed or not.
        assert!(cached.delete("s").await.is_err());
        cached.get("s", None).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 2, "forgotten on write");
        // A given version is always read.
        cached.get("s", Some("v1")).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn the_heads_keep_a_current_scheduler_and_find_a_change_nobody_told_of() {
        let store = counting(SchedulerState::InSync);
        let ttl = Duration::from_millis(200);
        let cached = CachedSchedulerStore::new(store.clone(), Arc::new(ActiveSchedulers::new(ttl)));
        let reads = || store.reads.load(Ordering::SeqCst);
        cached.get("s", None).await.unwrap();
        assert_eq!(reads(), 1);

        // Past the TTL, but confirmed by the heads: not read again.
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert_eq!(cached.heads().await.unwrap().len(), 1);
        assert_eq!(cached.get("s", None).await.unwrap().version, "v1");
        assert_eq!(reads(), 1, "confirmed by the heads");

        // Past the TTL with no heads read: read again.
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        cached.get("s", None).await.unwrap();
        assert_eq!(reads(), 2, "expired");

        // Another process activates v2 and nobody tells this one: the heads show it.
        store.scheduler.lock().unwrap().version = "v2".into();
        assert_eq!(
            cached.get("s", None).await.unwrap().version,
            "v1",
            "not told"
        );
        cached.heads().await.unwrap();
        assert_eq!(cached.get("s", None).await.unwrap().version, "v2");
        assert_eq!(reads(), 3);
        // So does a state set elsewhere.
        store.scheduler.lock().unwrap().state = SchedulerState::OnError;
        cached.heads().await.unwrap();
        assert_eq!(
            cached.get("s", None).await.unwrap().state,
            SchedulerState::OnError
        );
        assert_eq!(reads(), 4);

        // Deleted elsewhere: no longer among the heads, so forgotten (the store then answers).
        store.deleted.store(true, Ordering::SeqCst);
        assert!(cached.heads().await.unwrap().is_empty());
        cached.get("s", None).await.unwrap();
        assert_eq!(reads(), 5, "forgotten when its head is gone");
    }
}
