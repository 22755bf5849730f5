//! Game rooms: their states as rooms report them by heartbeat.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoomStatus {
    Pending,
    Unready,
    Ready,
    Occupied,
    Terminating,
    Error,
    Terminated,
}

/// How many rooms of a scheduler are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoomCounts {
    pub pending: u64,
    pub unready: u64,
    pub ready: u64,
    pub occupied: u64,
    pub terminating: u64,
    pub error: u64,
}

impl RoomCounts {
    pub fn add(&mut self, status: RoomStatus) {
        match status {
            RoomStatus::Pending => self.pending += 1,
            RoomStatus::Unready => self.unready += 1,
            RoomStatus::Ready => self.ready += 1,
            RoomStatus::Occupied => self.occupied += 1,
            RoomStatus::Terminating => self.terminating += 1,
            RoomStatus::Error => self.error += 1,
            RoomStatus::Terminated => {}
        }
    }
}
