//! One room as its page shows it: the room as the store keeps it, its open claims, its timeline
//! (`domain::room_timeline`) and the last lines its instance printed, secrets hidden. Readers of
//! the scheduler's game may read it.

use std::sync::Arc;

use super::{SchedulerService, ServiceError};
use crate::domain::allocation::Claim;
use crate::domain::room::GameRoom;
use crate::domain::room_timeline::{TimelineEntry, hide_secrets, room_timeline};
use crate::domain::scheduler::SchedulerConfig;
use crate::domain::user::User;
use crate::domain::validation::is_dns_label;
use crate::ports::{RoomLogs, StoreError};

/// The room use cases that need the runtimes (its output), beside the scheduler use cases.
pub struct RoomService {
    pub schedulers: Arc<SchedulerService>,
    /// Reads what a room's instance printed from the runtime it runs on.
    pub logs: Arc<dyn RoomLogs>,
}

/// One room now.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomDetail {
    /// `None`: the room is not (or no longer) in the store.
    pub room: Option<GameRoom>,
    /// Its open claims, oldest first.
    pub claims: Vec<Claim>,
    /// What the store shows of its life (`room_timeline::room_timeline`); empty for a room not
    /// in the store.
    pub timeline: Vec<TimelineEntry>,
    /// The last lines its instance printed, oldest first, with the room's token and the
    /// scheduler's secret environment values hidden. A room no longer in the store may still
    /// have some (the local runtime keeps them).
    pub logs: Vec<String>,
}

/// The values of the configuration's secret environment variables (those read from a
/// Kubernetes Secret are not known here; the room token is hidden where it is known).
fn secret_values(config: &SchedulerConfig) -> impl Iterator<Item = &str> {
    config
        .spec
        .containers
        .iter()
        .flat_map(|c| c.environment.iter())
        .filter(|v| v.is_sensitive())
        .map(|v| v.value.as_str())
}

impl RoomService {
    /// Room `room` of scheduler `scheduler`, which `user` may read (else `NotFound`).
    pub async fn detail(
        &self,
        user: &User,
        scheduler: &str,
        room: &str,
    ) -> Result<RoomDetail, ServiceError> {
        // The active version as this process remembers it: an open page reads this every second.
        let active = self.schedulers.readable_active(user, scheduler).await?;
        let store = &self.schedulers.rooms;
        let found = match store.get(scheduler, room).await {
            Ok(found) => Some(found),
            Err(StoreError::NotFound(_)) => None,
            Err(other) => return Err(other.into()),
        };
        let claims = match &found {
            Some(_) => store.claims(scheduler, Some(room)).await?,
            None => Vec::new(),
        };
        // Room ids are DNS labels (pods are named after them): anything else never ran.
        let raw_logs = match &found {
            Some(found) => {
                self.logs
                    .room_logs(scheduler, &found.id, &found.region)
                    .await
            }
            None if is_dns_label(room) => self.logs.room_logs(scheduler, room, "").await,
            None => Vec::new(),
        };
        let version = match &found {
            Some(found) if found.version != active.version => self
                .schedulers
                .schedulers
                .get(scheduler, Some(&found.version))
                .await
                .ok(),
            _ => None,
        };
        let secrets: Vec<&str> = secret_values(&active.config)
            .chain(version.iter().flat_map(|v| secret_values(&v.config)))
            .collect();
        Ok(RoomDetail {
            timeline: found
                .as_ref()
                .map(|found| room_timeline(found, &claims))
                .unwrap_or_default(),
            logs: hide_secrets(raw_logs, &secrets),
            room: found,
            claims,
        })
    }
}
