//! Driven ports: what the domain needs from storage and runtimes. Server-only.

use async_trait::async_trait;

mod audit;
mod forwarder;
mod machine_decisions;
mod machines;
mod operations;
mod schedulers;
pub use audit::{AuditFilter, AuditLog};
pub use forwarder::{ForwardError, Forwarder};
pub use machine_decisions::MachineDecisionStore;
pub use machines::{MachineProvider, MachineReport, Machines, ProviderError};
pub use operations::{Leases, OperationPage, OperationStore};
pub use schedulers::{
    SchedulerCache, SchedulerChanges, SchedulerFilter, SchedulerHead, SchedulerStore,
    store_new_version,
};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::domain::allocation::rate::OutcomeBucket;
use crate::domain::allocation::{Claim, Claimed, NewClaim, Selection};
use crate::domain::autoscaling::{AutoscalerState, Decision, Points};
use crate::domain::history::{RoomCountSample, Tier};
use crate::domain::region::RegionHealth;
use crate::domain::room::{GameRoom, Ping, PingError, RoomAddress, RoomCounts, RoomStatus};
use crate::domain::scheduler::{EnvironmentVariable, Scheduler};
use crate::domain::user::User;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Backend(String),
    /// The store cannot be reached now (down, restarting, unreachable or too slow to answer):
    /// the same call is worth trying again in a moment; the adapter reconnects on its own.
    #[error("{store} is unavailable: {detail}")]
    Unavailable { store: Store, detail: String },
}

/// A store Baton depends on, named as `/readyz` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The SQL database (schedulers, users, operations, leases).
    Database,
    /// Redis (rooms, autoscaling points, password-check counts, scheduler changes).
    Redis,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Redis => "redis",
        }
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whoever runs schedulers' operations in this process: told at once when one has new work
/// (an operation queued or a cancel asked for), instead of finding it at its next tick.
pub trait Wake: Send + Sync {
    fn wake(&self, scheduler: &str);
}

/// A user as the store keeps it: what a session is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    pub password_hash: String,
    /// Moved on by [`UserStore::end_sessions`]: a session started in an older epoch is over.
    pub session_epoch: i64,
}

/// Users and their password hashes.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// `Conflict` when the username is taken.
    async fn create(&self, user: &User, password_hash: &str) -> Result<(), StoreError>;
    /// The user, its password hash and its session epoch.
    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError>;
    /// The user and its password hash.
    async fn credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        Ok(self
            .account(username)
            .await?
            .map(|account| (account.user, account.password_hash)))
    }
    async fn count(&self) -> Result<u64, StoreError>;
    /// Every user, by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Replaces the password hash; `NotFound` for an unknown user.
    async fn set_password(&self, username: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Disables or enables a user; disabling also moves its session epoch on (its sessions
    /// stay ended once it is enabled again). `NotFound` for an unknown user.
    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), StoreError>;
    /// Moves the user's session epoch on, in one step: every session started before ends.
    /// `NotFound` for an unknown user.
    async fn end_sessions(&self, username: &str) -> Result<(), StoreError>;
    /// Changes the role and games of `user.username`; `NotFound` for an unknown user.
    async fn update(&self, user: &User) -> Result<(), StoreError>;
    /// Removes a user; `NotFound` for an unknown user.
    async fn delete_user(&self, username: &str) -> Result<(), StoreError>;
}

/// What a password check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The credentials are this user's.
    User(User),
    /// A wrong password, an unknown user (checked against a decoy hash, so timing does not tell
    /// which) or a disabled user.
    Wrong,
    /// Too many failed checks from this client lately: not checked; try after `retry_after`.
    Throttled { retry_after: std::time::Duration },
}

/// Checks and hashes passwords (argon2id on the server).
#[async_trait]
pub trait Passwords: Send + Sync {
    /// Checks a password sent from `client` (its address), counting the check against the
    /// client and the user (`domain::throttle`).
    async fn verify(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<Verified, StoreError>;
    /// A new argon2id hash of `password`, for storing.
    async fn hash(&self, password: &str) -> Result<String, StoreError>;
    /// Forgets whatever is cached about `username` (its password, role or status changed).
    fn forget(&self, username: &str);
}

/// Counts password checks per client address and per user over fixed windows, shared by every
/// Baton process that uses the same store (Redis), so that replicas limit guessing together.
#[async_trait]
pub trait AttemptCounter: Send + Sync {
    /// Counts one check of `user` from `client` before it runs (so that parallel checks see
    /// each other) and answers the counts in the current windows, this one included, and the
    /// time left in the client's window.
    async fn count(
        &self,
        client: &str,
        user: &str,
        window: std::time::Duration,
    ) -> Result<AttemptCounts, StoreError>;
    /// The check succeeded: it does not count against the client, and the user's failures
    /// are forgotten.
    async fn succeeded(&self, client: &str, user: &str) -> Result<(), StoreError>;
}

/// What [`AttemptCounter::count`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptCounts {
    pub client: u64,
    pub user: u64,
    pub client_window_left: std::time::Duration,
}

