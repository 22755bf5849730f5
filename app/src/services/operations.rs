//! Operations as use cases: queueing a change, reading, waiting for and canceling operations.
//! The changes themselves (create, new version, switch, rooms, delete) are queued by the
//! scheduler use cases in `schedulers.rs`; the operations worker carries them out.

use std::time::Duration;

use chrono::Utc;

use super::audit::AuditTrail;
use super::{SchedulerService, ServiceError};
use crate::domain::access;
use crate::domain::audit::AuditAction;
use crate::domain::operation::{Operation, OperationDefinition, OperationOrder, Stage, may_queue};
use crate::domain::rollout::progress::{self, RolloutProgress};
use crate::domain::scheduler::Scheduler;
use crate::domain::user::User;
use crate::ports::OperationPage;

type Result<T> = std::result::Result<T, ServiceError>;

/// What a change answers: the scheduler as it is now and the operation that carries the change
/// out (none when nothing changed).
#[derive(Clone, Debug)]
pub struct Change {
    pub scheduler: Scheduler,
    pub operation: Option<Operation>,
}

/// The most operations one page lists.
pub const MAX_PER_PAGE: u32 = 100;
/// The most rooms one add or remove operation asks for.
pub const MAX_ROOMS_PER_OPERATION: u32 = 1000;

impl SchedulerService {
    /// Refuses `definition` at once (before anything is stored) when it would be refused in
    /// the queue; the queue checks again atomically.
    pub(super) async fn check_queue(
        &self,
        name: &str,
        definition: &OperationDefinition,
    ) -> Result<()> {
        let unfinished = self.operations.unfinished(name).await?;
        may_queue(definition, &unfinished).map_err(ServiceError::Busy)
    }

    /// Queues `definition` for scheduler `name`.
    pub(super) async fn queue(
        &self,
        user: &User,
        name: &str,
        definition: OperationDefinition,
    ) -> Result<Operation> {
        let operation = Operation::new(
            uuid::Uuid::new_v4().to_string(),
            name,
            definition,
            Utc::now(),
        );
        self.operations
            .enqueue(&operation)
            .await?
            .map_err(ServiceError::Busy)?;
        tracing::info!(scheduler = %name, operation = %operation.id,
            definition = operation.definition.name(), user = %user.username, "operation queued");
        self.wake(name);
        Ok(operation)
    }

    /// Adds `amount` rooms to the scheduler's wanted count (a minor version).
    pub async fn add_rooms(&self, user: &User, name: &str, amount: u32) -> Result<Change> {
        check_amount(amount)?;
        self.room_change(user, name, OperationDefinition::AddRooms { amount })
            .await
    }

    /// Removes `amount` rooms from the wanted count, and stops the rooms `room_ids` (they are
    /// replaced if still wanted).
    pub async fn remove_rooms(
        &self,
        user: &User,
        name: &str,
        amount: u32,
        room_ids: Vec<String>,
    ) -> Result<Change> {
        if amount == 0 && room_ids.is_empty() {
            return Err(ServiceError::invalid(
                "amount",
                "give an amount above 0 or roomsIds",
            ));
        }
        if amount > 0 {
            check_amount(amount)?;
        }
        if room_ids.len() > MAX_ROOMS_PER_OPERATION as usize {
            return Err(ServiceError::invalid(
                "roomsIds",
                &format!("at most {MAX_ROOMS_PER_OPERATION} rooms at once"),
            ));
        }
        self.room_change(
            user,
            name,
            OperationDefinition::RemoveRooms { amount, room_ids },
        )
        .await
    }

    async fn room_change(
        &self,
        user: &User,
        name: &str,
        definition: OperationDefinition,
    ) -> Result<Change> {
        let scheduler = self.readable(user, name, None).await?;
        access::may_configure(user, &scheduler.config.game, &self.host)?;
        if scheduler
            .config
            .autoscaling
            .as_ref()
            .is_some_and(|a| a.enabled)
        {
            return Err(ServiceError::invalid(
                "autoscaling",
                "is enabled: the policy decides the room count; change its limits instead",
            ));
        }
        let operation = self.queue(user, name, definition).await?;
        Ok(Change {
            scheduler: Self::shown(user, scheduler),
            operation: Some(operation),
        })
    }

