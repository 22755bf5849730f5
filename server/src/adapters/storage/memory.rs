//! In-process room store: the embedded default, lost on restart like the local rooms it tracks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use app::domain::allocation::rate::{Outcome, OutcomeBucket, OutcomeSeries};
use app::domain::allocation::{Claim, Claimed, NewClaim, Selection};
use app::domain::history::{CountSeries, RoomCountSample, Tier};
use app::domain::region::RegionHealth;
use app::domain::room::{GameRoom, Ping, PingError, RoomAddress, RoomCounts, RoomStatus};
use app::ports::{Pinged, RoomStore, StoreError, SweptClaims};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::memory_allocation::Scheduled;

/// Rooms and their claims by scheduler, then by id; one lock makes every change atomic
/// (allocations included). Room count histories and allocation outcomes by scheduler, behind
/// their own locks (taken after the rooms' lock, never before).
#[derive(Default)]
pub struct MemoryRoomStore {
    pub(super) rooms: RwLock<HashMap<String, Scheduled>>,
    history: Mutex<HashMap<String, CountSeries>>,
    outcomes: Mutex<HashMap<String, OutcomeSeries>>,
    /// The last health of each scheduler's regions.
    regions: Mutex<HashMap<String, Vec<RegionHealth>>>,
}

fn room_not_found(scheduler: &str, id: &str) -> StoreError {
    StoreError::NotFound(format!("room {id} of scheduler {scheduler}"))
}

impl MemoryRoomStore {
    fn update<T>(
        &self,
        scheduler: &str,
        id: &str,
        change: impl FnOnce(&mut GameRoom) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let room = rooms
            .get_mut(scheduler)
            .and_then(|r| r.rooms.get_mut(id))
            .ok_or_else(|| room_not_found(scheduler, id))?;
        change(room)
    }

    fn history(&self) -> std::sync::MutexGuard<'_, HashMap<String, CountSeries>> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn outcomes(&self) -> std::sync::MutexGuard<'_, HashMap<String, OutcomeSeries>> {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an allocation's outcome; called with the rooms' lock held, so that it is counted
    /// in the same step as the claim.
    fn count(&self, scheduler: &str, outcome: Outcome, at: DateTime<Utc>) {
        self.outcomes()
            .entry(scheduler.to_string())
            .or_default()
            .count(outcome, at);
    }
}

#[async_trait]
impl RoomStore for MemoryRoomStore {
    async fn insert(&self, room: &GameRoom) -> Result<(), StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let scheduler = rooms.entry(room.scheduler.clone()).or_default();
        if scheduler.rooms.contains_key(&room.id) {
            return Err(StoreError::Conflict(format!(
                "room {} already exists",
                room.id
            )));
        }
        scheduler.rooms.insert(room.id.clone(), room.clone());
        Ok(())
    }

