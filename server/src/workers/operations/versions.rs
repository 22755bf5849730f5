//! The version steps of operations: validating a major version with one room, and following
//! the rolling update (the health plan replaces the rooms; this watches and records it).

use app::domain::operation::Operation;
use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::Scheduler;
use chrono::Utc;

use super::super::health::{HealthController, TickError, timeouts_of};
use super::{Step, VALIDATION_STARTED, live, major, note};

impl HealthController {
    /// A major version not active yet: one room of it must turn ready within the
    /// initialization timeout (in at most `validation_attempts` rooms) before it becomes active.
    pub(super) async fn validate(
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
                self.stop_room(&target, room).await?;
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
            let region = self.first_region(&target).await;
            let id = self.create_room(&target, &region).await?;
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
        let (reason, logs) = match self.runtimes.of_room(&room) {
            Some(runtime) => (
                runtime
                    .instances(&name)
                    .await?
                    .into_iter()
                    .find(|i| i.room == room.id)
                    .and_then(|i| i.crashed)
                    .or_else(|| room.status_reason.clone())
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default(),
                runtime.logs(&name, &room.id).await,
            ),
            None => (" (no runtime serves its region)".to_string(), Vec::new()),
        };
        let tail: Vec<&str> = logs
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(String::as_str)
            .collect();
        self.stop_room(&target, &room).await?;
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
    pub(super) async fn roll_out(
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
}
