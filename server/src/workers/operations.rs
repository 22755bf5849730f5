//! The operations runner: on the process that holds a scheduler's lease, one step of the
//! scheduler's oldest unfinished operation per controller tick. Every step reads what it needs
//! from the stores and the runtime, so a process that takes over an operation (its runner died
//! and the lease expired) resumes it where the stores say it is: nothing is done twice and
//! nothing is dropped.

use app::domain::operation::{
    Operation, OperationDefinition, OperationEvent, OperationLease, OperationStatus, push_event,
};
use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::Scheduler;
use app::domain::version::VersionNumber;
use app::ports::{StoreError, store_new_version};
use chrono::{DateTime, Utc};

use super::health::{HealthController, TickError};

mod versions;

/// What the health controller must know from the running operation this tick.
#[derive(Debug, Default)]
pub struct Guidance {
    /// Rooms the operation owns (a validation room): the health plan leaves them alone.
    pub keep: Vec<String>,
    /// The scheduler is gone: stop its controller.
    pub deleted: bool,
    /// An operation was found (it, or the next one queued, is looked at again next tick);
    /// `false`: none is pending or in progress.
    pub busy: bool,
}

/// Where one step left the operation.
pub(super) enum Step {
    /// Not done yet; look again next tick.
    Wait(Vec<String>),
    Finished(String),
    Failed(String),
    Canceled(String),
    /// Finished, and the scheduler is deleted.
    Deleted(String),
}

pub(super) const VALIDATION_STARTED: &str = "starting validation room";
const ROOMS_WANTED: &str = "Rooms wanted:";

pub(super) fn major(version: &str) -> u32 {
    VersionNumber::parse(version).map_or(0, |v| v.major)
}

/// Appends `text` unless it repeats the latest line (progress is written when it changes).
pub(super) fn note(operation: &mut Operation, text: String) {
    if operation.history.last().is_some_and(|e| e.event == text) {
        return;
    }
    push_event(
        &mut operation.history,
        OperationEvent {
            at: Utc::now(),
            event: text,
        },
    );
}

pub(super) fn live(rooms: &[GameRoom]) -> impl Iterator<Item = &GameRoom> {
    rooms
        .iter()
        .filter(|r| !matches!(r.status, RoomStatus::Terminating | RoomStatus::Terminated))
}

