//! `ForwardingRoomStore`: the room store, telling forwarding of every status change that goes
//! through it (pings, the orchestrator's changes, removals), whatever path made it.

use std::sync::Arc;

use app::domain::allocation::rate::OutcomeBucket;
use app::domain::allocation::{Claim, Claimed, NewClaim, Selection};
use app::domain::history::{RoomCountSample, Tier};
use app::domain::region::RegionHealth;
use app::domain::room::{GameRoom, Ping, PingError, RoomAddress, RoomCounts, RoomStatus};
use app::ports::{Pinged, RoomStore, StoreError, SweptClaims};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Forwarding;

pub struct ForwardingRoomStore {
    inner: Arc<dyn RoomStore>,
    forwarding: Arc<Forwarding>,
}

impl ForwardingRoomStore {
    pub fn wrap(inner: Arc<dyn RoomStore>, forwarding: Arc<Forwarding>) -> Arc<dyn RoomStore> {
        Arc::new(Self { inner, forwarding })
    }
}

#[async_trait]
impl RoomStore for ForwardingRoomStore {
    async fn insert(&self, room: &GameRoom) -> Result<(), StoreError> {
        self.inner.insert(room).await
    }
    async fn get(&self, scheduler: &str, id: &str) -> Result<GameRoom, StoreError> {
        self.inner.get(scheduler, id).await
    }
    async fn list(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError> {
        self.inner.list(scheduler).await
    }
    async fn list_for_tick(
        &self,
        scheduler: &str,
        silent_before: DateTime<Utc>,
    ) -> Result<Arc<Vec<GameRoom>>, StoreError> {
        self.inner.list_for_tick(scheduler, silent_before).await
    }
    async fn ping(
        &self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<Result<Pinged, PingError>, StoreError> {
        let answer = self.inner.ping(scheduler, id, ping, now).await;
        if let Ok(Ok(pinged)) = &answer
            && pinged.previous != ping.status
        {
            self.forwarding
                .status_changed(scheduler, id, ping.status, None);
        }
        answer
    }
    async fn set_status(
        &self,
        scheduler: &str,
        id: &str,
        status: RoomStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.set_status(scheduler, id, status, now).await?;
        self.forwarding.status_changed(scheduler, id, status, None);
        Ok(())
    }
    async fn set_address(
        &self,
        scheduler: &str,
        id: &str,
        address: &RoomAddress,
    ) -> Result<(), StoreError> {
        self.inner.set_address(scheduler, id, address).await
    }
    async fn set_machine(
        &self,
        scheduler: &str,
        id: &str,
        machine: &str,
    ) -> Result<(), StoreError> {
        self.inner.set_machine(scheduler, id, machine).await
    }
    async fn set_status_reason(
        &self,
        scheduler: &str,
        id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner
            .set_status_reason(scheduler, id, reason, now)
            .await
    }
    async fn remove(&self, scheduler: &str, id: &str) -> Result<(), StoreError> {
        // The room as it was: once removed, forwarders learn it terminated from this copy.
        let before = self.inner.get(scheduler, id).await.ok();
        self.inner.remove(scheduler, id).await?;
        if let Some(mut room) = before
            && room.status != RoomStatus::Terminated
        {
            room.status = RoomStatus::Terminated;
            self.forwarding
                .status_changed(scheduler, id, RoomStatus::Terminated, Some(room));
        }
        Ok(())
    }
    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError> {
        self.inner.counts(scheduler).await
    }
    async fn record_counts(
        &self,
        scheduler: &str,
        counts: RoomCounts,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.record_counts(scheduler, counts, at).await
    }
    async fn count_history(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
    ) -> Result<Vec<RoomCountSample>, StoreError> {
        self.inner.count_history(scheduler, tier, since).await
    }
    async fn forget_counts(&self, scheduler: &str) -> Result<(), StoreError> {
        self.inner.forget_counts(scheduler).await
    }
    async fn set_region_health(
        &self,
        scheduler: &str,
        health: &[RegionHealth],
    ) -> Result<(), StoreError> {
        self.inner.set_region_health(scheduler, health).await
    }
    async fn region_health(&self, scheduler: &str) -> Result<Vec<RegionHealth>, StoreError> {
        self.inner.region_health(scheduler).await
    }
    async fn allocate(
        &self,
        scheduler: &str,
        max_matches: u32,
        selection: &Selection,
        claim: &NewClaim,
    ) -> Result<Option<Claimed>, StoreError> {
        self.inner
            .allocate(scheduler, max_matches, selection, claim)
            .await
    }
    async fn reserve(
        &self,
        scheduler: &str,
        room: &str,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Claimed, StoreError> {
        self.inner
            .reserve(scheduler, room, max_matches, claim)
            .await
    }
    async fn allocation_outcomes(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutcomeBucket>, StoreError> {
        self.inner
            .allocation_outcomes(scheduler, tier, since, until)
            .await
    }
    async fn release(&self, scheduler: &str, claim: &str) -> Result<Option<Claim>, StoreError> {
        self.inner.release(scheduler, claim).await
    }
    async fn claims(&self, scheduler: &str, room: Option<&str>) -> Result<Vec<Claim>, StoreError> {
        self.inner.claims(scheduler, room).await
    }
    async fn sweep_claims(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
    ) -> Result<SweptClaims, StoreError> {
        self.inner.sweep_claims(scheduler, now).await
    }
}
