//! A scheduler's rooms as they are now, with how many its controller aims for.

use crate::domain::capacity::managed::{desired_rooms, room_autoscaling};
use crate::domain::room::GameRoom;
use crate::domain::user::User;

use super::{SchedulerService, ServiceError};

/// A scheduler's rooms now and the counts they converge to.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRooms {
    /// Oldest first.
    pub rooms: Vec<GameRoom>,
    /// What the controller aims for now: the autoscaler's last answer with autoscaling (or
    /// `ManagePayloads`), else `roomsReplicas` (`capacity::managed::desired_rooms`).
    pub desired: u32,
    /// The configured count (the start, and the whole answer without autoscaling).
    pub rooms_replicas: i64,
}

impl SchedulerService {
    /// The scheduler's rooms, oldest first, and how many rooms it aims for.
    pub async fn live_rooms(&self, user: &User, name: &str) -> Result<LiveRooms, ServiceError> {
        let scheduler = self.readable(user, name, None).await?;
        let stored = match room_autoscaling(&scheduler.config) {
            Some(_) => self.autoscaling.state(name).await?,
            None => None,
        };
        Ok(LiveRooms {
            rooms: self.rooms(user, name).await?,
            desired: desired_rooms(&scheduler.config, stored.as_ref()),
            rooms_replicas: scheduler.config.rooms_replicas,
        })
    }
}
