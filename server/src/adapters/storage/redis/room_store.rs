//! `RoomStore` on Redis: each operation one script, pipeline or `MULTI` block.

use std::collections::HashMap;
use std::sync::Arc;

use app::domain::allocation::rate::OutcomeBucket;
use app::domain::allocation::{self, Claim, Claimed, NewClaim, Selection};
use app::domain::history::{RoomCountSample, Tier};
use app::domain::region::RegionHealth;
use app::domain::room::{GameRoom, Ping, PingError, RoomAddress, RoomCounts, RoomStatus};
use app::ports::{Pinged, RoomStore, StoreError, SweptClaims};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::RedisRoomStore;
use super::codec::{corrupt, decode_room, field, room_not_found, timestamp, to_json};
use super::ping_batch::QueuedPing;
use crate::adapters::storage::redis_connection::redis_error;

/// A claim on `room` as the ping script answers it: its stored JSON alone (a `NewClaim`).
fn decode_room_claim(scheduler: &str, room: &str, json: &str) -> Result<Claim, StoreError> {
    let claim: NewClaim = serde_json::from_str(json)
        .map_err(|_| corrupt(scheduler, room, "a claim that does not read".to_string()))?;
    Ok(claim.on(scheduler, room))
}

#[async_trait]
impl RoomStore for RedisRoomStore {
    async fn insert(&self, room: &GameRoom) -> Result<(), StoreError> {
        let mut invocation = self.scripts.insert.prepare_invoke();
        invocation
            .key(self.room_key(&room.scheduler, &room.id))
            .key(self.rooms_key(&room.scheduler))
            .key(self.status_key(&room.scheduler, room.status));
        for key in self.index_keys(&room.scheduler) {
            invocation.key(key);
        }
        invocation
            .arg(&room.id)
            .arg(
                room.last_ping_at
                    .map_or(String::new(), |t| t.timestamp_micros().to_string()),
            )
            .arg(field::ID)
            .arg(&room.id)
            .arg(field::SCHEDULER)
            .arg(&room.scheduler)
            .arg(field::VERSION)
            .arg(&room.version)
            .arg(field::STATUS)
            .arg(room.status.as_str())
            .arg(field::CREATED_AT)
            .arg(timestamp(room.created_at))
            .arg(field::STATUS_CHANGED_AT)
            .arg(timestamp(room.status_changed_at))
            .arg(field::RUNNING_MATCHES)
            .arg(room.running_matches)
            .arg(field::METADATA)
            .arg(to_json(&room.metadata)?)
            .arg(field::REGION)
            .arg(&room.region);
        if let Some(t) = room.last_ping_at {
            invocation.arg(field::LAST_PING_AT).arg(timestamp(t));
        }
        if let Some(address) = &room.address {
            invocation.arg(field::ADDRESS).arg(to_json(address)?);
        }
        if !room.machine.is_empty() {
            invocation.arg(field::MACHINE).arg(&room.machine);
        }
        if let Some(reason) = room.status_reason.as_deref().filter(|r| !r.is_empty()) {
            invocation.arg(field::STATUS_REASON).arg(reason);
        }
        let inserted: i64 = self.invoke(&invocation).await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "room {} already exists",
                room.id
            )));
        }
        Ok(())
    }

    async fn get(&self, scheduler: &str, id: &str) -> Result<GameRoom, StoreError> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.room_key(scheduler, id))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        if fields.is_empty() {
            return Err(room_not_found(scheduler, id));
        }
        decode_room(scheduler, id, fields)
    }

    async fn list(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.rooms_key(scheduler))
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.room_key(scheduler, id));
        }
        let all: Vec<HashMap<String, String>> = pipe
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        let mut rooms = Vec::with_capacity(ids.len());
        for (id, fields) in ids.iter().zip(all) {
            // Removed between the two round trips.
            if fields.is_empty() {
                continue;
            }
            rooms.push(decode_room(scheduler, id, fields)?);
        }
        rooms.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(rooms)
    }

    async fn list_for_tick(
        &self,
        scheduler: &str,
        silent_before: DateTime<Utc>,
    ) -> Result<Arc<Vec<GameRoom>>, StoreError> {
        self.tick_list(scheduler, silent_before).await
    }

    async fn ping(
        &self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<Result<Pinged, PingError>, StoreError> {
        if !ping.status.reportable() {
            return Ok(Err(PingError::OrchestratorOnly));
        }
        let metadata = match &ping.metadata {
            Some(metadata) => to_json(metadata)?,
            None => String::new(),
        };
        let (reply, answer) = oneshot::channel();
        let queued = QueuedPing {
            scheduler: scheduler.to_string(),
            id: id.to_string(),
            to: ping.status,
            now: timestamp(now),
            micros: now.timestamp_micros(),
            metadata,
            running_matches: ping
                .running_matches
                .map_or(String::new(), |n| n.to_string()),
            reply,
        };
        let stopped = || StoreError::Backend("redis: the ping batcher stopped".to_string());
        self.pings.send(queued).await.map_err(|_| stopped())?;
        let reply = answer.await.map_err(|_| stopped())??;
        if reply.is_empty() {
            return Err(room_not_found(scheduler, id));
        }
        // The status the room was in, then (applied pings to rooms with claims) one claim a line.
        let (status, claims) = reply.split_once('\n').unwrap_or((reply.as_str(), ""));
        let (refused, current) = match status.strip_prefix('!') {
            Some(current) => (true, current),
            None => (false, status),
        };
        let from = RoomStatus::parse(current)
            .ok_or_else(|| corrupt(scheduler, id, format!("status {current}")))?;
        if refused {
            return Ok(Err(PingError::Transition {
                from,
                to: ping.status,
            }));
        }
        let mut pinged = Pinged::unclaimed(from);
        for line in claims.lines().filter(|line| !line.is_empty()) {
            let claim = decode_room_claim(scheduler, id, line)?;
            if !allocation::expired(&claim, now) {
                pinged.claims.push(claim);
            }
        }
        Ok(Ok(pinged))
    }

    async fn set_status(
        &self,
        scheduler: &str,
        id: &str,
        status: RoomStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut invocation = self.scripts.set_status.prepare_invoke();
        invocation.key(self.room_key(scheduler, id));
        for key in self.status_keys(scheduler) {
            invocation.key(key);
        }
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation.arg(id).arg(status.as_str()).arg(timestamp(now));
        let found: i64 = self.invoke(&invocation).await?;
        if found == 0 {
            return Err(room_not_found(scheduler, id));
        }
        Ok(())
    }

    async fn set_address(
        &self,
        scheduler: &str,
        id: &str,
        address: &RoomAddress,
    ) -> Result<(), StoreError> {
        let mut invocation = self.scripts.set_address.prepare_invoke();
        invocation
            .key(self.room_key(scheduler, id))
            .key(self.changes_key(scheduler))
            .arg(to_json(address)?);
        let found: i64 = self.invoke(&invocation).await?;
        if found == 0 {
            return Err(room_not_found(scheduler, id));
        }
        Ok(())
    }

    async fn set_machine(
        &self,
        scheduler: &str,
        id: &str,
        machine: &str,
    ) -> Result<(), StoreError> {
        let mut invocation = self.scripts.set_machine.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation.arg(id).arg(machine);
        let found: i64 = self.invoke(&invocation).await?;
        if found == 0 {
            return Err(room_not_found(scheduler, id));
        }
        Ok(())
    }

    async fn set_status_reason(
        &self,
        scheduler: &str,
        id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut invocation = self.scripts.set_status_reason.prepare_invoke();
        invocation
            .key(self.room_key(scheduler, id))
            .key(self.changes_key(scheduler))
            .arg(reason.unwrap_or_default())
            .arg(timestamp(now));
        let found: i64 = self.invoke(&invocation).await?;
        if found == 0 {
            return Err(room_not_found(scheduler, id));
        }
        Ok(())
    }

    async fn remove(&self, scheduler: &str, id: &str) -> Result<(), StoreError> {
        self.remove_room(scheduler, id).await
    }

    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError> {
        let mut pipe = redis::pipe();
        for key in self.status_keys(scheduler) {
            pipe.cmd("SCARD").arg(key);
        }
        let sizes: Vec<u64> = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        let mut counts = RoomCounts::default();
        for (status, n) in RoomStatus::ALL.into_iter().zip(sizes) {
            counts.add_many(status, n);
        }
        Ok(counts)
    }

    async fn record_counts(
        &self,
        scheduler: &str,
        counts: RoomCounts,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_history(scheduler, counts, at).await
    }

    async fn count_history(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
    ) -> Result<Vec<RoomCountSample>, StoreError> {
        self.history_since(scheduler, tier, since).await
    }

    async fn forget_counts(&self, scheduler: &str) -> Result<(), StoreError> {
        self.forget_history(scheduler).await?;
        self.forget_outcomes(scheduler).await
    }

    async fn set_region_health(
        &self,
        scheduler: &str,
        health: &[RegionHealth],
    ) -> Result<(), StoreError> {
        let key = self.region_health_key(scheduler);
        let mut connection = self.connection.clone();
        if health.is_empty() {
            let () = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .map_err(redis_error)?;
            return Ok(());
        }
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(to_json(&health)?)
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn region_health(&self, scheduler: &str) -> Result<Vec<RegionHealth>, StoreError> {
        let stored: Option<String> = redis::cmd("GET")
            .arg(self.region_health_key(scheduler))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        match stored {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                StoreError::Backend(format!(
                    "redis: the region health of scheduler {scheduler} is unreadable: {e}"
                ))
            }),
        }
    }

    async fn allocate(
        &self,
        scheduler: &str,
        max_matches: u32,
        selection: &Selection,
        claim: &NewClaim,
    ) -> Result<Option<Claimed>, StoreError> {
        Ok(self
            .claim_room(scheduler, None, max_matches, selection, claim)
            .await?
            .ok())
    }

    async fn reserve(
        &self,
        scheduler: &str,
        room: &str,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Claimed, StoreError> {
        self.reserve_room(scheduler, room, max_matches, claim).await
    }

    async fn allocation_outcomes(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutcomeBucket>, StoreError> {
        self.outcomes_between(scheduler, tier, since, until).await
    }

    async fn release(&self, scheduler: &str, claim: &str) -> Result<Option<Claim>, StoreError> {
        self.release_claim(scheduler, claim).await
    }

    async fn claims(&self, scheduler: &str, room: Option<&str>) -> Result<Vec<Claim>, StoreError> {
        self.open_claims(scheduler, room).await
    }

    async fn sweep_claims(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
    ) -> Result<SweptClaims, StoreError> {
        self.sweep(scheduler, now).await
    }
}
