//! The operations runner: on the process that holds a scheduler's lease, one step of the
//! scheduler's oldest unfinished operation per controller tick. Every step reads what it needs
//! from the stores and the runtime, so a process that takes over an operation (its runner died
//! and the lease expired) resumes it where the stores say it is: nothing is done twice and
//! nothing is dropped.

use std::time::Duration;

use app::domain::operation::{
    Operation, OperationDefinition, OperationEvent, OperationLease, OperationStatus, push_event,
};
use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::Scheduler;
use app::domain::version::VersionNumber;
use app::ports::{StoreError, store_new_version};
use chrono::{DateTime, Utc};

use super::health::{HealthController, TickError, timeouts_of};

/// What the health controller must know from the running operation this tick.
#[derive(Debug, Default)]
pub struct Guidance {
    /// Rooms the operation owns (a validation room): the health plan leaves them alone.
    pub keep: Vec<String>,
    /// The scheduler is gone: stop its controller.
    pub deleted: bool,
}

/// Where one step left the operation.
enum Step {
    /// Not done yet; look again next tick.
    Wait(Vec<String>),
    Finished(String),
    Failed(String),
    Canceled(String),
    /// Finished, and the scheduler is deleted.
    Deleted(String),
}

const VALIDATION_STARTED: &str = "starting validation room";
const ROOMS_WANTED: &str = "Rooms wanted:";

fn major(version: &str) -> u32 {
    VersionNumber::parse(version).map_or(0, |v| v.major)
}

/// Appends `text` unless it repeats the latest line (progress is written when it changes).
fn note(operation: &mut Operation, text: String) {
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

fn live(rooms: &[GameRoom]) -> impl Iterator<Item = &GameRoom> {
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
                    return Ok(Guidance::default());
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
        let mut guidance = Guidance::default();
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
                            self.stop_room(&scheduler, id).await?;
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

    /// A major version not active yet: one room of it must turn ready within the
    /// initialization timeout (in at most `validation_attempts` rooms) before it becomes active.
    async fn validate(
        &self,
        operation: &mut Operation,
        active: &Scheduler,
        version: &str,
        previous: &str,
    ) -> Result<Step, TickError> {
        let name = active.config.name.clone();
        let candidates: Vec<GameRoom> = self
            .rooms
            .list(&name)
            .await?
            .into_iter()
            .filter(|r| r.version == version)
            .collect();
        let candidate = live(&candidates).next().cloned();
        if operation.cancel_requested {
            let target = self.schedulers.get(&name, Some(version)).await?;
            for room in live(&candidates) {
                self.stop_room(&target, &room.id).await?;
            }
            return Ok(Step::Canceled(format!(
                "Canceled before version {version} became active; {} keeps serving",
                active.version
            )));
        }
        if self.validation_attempts == 0 {
            let switched = self.schedulers.switch_active(&name, version).await?;
            self.changed(&name);
            note(
                operation,
                format!("Version {version} is active, unvalidated (validation is off)"),
            );
            return self.roll_out(operation, &switched, previous).await;
        }
        let target = self.schedulers.get(&name, Some(version)).await?;
        let started = operation
            .history
            .iter()
            .filter(|e| e.event.contains(VALIDATION_STARTED))
            .count() as u32;
        let Some(room) = candidate else {
            if started >= self.validation_attempts {
                return Ok(Step::Failed(format!(
                    "Version {version} refused: no validation room turned ready in {started} attempts; {previous} keeps serving"
                )));
            }
            let id = self.create_room(&target).await?;
            note(
                operation,
                format!(
                    "Major version {version} detected, {VALIDATION_STARTED} {id} (attempt {} of {})",
                    started + 1,
                    self.validation_attempts
                ),
            );
            return Ok(Step::Wait(vec![id]));
        };
        let timeout = timeouts_of(&target).initialization;
        let failure = match room.status {
            RoomStatus::Ready | RoomStatus::Occupied => {
                // The room stays: it is the first room of the new active version.
                let switched = self.schedulers.switch_active(&name, version).await?;
                self.changed(&name);
                note(
                    operation,
                    format!(
                        "Validation room {} is ready; version {version} is active",
                        room.id
                    ),
                );
                return self.roll_out(operation, &switched, previous).await;
            }
            RoomStatus::Error => "crashed".to_string(),
            _ if Utc::now() - room.created_at > timeout => {
                format!("did not turn ready within {} s", timeout.num_seconds())
            }
            _ => return Ok(Step::Wait(vec![room.id])),
        };
        let reason = self
            .runtime
            .instances(&name)
            .await?
            .into_iter()
            .find(|i| i.room == room.id)
            .and_then(|i| i.crashed)
            .map(|reason| format!(" ({reason})"))
            .unwrap_or_default();
        let logs = self.runtime.logs(&name, &room.id).await;
        let tail: Vec<&str> = logs
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(String::as_str)
            .collect();
        self.stop_room(&target, &room.id).await?;
        note(
            operation,
            format!(
                "Validation room {} {failure}{reason}; its last log lines: {}",
                room.id,
                if tail.is_empty() {
                    "(none)".to_string()
                } else {
                    tail.join(" | ")
                }
            ),
        );
        if started >= self.validation_attempts {
            return Ok(Step::Failed(format!(
                "Version {version} refused: its validation room {failure}{reason}; {previous} keeps serving"
            )));
        }
        Ok(Step::Wait(Vec::new()))
    }

    /// The active version is in place; its rooms replace the older ones (the health plan does
    /// it in safe waves). Done when no room of another major version is left.
    async fn roll_out(
        &self,
        operation: &mut Operation,
        active: &Scheduler,
        previous: &str,
    ) -> Result<Step, TickError> {
        let name = &active.config.name;
        if operation.cancel_requested {
            if previous != active.version {
                self.schedulers.switch_active(name, previous).await?;
                self.changed(name);
            }
            return Ok(Step::Canceled(format!(
                "Canceled during the rolling update: {previous} is active again"
            )));
        }
        let rooms = self.rooms.list(name).await?;
        let active_major = major(&active.version);
        let outdated = live(&rooms)
            .filter(|r| major(&r.version) != active_major)
            .count();
        if outdated == 0 {
            let current = live(&rooms).count();
            return Ok(Step::Finished(format!(
                "Rolling update to {} finished: {current} rooms of it",
                active.version
            )));
        }
        note(
            operation,
            format!(
                "Rolling update to {}: {outdated} rooms of older versions left to replace",
                active.version
            ),
        );
        Ok(Step::Wait(Vec::new()))
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
        if current
            .config
            .autoscaling
            .as_ref()
            .is_some_and(|a| a.enabled)
        {
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

    fn changed(&self, name: &str) {
        for cache in &self.caches {
            cache.forget(name);
        }
    }

    /// Turns a room terminating and stops its instance in the background.
    async fn stop_room(&self, scheduler: &Scheduler, room: &str) -> Result<(), TickError> {
        self.rooms
            .set_status(
                &scheduler.config.name,
                room,
                RoomStatus::Terminating,
                Utc::now(),
            )
            .await?;
        self.stop_in_background(scheduler, room);
        Ok(())
    }
}

/// How long a scheduler's lease lasts unless renewed, by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