impl HealthController {
    /// Runs one step of the scheduler's oldest unfinished operation, under the lease that
    /// lasts until `lease_until`.
    pub(super) async fn run_operation(
        &self,
        name: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<Guidance, TickError> {
        let unfinished = self.operations.unfinished(name).await?;
        let Some(mut operation) = unfinished.into_iter().next() else {
            return Ok(Guidance::default());
        };
        let lease = OperationLease {
            holder: self.holder.clone(),
            expires_at: lease_until,
        };
        match operation.status {
            OperationStatus::Pending => {
                operation.status = OperationStatus::InProgress;
                operation.lease = Some(lease);
                note(&mut operation, format!("Started by {}", self.holder));
                if !self.operations.start(&operation).await? {
                    return Ok(Guidance {
                        busy: true,
                        ..Guidance::default()
                    });
                }
            }
            _ => {
                if let Some(previous) = operation.lease.as_ref().filter(|l| l.holder != self.holder)
                {
                    let text = format!(
                        "Resumed by {} after {} stopped renewing its lease",
                        self.holder, previous.holder
                    );
                    note(&mut operation, text);
                }
                operation.lease = Some(lease);
            }
        }
        let step = match self.advance(&mut operation).await {
            Ok(step) => step,
            // The scheduler vanished under a running operation (deleted elsewhere).
            Err(TickError::Store(StoreError::NotFound(what))) => {
                Step::Failed(format!("{what} not found"))
            }
            Err(other) => {
                // Saved with the lease renewed; the step is tried again next tick.
                self.operations
                    .update(&operation, &self.holder, Utc::now())
                    .await?;
                return Err(other);
            }
        };
        let mut guidance = Guidance {
            busy: true,
            ..Guidance::default()
        };
        let end = |operation: &mut Operation, status, text| {
            operation.status = status;
            operation.lease = None;
            note(operation, text);
        };
        match step {
            Step::Wait(keep) => guidance.keep = keep,
            Step::Finished(text) => end(&mut operation, OperationStatus::Finished, text),
            Step::Failed(text) => end(&mut operation, OperationStatus::Error, text),
            Step::Canceled(text) => end(&mut operation, OperationStatus::Canceled, text),
            Step::Deleted(text) => {
                end(&mut operation, OperationStatus::Finished, text);
                guidance.deleted = true;
            }
        }
        if operation.status.is_final() {
            self.metrics.operation_ended(&operation, Utc::now());
            tracing::info!(scheduler = %name, operation = %operation.id,
                definition = operation.definition.name(), status = operation.status.as_str(), "operation ended");
        }
        if !self
            .operations
            .update(&operation, &self.holder, Utc::now())
            .await?
        {
            tracing::warn!(scheduler = %name, operation = %operation.id, "operation taken over by another process; step not saved");
        }
        Ok(guidance)
    }

    async fn advance(&self, operation: &mut Operation) -> Result<Step, TickError> {
        let name = operation.scheduler.clone();
        match operation.definition.clone() {
            OperationDefinition::CreateScheduler => {
                let scheduler = self.schedulers.get(&name, None).await?;
                Ok(Step::Finished(format!(
                    "Scheduler {name} is managed by {}; {} rooms wanted",
                    self.holder, scheduler.config.rooms_replicas
                )))
            }
            OperationDefinition::NewVersion {
                version,
                previous,
                major,
            } => {
                let active = self.schedulers.get(&name, None).await?;
                if major && active.version == version {
                    return self.roll_out(operation, &active, &previous).await;
                }
                if major {
                    return self.validate(operation, &active, &version, &previous).await;
                }
                if active.version != version {
                    if operation.cancel_requested {
                        return Ok(Step::Canceled(format!(
                            "Canceled; {} stays active",
                            active.version
                        )));
                    }
                    self.schedulers.switch_active(&name, &version).await?;
                    self.changed(&name);
                }
                Ok(Step::Finished(format!(
                    "Minor version {version} is active; rooms are kept"
                )))
            }
            OperationDefinition::SwitchActiveVersion { version, previous } => {
                let active = self.schedulers.get(&name, None).await?;
                if active.version != version {
                    if operation.cancel_requested {
                        return Ok(Step::Canceled(format!(
                            "Canceled before the switch; {} stays active",
                            active.version
                        )));
                    }
                    let switched = self.schedulers.switch_active(&name, &version).await?;
                    self.changed(&name);
                    note(
                        operation,
                        format!("Version {version} is active (was {})", active.version),
                    );
                    return self.roll_out(operation, &switched, &previous).await;
                }
                self.roll_out(operation, &active, &previous).await
            }
            OperationDefinition::AddRooms { amount } => {
                self.change_replicas(operation, &name, i64::from(amount))
                    .await
            }
            OperationDefinition::RemoveRooms { amount, room_ids } => {
                if amount > 0
                    && let Step::Failed(text) = self
                        .change_replicas(operation, &name, -i64::from(amount))
                        .await?
                {
                    return Ok(Step::Failed(text));
                }
                let scheduler = self.schedulers.get(&name, None).await?;
                let rooms = self.rooms.list(&name).await?;
                for id in &room_ids {
                    match rooms.iter().find(|r| &r.id == id) {
                        Some(room) if room.status != RoomStatus::Terminating => {
                            self.stop_room(&scheduler, room).await?;
                            note(operation, format!("Stopped room {id}"));
                        }
                        Some(_) => {}
                        None => note(operation, format!("Room {id} is not there; skipped")),
                    }
                }
                Ok(Step::Finished(match (amount, room_ids.len()) {
                    (0, n) => format!("{n} rooms asked to stop"),
                    (amount, 0) => format!("{amount} rooms fewer wanted"),
                    (amount, n) => format!("{amount} rooms fewer wanted; {n} rooms asked to stop"),
                }))
            }
            OperationDefinition::DeleteScheduler => {
                if operation.cancel_requested {
                    return Ok(Step::Canceled("Canceled; the scheduler stays".into()));
                }
                note(operation, "Stopping every room".into());
                self.tear_down(&name).await;
                match self.schedulers.delete(&name).await {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(err) => return Err(err.into()),
                }
                self.changed(&name);
                Ok(Step::Deleted(format!("Scheduler {name} deleted")))
            }
        }
    }

    /// Adds `delta` rooms to the wanted count as a minor version, once (a resumed operation
    /// finds its own record and does not add them again).
    async fn change_replicas(
        &self,
        operation: &mut Operation,
        name: &str,
        delta: i64,
    ) -> Result<Step, TickError> {
        if let Some(done) = operation
            .history
            .iter()
            .find(|e| e.event.starts_with(ROOMS_WANTED))
        {
            return Ok(Step::Finished(done.event.clone()));
        }
        if operation.cancel_requested {
            return Ok(Step::Canceled(
                "Canceled; the room count is unchanged".into(),
            ));
        }
        let current = self.schedulers.get(name, None).await?;
        if app::domain::capacity::room_autoscaling(&current.config).is_some() {
            return Ok(Step::Failed(
                "The scheduler is autoscaled: its policy decides the room count".into(),
            ));
        }
        let before = current.config.rooms_replicas;
        let mut config = current.config.clone();
        config.rooms_replicas = (before + delta).max(0);
        let after = config.rooms_replicas;
        let stored = store_new_version(self.schedulers.as_ref(), current, &config).await?;
        self.changed(name);
        let text = format!(
            "{ROOMS_WANTED} {before} -> {after} (version {})",
            stored.version
        );
        note(operation, text.clone());
        Ok(Step::Finished(text))
    }

    pub(super) fn changed(&self, name: &str) {
        for cache in &self.caches {
            cache.forget(name);
        }
    }

    /// Turns a room terminating and stops its instance in the background, on the runtime of
    /// its region.
    pub(super) async fn stop_room(
        &self,
        scheduler: &Scheduler,
        room: &GameRoom,
    ) -> Result<(), TickError> {
        self.rooms
            .set_status(
                &scheduler.config.name,
                &room.id,
                RoomStatus::Terminating,
                Utc::now(),
            )
            .await?;
        self.stop_in_background(scheduler, room);
        Ok(())
    }
}
