//! Driven ports: what the domain needs from storage and runtimes. Server-only.

use async_trait::async_trait;

use crate::domain::room::RoomCounts;
use crate::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion};
use crate::domain::user::User;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Backend(String),
}

/// Which schedulers to list; `None` matches all.
#[derive(Clone, Debug, Default)]
pub struct SchedulerFilter {
    pub name: Option<String>,
    pub game: Option<String>,
}

/// Schedulers and their version history.
#[async_trait]
pub trait SchedulerStore: Send + Sync {
    /// Stores a new scheduler at version `v1`; `Conflict` when the name is taken.
    async fn create(&self, config: &SchedulerConfig) -> Result<Scheduler, StoreError>;
    /// The active version, or the given one.
    async fn get(&self, name: &str, version: Option<&str>) -> Result<Scheduler, StoreError>;
    async fn list(&self, filter: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError>;
    /// Stores `config` as `version` and makes it active, in one transaction; `Conflict` when
    /// that version already exists (another change won the race).
    async fn add_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<Scheduler, StoreError>;
    /// Every version, oldest first.
    async fn versions(&self, name: &str) -> Result<Vec<SchedulerVersion>, StoreError>;
    async fn switch_active(&self, name: &str, version: &str) -> Result<Scheduler, StoreError>;
    async fn set_state(&self, name: &str, state: SchedulerState) -> Result<(), StoreError>;
    /// Removes the scheduler and all its versions.
    async fn delete(&self, name: &str) -> Result<(), StoreError>;
}

/// Users and their password hashes.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// `Conflict` when the username is taken.
    async fn create(&self, user: &User, password_hash: &str) -> Result<(), StoreError>;
    /// The user and its password hash.
    async fn credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError>;
    async fn count(&self) -> Result<u64, StoreError>;
}

/// Live rooms, as their heartbeats report them.
#[async_trait]
pub trait RoomStore: Send + Sync {
    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError>;
}
