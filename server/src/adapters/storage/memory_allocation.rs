//! The in-process room store's claims: kept beside the rooms, behind the same lock, so that an
//! allocation (choose a room, record the claim) is one atomic step. Allocation looks at every
//! room of the scheduler, which is fine in-process (the Redis store keeps an index instead).

use std::collections::HashMap;

use app::domain::allocation::{self, Claim, Claimed, NewClaim, Selection};
use app::domain::room::{GameRoom, Ping, PingError};
use app::ports::{Pinged, StoreError};
use chrono::{DateTime, Utc};

/// One scheduler's rooms and open claims.
#[derive(Default)]
pub(crate) struct Scheduled {
    pub(crate) rooms: HashMap<String, GameRoom>,
    /// Open claims by id.
    pub(crate) claims: HashMap<String, Claim>,
}

impl Scheduled {
    fn open_claims(&self) -> HashMap<&str, u32> {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for claim in self.claims.values() {
            *counts.entry(claim.room.as_str()).or_default() += 1;
        }
        counts
    }

    /// Claims a room (`only` that one, when given) that can take it and matches `selection`;
    /// `None` when none can.
    pub(crate) fn allocate(
        &mut self,
        scheduler: &str,
        only: Option<&str>,
        max_matches: u32,
        selection: &Selection,
        claim: &NewClaim,
    ) -> Option<Claimed> {
        let counts = self.open_claims();
        let candidates = self
            .rooms
            .values()
            .filter(|room| only.is_none_or(|id| room.id == id))
            .map(|room| (room, counts.get(room.id.as_str()).copied().unwrap_or(0)));
        let room = allocation::pick(candidates, max_matches, selection)?;
        let claimed = Claimed {
            claim: claim.clone().on(scheduler, &room.id),
            address: room.address.clone(),
            region: room.region.clone(),
        };
        self.claims
            .insert(claimed.claim.id.clone(), claimed.claim.clone());
        Some(claimed)
    }

    /// The open claims on `room` (or on all rooms), oldest first.
    pub(crate) fn claims_on(&self, room: Option<&str>) -> Vec<Claim> {
        let mut claims: Vec<Claim> = self
            .claims
            .values()
            .filter(|c| room.is_none_or(|id| c.room == id))
            .cloned()
            .collect();
        claims.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        claims
    }

    pub(crate) fn expire(&mut self, now: DateTime<Utc>) -> Vec<Claim> {
        let lapsed: Vec<String> = self
            .claims
            .values()
            .filter(|c| allocation::expired(c, now))
            .map(|c| c.id.clone())
            .collect();
        let mut expired: Vec<Claim> = lapsed
            .iter()
            .filter_map(|id| self.claims.remove(id))
            .collect();
        expired.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        expired
    }

    /// Forgets a room and its claims.
    pub(crate) fn remove(&mut self, id: &str) {
        self.rooms.remove(id);
        self.claims.retain(|_, claim| claim.room != id);
    }

    /// Applies a ping and closes the claims it confirms; answers the room's other open claims.
    pub(crate) fn ping(
        &mut self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<Result<Pinged, PingError>, StoreError> {
        let room = self
            .rooms
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(format!("room {id} of scheduler {scheduler}")))?;
        let next = match room.apply_ping(ping, now) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        let before = (room.status, room.running_matches);
        let after = (next.status, next.running_matches);
        *room = next;
        let mut open = self.claims_on(Some(id));
        let confirmed = allocation::confirmed_by_ping(before, after, open.len());
        for claim in open.drain(..confirmed) {
            self.claims.remove(&claim.id);
        }
        open.retain(|claim| !allocation::expired(claim, now));
        Ok(Ok(Pinged {
            previous: before.0,
            claims: open,
        }))
    }
}
