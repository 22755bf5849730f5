//! Schedulers: their store (versions, heads), and what tells this process and others of changes.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion};

/// Which schedulers to list; `None` matches all.
#[derive(Clone, Debug, Default)]
pub struct SchedulerFilter {
    pub name: Option<String>,
    pub game: Option<String>,
}

/// What tells whether a remembered scheduler is still current: its active version and state
/// (a version's configuration never changes once stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerHead {
    pub name: String,
    pub game: String,
    pub version: String,
    pub state: SchedulerState,
}

impl SchedulerHead {
    pub fn of(scheduler: &Scheduler) -> Self {
        Self {
            name: scheduler.config.name.clone(),
            game: scheduler.config.game.clone(),
            version: scheduler.version.clone(),
            state: scheduler.state,
        }
    }

    /// Whether `scheduler` is what this head describes.
    pub fn describes(&self, scheduler: &Scheduler) -> bool {
        self.version == scheduler.version
            && self.state == scheduler.state
            && self.name == scheduler.config.name
    }
}

/// Schedulers and their version history.
#[async_trait]
pub trait SchedulerStore: Send + Sync {
    /// Stores a new scheduler at version `v1`; `Conflict` when the name is taken.
    async fn create(&self, config: &SchedulerConfig) -> Result<Scheduler, StoreError>;
    /// The active version, or the given one.
    async fn get(&self, name: &str, version: Option<&str>) -> Result<Scheduler, StoreError>;
    /// The active version, shared: a store that remembers schedulers answers it without a copy
    /// (the health tick reads it every second).
    async fn active(&self, name: &str) -> Result<Arc<Scheduler>, StoreError> {
        Ok(Arc::new(self.get(name, None).await?))
    }
    async fn list(&self, filter: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError>;
    /// Every scheduler's head (in no promised order): what the health supervisor reads every tick, without
    /// reading any configuration (a store should answer it from one light query).
    async fn heads(&self) -> Result<Vec<SchedulerHead>, StoreError> {
        Ok(self
            .list(&SchedulerFilter::default())
            .await?
            .iter()
            .map(SchedulerHead::of)
            .collect())
    }
    /// Stores `config` as `version` and makes it active, in one transaction; `Conflict` when
    /// that version already exists (another change won the race).
    async fn add_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<Scheduler, StoreError>;
    /// Every version, oldest first.
    async fn versions(&self, name: &str) -> Result<Vec<SchedulerVersion>, StoreError>;
    /// Stores `config` as `version` without making it active (a major version waits for its
    /// validation room); `Conflict` when that version already exists.
    async fn store_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<SchedulerVersion, StoreError>;
    /// Removes a version that is not active (one whose operation was refused); removing an
    /// unknown version is fine, the active one is a `Conflict`.
    async fn remove_version(&self, name: &str, version: &str) -> Result<(), StoreError>;
    async fn switch_active(&self, name: &str, version: &str) -> Result<Scheduler, StoreError>;
    async fn set_state(&self, name: &str, state: SchedulerState) -> Result<(), StoreError>;
    /// Removes the scheduler and all its versions.
    async fn delete(&self, name: &str) -> Result<(), StoreError>;
}

/// Stores `config` as the next version of the active scheduler `current` and makes it active: a
/// new major version when the rooms change, else a minor one. Submitting the active configuration
/// again changes nothing. The caller has validated `config` and checked the user's role.
pub async fn store_new_version(
    store: &dyn SchedulerStore,
    current: Scheduler,
    config: &SchedulerConfig,
) -> Result<Scheduler, StoreError> {
    if *config == current.config {
        return Ok(current);
    }
    let existing: Vec<String> = store
        .versions(&config.name)
        .await?
        .into_iter()
        .map(|v| v.version)
        .collect();
    let version =
        crate::domain::version::next_version(&current.version, &current.config, config, &existing);
    store.add_version(config, &version).await
}

/// Something in this process that remembers schedulers (e.g. which accept tokenless pings) and
/// must forget one as soon as it is changed or deleted here.
pub trait SchedulerCache: Send + Sync {
    fn forget(&self, scheduler: &str);
    /// Forgets every scheduler (changes may have been missed, e.g. while the connection that
    /// tells of other processes' changes was down).
    fn forget_all(&self);
}

/// Tells every process that a scheduler changed, so that each forgets what its
/// [`SchedulerCache`]s remember of it (Redis pub/sub when several replicas share a store).
#[async_trait]
pub trait SchedulerChanges: Send + Sync {
    async fn publish(&self, scheduler: &str) -> Result<(), StoreError>;
}