/// What an applied ping answers: the status the room was in before it, and the room's open
/// claims after it (those it confirmed are closed; expired ones are left out), oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Pinged {
    pub previous: RoomStatus,
    pub claims: Vec<Claim>,
}

impl Pinged {
    /// A ping that leaves the room without open claims.
    pub fn unclaimed(previous: RoomStatus) -> Self {
        Self {
            previous,
            claims: Vec::new(),
        }
    }
}

/// Live rooms, as their heartbeats report them. Every change to one room is atomic.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Adds a new room; `Conflict` when the id is taken.
    async fn insert(&self, room: &GameRoom) -> Result<(), StoreError>;
    async fn get(&self, scheduler: &str, id: &str) -> Result<GameRoom, StoreError>;
    async fn list(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError>;
    /// The rooms of `scheduler` for its health controller, which asks every tick: what `list`
    /// answers (the same rooms, in the same order and state, every change made by any process
    /// sharing the store shown at once) except for `last_ping_at`. That is exact for a room
    /// whose last ping is before `silent_before` (one a tick may time out); for another it may
    /// lag behind its latest heartbeats, but is then `None` or from `silent_before` to its
    /// last ping. So a store may answer a steady scheduler without reading every room (the
    /// Redis store reads them again only when one changed other than by a heartbeat); the
    /// answer is shared with it, copy it to change it (`Arc::make_mut`).
    async fn list_for_tick(
        &self,
        scheduler: &str,
        silent_before: DateTime<Utc>,
    ) -> Result<Arc<Vec<GameRoom>>, StoreError>;
    /// Applies a heartbeat atomically with the domain's rule (`GameRoom::apply_ping`, i.e.
    /// `RoomStatus::check_ping`), closing the claims it confirms
    /// (`allocation::confirmed_by_ping`). `Ok(Ok(pinged))`: applied, with the status the room
    /// was in before and its open claims after the ping (unconfirmed and unexpired at `now`);
    /// `Ok(Err(refusal))`: the rule refused it and nothing changed; `NotFound` for an unknown
    /// room. It returns no room, so that a store can apply it without reading one back, and
    /// reads claims only for a room that has some: this is the hot path of every running room.
    async fn ping(
        &self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<Result<Pinged, PingError>, StoreError>;
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
    /// Records the machine the room runs on (`allocation::packing` counts its busy rooms per
    /// machine); `NotFound` for an unknown room.
    async fn set_machine(&self, scheduler: &str, id: &str, machine: &str)
    -> Result<(), StoreError>;
    /// Sets (or, with `None`, clears) why the room is in its status: a room waiting for
    /// capacity says what it waits for. The status means something else from now on, so
    /// `status_changed_at` becomes `now` (a room that waited starts its initialization timeout
    /// when it is started). Unknown room: `NotFound`.
    async fn set_status_reason(
        &self,
        scheduler: &str,
        id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Forgets a room; removing an unknown room is not an error.
    async fn remove(&self, scheduler: &str, id: &str) -> Result<(), StoreError>;
    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError>;
    /// Records the scheduler's room counts at `at` in the history tiers that take them
    /// (`history::tiers_taking`) and drops, in the same step, the samples a tier no longer keeps
    /// (`Tier::kept_since`). Only the scheduler's controller (the lease holder) records.
    async fn record_counts(
        &self,
        scheduler: &str,
        counts: RoomCounts,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The samples of `tier` taken at `since` or later, oldest first.
    async fn count_history(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
    ) -> Result<Vec<RoomCountSample>, StoreError>;
    /// Forgets the scheduler's count history and its allocation outcomes (it was deleted).
    async fn forget_counts(&self, scheduler: &str) -> Result<(), StoreError>;
    /// Stores how each region's runtime answered the scheduler's controller last (replacing
    /// what was stored; an empty list forgets it), so that every replica answers the same.
    async fn set_region_health(
        &self,
        scheduler: &str,
        health: &[RegionHealth],
    ) -> Result<(), StoreError>;
    /// What [`RoomStore::set_region_health`] stored last (empty when nothing).
    async fn region_health(&self, scheduler: &str) -> Result<Vec<RegionHealth>, StoreError>;
    /// Claims capacity on one room that can take it (`allocation::can_take` with `max_matches`)
    /// and matches `selection`, chosen as `allocation::pick` chooses (preferred regions in
    /// order, then the selection's strategy), and records the claim, in one atomic step that
    /// also reads the room's address and region; `None`
    /// when no room can. Removing a room drops its claims; a ping confirms them
    /// (`allocation::confirmed_by_ping`) and closes them. Every call counts its outcome
    /// (`rate::Outcome`: allocated, or refused when no room can) at the claim's `created_at`
    /// in the same step ([`RoomStore::allocation_outcomes`]).
    async fn allocate(
        &self,
        scheduler: &str,
        max_matches: u32,
        selection: &Selection,
        claim: &NewClaim,
    ) -> Result<Option<Claimed>, StoreError>;
    /// Claims capacity on room `room`, atomically; `NotFound` for an unknown room, `Conflict`
    /// when it cannot take a claim. A claim it records counts as allocated at the claim's
    /// `created_at`, like `allocate`'s; a refusal does not count (a full or unknown room says
    /// nothing of whether the scheduler had a room free).
    async fn reserve(
        &self,
        scheduler: &str,
        room: &str,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Claimed, StoreError>;
    /// The allocation outcomes `allocate` and `reserve` counted for `scheduler` in the buckets
    /// of `tier` (`Tier::bucket`) from the one holding `since` to the one holding `until`,
    /// oldest first; buckets with nothing counted are left out. A tier keeps a bucket as long
    /// as it keeps count samples (`Tier::keeps_bucket`; Redis: each bucket's key expires
    /// `Tier::bucket_ttl` after its last count).
    async fn allocation_outcomes(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutcomeBucket>, StoreError>;
    /// Closes a claim, returning its capacity at once; `None` when there is no such open claim.
    async fn release(&self, scheduler: &str, claim: &str) -> Result<Option<Claim>, StoreError>;
    /// The open claims on `room` (or on every room), oldest first.
    async fn claims(&self, scheduler: &str, room: Option<&str>) -> Result<Vec<Claim>, StoreError>;
    /// Closes the claims that expired at `now` (not confirmed in time) and reads the claims
    /// still open, in one step: the health tick's sweep.
    async fn sweep_claims(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
    ) -> Result<SweptClaims, StoreError>;
}

/// What a claim sweep ([`RoomStore::sweep_claims`]) found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweptClaims {
    /// The claims it closed, oldest first: their rooms did not confirm them in time.
    pub expired: Vec<Claim>,
    /// The claims still open after it, oldest first.
    pub open: Vec<Claim>,
}

/// How many decisions a scheduler keeps.
pub const DECISIONS_KEPT: usize = 200;

/// The autoscaler's memory per scheduler: usage points, its state and its recent decisions.
/// Redis in production, in-process by default.
#[async_trait]
pub trait AutoscalerStore: Send + Sync {
    /// Appends one point per trigger type and returns the latest `keep` points of every type
    /// the scheduler has, oldest first. Older points are dropped.
    async fn record_points(
        &self,
        scheduler: &str,
        points: &[(String, f64)],
        keep: usize,
    ) -> Result<Points, StoreError>;
    async fn state(&self, scheduler: &str) -> Result<Option<AutoscalerState>, StoreError>;
    /// Saves the state and, in the same step, the decision that led to it (if any), keeping
    /// the latest [`DECISIONS_KEPT`].
    async fn save(
        &self,
        scheduler: &str,
        state: &AutoscalerState,
        decision: Option<&Decision>,
    ) -> Result<(), StoreError>;
    /// The latest decisions, newest first.
    async fn decisions(&self, scheduler: &str, limit: usize) -> Result<Vec<Decision>, StoreError>;
    /// Forgets points, state and decisions (the scheduler was deleted).
    async fn forget(&self, scheduler: &str) -> Result<(), StoreError>;
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
    /// The instance was placed on a machine (named as the machine adapters name it).
    Placed {
        scheduler: String,
        room: String,
        machine: String,
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
    /// The machine it runs on, once placed (as the machine adapters name it).
    pub machine: Option<String>,
    /// Set when the instance has failed for good.
    pub crashed: Option<String>,
}

/// Resource usage of one room's instance, as the runtime measures it (all its containers or processes).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceUsage {
    pub room: String,
    /// CPU in cores (1.0 = one full core; Kubernetes' `1000m`).
    pub cpu_cores: f64,
    /// Resident memory in bytes.
    pub memory_bytes: f64,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
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
    /// The room may not start now: no machine may take it without breaking a safety limit, or
    /// the machine is below the minimum spec. It waits (pending, with this reason) and is
    /// started once capacity frees.
    #[error("no capacity: {0}")]
    NoCapacity(String),
}

/// What rooms' instances printed, read from the runtime each room runs on, with the room's
/// token hidden (`room_timeline::hide_secrets`).
#[async_trait]
pub trait RoomLogs: Send + Sync {
    /// The last lines the instance of room `room` printed, oldest first ([`Runtime::logs`]), from
    /// the runtime of `region` (empty: the default runtime's, where rooms stored before regions
    /// and rooms no longer stored are looked for). Empty when the runtime keeps none.
    async fn room_logs(&self, scheduler: &str, room: &str, region: &str) -> Vec<String>;
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
    /// Current CPU and memory usage of the scheduler's running instances (the cpu and mem
    /// autoscaling triggers). Instances not measured yet are left out.
    async fn usage(&self, scheduler: &str) -> Result<Vec<InstanceUsage>, RuntimeError>;
    /// The last lines the room's instance printed, oldest first, where the runtime keeps them
    /// (for an operation's history when a validation room fails).
    async fn logs(&self, _scheduler: &str, _room: &str) -> Vec<String> {
        Vec::new()
    }
    /// Removes whatever the runtime keeps for the scheduler (its namespace, its processes).
    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError>;
    /// How many room creations the health controller may have under way at once on this
    /// runtime: one (one after another) unless the runtime limits its own calls.
    fn creations_at_once(&self) -> usize {
        1
    }
}