    /// One page of the scheduler's operations.
    pub async fn operations(
        &self,
        user: &User,
        name: &str,
        stage: Option<Stage>,
        order: OperationOrder,
        page: u32,
        per_page: u32,
    ) -> Result<OperationPage> {
        self.readable(user, name, None).await?;
        if page == 0 {
            return Err(ServiceError::invalid("page", "starts at 1"));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(ServiceError::invalid(
                "perPage",
                &format!("must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok(self
            .operations
            .list(name, stage, order, page, per_page)
            .await?)
    }

    /// One operation of a readable scheduler.
    pub async fn operation(&self, user: &User, name: &str, id: &str) -> Result<Operation> {
        self.readable(user, name, None).await?;
        Ok(self.operations.get(name, id).await?)
    }

    /// Cancels an operation: a pending one at once, a running one at its next step (it rolls
    /// back what it must and ends `canceled`).
    pub async fn cancel(&self, user: &User, name: &str, id: &str) -> Result<Operation> {
        let scheduler = self.readable(user, name, None).await?;
        access::may_cancel_operations(user, &scheduler.config.game)?;
        let previous = self.operations.get(name, id).await?;
        let event = format!("Canceled by {}", user.username);
        let operation = self.operations.cancel(name, id, &event, Utc::now()).await?;
        tracing::info!(scheduler = %name, operation = %id, user = %user.username, "operation cancel requested");
        let (before, after) = (cancel_state(&previous), cancel_state(&operation));
        if before != after {
            let summary = format!(
                "{} canceled operation {id} ({}) of scheduler {name}",
                user.username,
                operation.definition.name()
            );
            self.audit
                .record(
                    AuditTrail::entry(user, AuditAction::OperationCanceled, summary)
                        .of_scheduler(&scheduler.config.game, name)
                        .with(Some(before), Some(after)),
                )
                .await;
        }
        self.wake(name);
        Ok(operation)
    }

    /// Whether `user` may cancel the operations of `game`'s schedulers (the dashboard shows the
    /// Cancel button only then; `cancel` checks again).
    pub fn can_cancel(&self, user: &User, game: &str) -> bool {
        access::may_cancel_operations(user, game).is_ok()
    }

    /// How far a running rollout (a major new version or a switch) got, read off the rooms as
    /// they are now; `None` for any other operation, and for one that is not running.
    pub async fn progress(
        &self,
        user: &User,
        name: &str,
        operation: &Operation,
    ) -> Result<Option<RolloutProgress>> {
        if progress::target(operation).is_none() {
            return Ok(None);
        }
        let active = self.readable(user, name, None).await?.version;
        let live = self.live_rooms(user, name).await?;
        Ok(progress::progress(
            operation,
            &active,
            &live.rooms,
            live.desired,
        ))
    }

    fn wake(&self, name: &str) {
        if let Some(wake) = &self.wake {
            wake.wake(name);
        }
    }

    /// Waits up to `timeout` for operation `id` to end; answers it as it is then.
    pub async fn wait(&self, name: &str, id: &str, timeout: Duration) -> Result<Operation> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let operation = self.operations.get(name, id).await?;
            if operation.status.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(operation);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl SchedulerService {
    /// Waits up to `timeout` for the change's operation to end and answers the scheduler as it
    /// is then (the dashboard's flows: a change feels immediate when it is quick). An operation
    /// that ended in error or was canceled is an error with its last event.
    pub async fn settle(&self, user: &User, change: Change, timeout: Duration) -> Result<Change> {
        let Some(operation) = change.operation else {
            return Ok(change);
        };
        let name = &operation.scheduler;
        let operation = self.wait(name, &operation.id, timeout).await?;
        use crate::domain::operation::OperationStatus;
        if matches!(
            operation.status,
            OperationStatus::Error | OperationStatus::Canceled | OperationStatus::Evicted
        ) {
            let last = operation
                .history
                .last()
                .map(|e| e.event.clone())
                .unwrap_or_default();
            return Err(ServiceError::Conflict(format!(
                "operation {} ({}) ended {}: {last}",
                operation.id,
                operation.definition.name(),
                operation.status.as_str()
            )));
        }
        let scheduler = match self.get(user, name, None).await {
            Ok(scheduler) => scheduler,
            // A delete that finished: the scheduler as it was.
            Err(ServiceError::NotFound(_)) => change.scheduler,
            Err(other) => return Err(other),
        };
        Ok(Change {
            scheduler,
            operation: Some(operation),
        })
    }
}

/// What a cancel changes of an operation, for the audit log.
fn cancel_state(operation: &Operation) -> serde_json::Value {
    serde_json::json!({
        "operation": operation.id,
        "definition": operation.definition.name(),
        "status": operation.status.as_str(),
        "cancelRequested": operation.cancel_requested,
    })
}

fn check_amount(amount: u32) -> Result<()> {
    if amount == 0 || amount > MAX_ROOMS_PER_OPERATION {
        return Err(ServiceError::invalid(
            "amount",
            &format!("must be between 1 and {MAX_ROOMS_PER_OPERATION}"),
        ));
    }
    Ok(())
}
