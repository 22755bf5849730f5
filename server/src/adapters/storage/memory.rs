//! In-process room store: the embedded default, lost on restart like the rooms it tracks.

use std::collections::HashMap;
use std::sync::RwLock;

use app::domain::room::{RoomCounts, RoomStatus};
use app::ports::{RoomStore, StoreError};
use async_trait::async_trait;

#[derive(Default)]
pub struct MemoryRoomStore {
    rooms: RwLock<HashMap<String, HashMap<String, RoomStatus>>>,
}

impl MemoryRoomStore {
    /// Records `room` of `scheduler` with `status`.
    pub fn set_status(&self, scheduler: &str, room: &str, status: RoomStatus) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(scheduler.to_string())
            .or_default()
            .insert(room.to_string(), status);
    }
}

#[async_trait]
impl RoomStore for MemoryRoomStore {
    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let mut counts = RoomCounts::default();
        for status in rooms.get(scheduler).into_iter().flat_map(|r| r.values()) {
            counts.add(*status);
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_rooms_per_scheduler_and_status() {
        let store = MemoryRoomStore::default();
        assert_eq!(store.counts("s").await.unwrap(), RoomCounts::default());
        store.set_status("s", "r1", RoomStatus::Ready);
        store.set_status("s", "r2", RoomStatus::Occupied);
        store.set_status("s", "r2", RoomStatus::Ready);
        store.set_status("other", "r3", RoomStatus::Pending);
        let counts = store.counts("s").await.unwrap();
        assert_eq!((counts.ready, counts.occupied, counts.pending), (2, 0, 0));
    }
}
