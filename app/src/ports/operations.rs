//! Operations and leases: the durable queue of scheduler changes, and who runs each scheduler.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::operation::{Busy, Operation, OperationOrder, Stage};

/// One page of a scheduler's operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationPage {
    pub operations: Vec<Operation>,
    /// How many match, over every page.
    pub total: u64,
}

/// Durable operations, per scheduler, in the order they were accepted. Every change to one
/// operation is atomic; `start`, `update` and `cancel` are conditional on its status, so a
/// process that lost its lease, or a cancel racing a start, changes nothing it should not.
#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Stores `operation` (pending) unless `domain::operation::may_queue` refuses it given the
    /// scheduler's unfinished operations, checked and stored atomically.
    async fn enqueue(&self, operation: &Operation) -> Result<Result<(), Busy>, StoreError>;
    /// `NotFound` unless the scheduler has this operation.
    async fn get(&self, scheduler: &str, id: &str) -> Result<Operation, StoreError>;
    /// Page `page` (from 1) of `per_page` operations in `stage` (every stage when `None`).
    async fn list(
        &self,
        scheduler: &str,
        stage: Option<Stage>,
        order: OperationOrder,
        page: u32,
        per_page: u32,
    ) -> Result<OperationPage, StoreError>;
    /// The scheduler's pending and in-progress operations, oldest first.
    async fn unfinished(&self, scheduler: &str) -> Result<Vec<Operation>, StoreError>;
    /// The schedulers with a pending or in-progress operation, each once (one query for all:
    /// the health supervisor asks every tick, so that each scheduler's task need not).
    async fn busy_schedulers(&self) -> Result<Vec<String>, StoreError>;
    /// Turns a pending operation in progress under `operation.lease` (with its history);
    /// `Ok(false)` when it is no longer pending (e.g. it was canceled meanwhile).
    async fn start(&self, operation: &Operation) -> Result<bool, StoreError>;
    /// Saves the status, lease and history of an in-progress operation run by `holder`;
    /// `Ok(false)` (nothing saved) when it is no longer in progress, or its stored lease is
    /// another holder's and has not expired at `now` (an expired one is taken over). Never
    /// clears a cancel request.
    async fn update(
        &self,
        operation: &Operation,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Cancels: a pending operation is canceled at once (with `event` in its history); an
    /// in-progress one is marked `cancel_requested`, for its runner to stop at its next step.
    /// Answers the operation afterwards; a final one is answered unchanged.
    async fn cancel(
        &self,
        scheduler: &str,
        id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<Operation, StoreError>;
    /// Forgets every operation of a deleted scheduler.
    async fn forget(&self, scheduler: &str) -> Result<(), StoreError>;
}

/// Named leases with expiry, shared by every Baton process on the same store: a scheduler's
/// lease says which process runs its controller (health, autoscaling, operations).
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes or renews lease `name` for `holder` until `expires_at` when it is free, expired
    /// (at `now`) or already `holder`'s; answers whether `holder` holds it now. Atomic.
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Extends every lease `holder` holds that has not expired at `now` to `expires_at`, in one
    /// step; answers their names (sorted). A process renews all its leases at once this way.
    async fn renew_held(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError>;
    /// Gives the lease up if `holder` holds it.
    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Who holds lease `name` and until when, if anyone does (expired or not).
    async fn holder(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError>;
}
