//! Driven ports: what the domain needs from storage and runtimes. Server-only.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::domain::room::{GameRoom, Ping, RoomAddress, RoomCounts, RoomStatus};
use crate::domain::scheduler::{
    EnvironmentVariable, Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion,
};
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

/// Live rooms, as their heartbeats report them. Every change to one room is atomic.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Adds a new room; `Conflict` when the id is taken.
    async fn insert(&self, room: &GameRoom) -> Result<(), StoreError>;
    async fn get(&self, scheduler: &str, id: &str) -> Result<GameRoom, StoreError>;
    async fn list(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError>;
    /// Applies a heartbeat atomically with the domain's rule (`GameRoom::apply_ping` /
    /// `RoomStatus::allowed_before`); `Conflict` when the transition is refused.
    async fn ping(
        &self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<GameRoom, StoreError>;
    /// An orchestrator-side status change (to error, terminating, ...), whatever the room said.
    async fn set_status(
        &self,
        scheduler: &str,
        id: &str,
        status: RoomStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn set_address(
        &self,
        scheduler: &str,
        id: &str,
        address: &RoomAddress,
    ) -> Result<(), StoreError>;
    /// Forgets a room; removing an unknown room is not an error.
    async fn remove(&self, scheduler: &str, id: &str) -> Result<(), StoreError>;
    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError>;
}

/// What a runtime reports about the instance behind a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceEvent {
    Created {
        scheduler: String,
        room: String,
    },
    /// The instance runs (its containers started); the room still has to ping ready.
    Running {
        scheduler: String,
        room: String,
    },
    AddressKnown {
        scheduler: String,
        room: String,
        address: RoomAddress,
    },
    Crashed {
        scheduler: String,
        room: String,
        reason: String,
    },
    Gone {
        scheduler: String,
        room: String,
    },
}

/// An instance as the runtime sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomInstance {
    pub scheduler: String,
    pub room: String,
    pub version: String,
    pub address: Option<RoomAddress>,
    /// Set when the instance has failed for good.
    pub crashed: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    /// The runtime refused the request; retrying it unchanged will fail again.
    #[error("runtime refused: {0}")]
    Rejected(String),
    /// The runtime could not be reached or was overloaded; retry later.
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// No free host port is left in the scheduler's port range.
    #[error("no free port left in the port range of scheduler {0}")]
    PortsExhausted(String),
}

/// Where room instances run: local processes or Kubernetes pods.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Starts the instance of room `room` from the scheduler's active spec, with `env` added
    /// to every container (room id, scheduler name, API URL, room token).
    async fn create_instance(
        &self,
        scheduler: &Scheduler,
        room: &str,
        env: &[EnvironmentVariable],
    ) -> Result<RoomInstance, RuntimeError>;
    /// Stops the instance, giving it the scheduler's termination grace period; unknown rooms are fine.
    async fn delete_instance(&self, scheduler: &Scheduler, room: &str) -> Result<(), RuntimeError>;
    /// Every instance of the scheduler that the runtime has.
    async fn instances(&self, scheduler: &str) -> Result<Vec<RoomInstance>, RuntimeError>;
    /// Events about the scheduler's instances, from now on.
    fn watch(&self, scheduler: &str) -> BoxStream<'static, InstanceEvent>;
    /// Removes whatever the runtime keeps for the scheduler (its namespace, its processes).
    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError>;
}