    async fn get(&self, scheduler: &str, id: &str) -> Result<GameRoom, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms
            .get(scheduler)
            .and_then(|r| r.rooms.get(id))
            .cloned()
            .ok_or_else(|| room_not_found(scheduler, id))
    }

    async fn list(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<GameRoom> = rooms
            .get(scheduler)
            .map(|r| r.rooms.values().cloned().collect())
            .unwrap_or_default();
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn list_for_tick(
        &self,
        scheduler: &str,
        _silent_before: DateTime<Utc>,
    ) -> Result<Arc<Vec<GameRoom>>, StoreError> {
        // Every room is at hand: the exact listing, last pings included.
        Ok(Arc::new(self.list(scheduler).await?))
    }

    async fn ping(
        &self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<Result<Pinged, PingError>, StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        rooms
            .get_mut(scheduler)
            .ok_or_else(|| room_not_found(scheduler, id))?
            .ping(scheduler, id, ping, now)
    }

    async fn set_status(
        &self,
        scheduler: &str,
        id: &str,
        status: RoomStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(scheduler, id, |room| {
            if room.status != status {
                room.status = status;
                room.status_changed_at = now;
            }
            Ok(())
        })
    }

    async fn set_address(
        &self,
        scheduler: &str,
        id: &str,
        address: &RoomAddress,
    ) -> Result<(), StoreError> {
        self.update(scheduler, id, |room| {
            room.address = Some(address.clone());
            Ok(())
        })
    }

    async fn set_machine(
        &self,
        scheduler: &str,
        id: &str,
        machine: &str,
    ) -> Result<(), StoreError> {
        self.update(scheduler, id, |room| {
            room.machine = machine.to_string();
            Ok(())
        })
    }

    async fn set_status_reason(
        &self,
        scheduler: &str,
        id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(scheduler, id, |room| {
            room.status_reason = reason.filter(|r| !r.is_empty()).map(str::to_string);
            room.status_changed_at = now;
            Ok(())
        })
    }

    async fn remove(&self, scheduler: &str, id: &str) -> Result<(), StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if let Some(scheduler_rooms) = rooms.get_mut(scheduler) {
            scheduler_rooms.remove(id);
            if scheduler_rooms.rooms.is_empty() {
                rooms.remove(scheduler);
            }
        }
        Ok(())
    }

    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let mut counts = RoomCounts::default();
        for room in rooms
            .get(scheduler)
            .into_iter()
            .flat_map(|r| r.rooms.values())
        {
            counts.add(room.status);
        }
        Ok(counts)
    }

    async fn record_counts(
        &self,
        scheduler: &str,
        counts: RoomCounts,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.history()
            .entry(scheduler.to_string())
            .or_default()
            .record(RoomCountSample { at, counts });
        Ok(())
    }

    async fn count_history(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
    ) -> Result<Vec<RoomCountSample>, StoreError> {
        Ok(self
            .history()
            .get(scheduler)
            .map(|series| series.since(tier, since))
            .unwrap_or_default())
    }

    async fn forget_counts(&self, scheduler: &str) -> Result<(), StoreError> {
        self.history().remove(scheduler);
        self.outcomes().remove(scheduler);
        Ok(())
    }

    async fn set_region_health(
        &self,
        scheduler: &str,
        health: &[RegionHealth],
    ) -> Result<(), StoreError> {
        let mut all = self.regions.lock().unwrap_or_else(|e| e.into_inner());
        if health.is_empty() {
            all.remove(scheduler);
        } else {
            all.insert(scheduler.to_string(), health.to_vec());
        }
        Ok(())
    }

    async fn region_health(&self, scheduler: &str) -> Result<Vec<RegionHealth>, StoreError> {
        let all = self.regions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(all.get(scheduler).cloned().unwrap_or_default())
    }

    async fn allocate(
        &self,
        scheduler: &str,
        max_matches: u32,
        selection: &Selection,
        claim: &NewClaim,
    ) -> Result<Option<Claimed>, StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let claimed = rooms
            .get_mut(scheduler)
            .and_then(|r| r.allocate(scheduler, None, max_matches, selection, claim));
        let outcome = match claimed {
            Some(_) => Outcome::Allocated,
            None => Outcome::Refused,
        };
        self.count(scheduler, outcome, claim.created_at);
        Ok(claimed)
    }

    async fn reserve(
        &self,
        scheduler: &str,
        room: &str,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Claimed, StoreError> {
        let mut all = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let rooms = all
            .get_mut(scheduler)
            .filter(|r| r.rooms.contains_key(room))
            .ok_or_else(|| room_not_found(scheduler, room))?;
        let claimed = rooms
            .allocate(
                scheduler,
                Some(room),
                max_matches,
                &Selection::default(),
                claim,
            )
            .ok_or_else(|| StoreError::Conflict(format!("room {room} cannot take a claim now")))?;
        self.count(scheduler, Outcome::Allocated, claim.created_at);
        Ok(claimed)
    }

    async fn allocation_outcomes(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutcomeBucket>, StoreError> {
        Ok(self
            .outcomes()
            .get(scheduler)
            .map(|series| series.between(tier, since, until))
            .unwrap_or_default())
    }

    async fn release(&self, scheduler: &str, claim: &str) -> Result<Option<Claim>, StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        Ok(rooms
            .get_mut(scheduler)
            .and_then(|r| r.claims.remove(claim)))
    }

    async fn claims(&self, scheduler: &str, room: Option<&str>) -> Result<Vec<Claim>, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        Ok(rooms
            .get(scheduler)
            .map(|r| r.claims_on(room))
            .unwrap_or_default())
    }

    async fn sweep_claims(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
    ) -> Result<SweptClaims, StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        Ok(rooms
            .get_mut(scheduler)
            .map(|r| SweptClaims {
                expired: r.expire(now),
                open: r.claims_on(None),
            })
            .unwrap_or_default())
    }
}
