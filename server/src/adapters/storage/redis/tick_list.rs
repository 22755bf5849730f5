//! The health controller's listing (`RoomStore::list_for_tick`): the rooms are read again only
//! when the scheduler's change counter moved since the listing this store answered last, so
//! that a steady tick reads one counter and the silent rooms instead of every room.
//!
//! One script answers the counter and the rooms whose last ping (`P:{S}:pings`) is before the
//! tick's `silent_before`, with their exact `last_ping_at`. When the counter did not move, the
//! listing read last is answered again, with those rooms' last pings exact and every other
//! last ping before `silent_before` moved up to it: such a room pinged since (it is not in the
//! answer), so its last ping is at least that. A moved counter (or none) reads every room, as
//! `list` does; the counter is read before the rooms, so a change made meanwhile shows as a
//! moved counter next time (a listing is never newer than its counter says).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use app::domain::room::GameRoom;
use app::ports::{RoomStore, StoreError};
use chrono::{DateTime, Utc};
use redis::Script;

use super::RedisRoomStore;
use super::codec::corrupt;
use super::scripts::CHANGES_LUA;
use crate::adapters::storage::redis_connection::redis_error;

/// KEYS: the scheduler's change counter, its last pings, its id set. ARGV: the bound, in
/// microseconds. Returns the counter ('' when the scheduler has no room; made when its rooms
/// were stored before counters were kept), then, for each room whose last ping scores at or
/// below the bound, its id and its `last_ping_at` field ('' when it has none).
const TICK_READ_SCRIPT: &str = r#"
CHANGES_LUA
local changes = redis.call('GET', KEYS[1])
if not changes then
  if redis.call('EXISTS', KEYS[3]) == 0 then return {''} end
  bump(KEYS[1])
  changes = redis.call('GET', KEYS[1])
end
local out = { changes }
local ROOM_PREFIX = (string.gsub(KEYS[2], 'pings$', 'room:'))
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', ROOM_PREFIX .. id, 'last_ping_at') or ''
end
return out
"#;

/// The scripts of the tick's listing: its read, and the repair of the last pings.
pub(super) fn tick_list_scripts() -> (Script, Script) {
    (
        Script::new(&TICK_READ_SCRIPT.replace("CHANGES_LUA", CHANGES_LUA)),
        Script::new(RECORD_PINGS_SCRIPT),
    )
}

/// A listing read at one value of its scheduler's change counter.
struct Listing {
    changes: String,
    rooms: Arc<Vec<GameRoom>>,
}

/// The listings this store answered last, one per scheduler.
#[derive(Clone, Default)]
pub(super) struct Listings(Arc<Mutex<HashMap<String, Listing>>>);

impl Listings {
    fn forget(&self, scheduler: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(scheduler);
    }

    fn keep(&self, scheduler: &str, changes: String, rooms: Arc<Vec<GameRoom>>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(scheduler.to_string(), Listing { changes, rooms });
    }

    /// The listing read at `changes`, its last pings brought up to date; `None` when the
    /// counter moved since (or nothing was read).
    fn reuse(
        &self,
        scheduler: &str,
        changes: &str,
        silent: &HashMap<&str, Option<DateTime<Utc>>>,
        silent_before: DateTime<Utc>,
    ) -> Option<Arc<Vec<GameRoom>>> {
        let mut listings = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let listing = listings.get_mut(scheduler)?;
        if listing.changes != changes {
            return None;
        }
        let ping_of = |room: &GameRoom| match silent.get(room.id.as_str()) {
            Some(exact) => *exact,
            None => room.last_ping_at.map(|at| at.max(silent_before)),
        };
        if listing
            .rooms
            .iter()
            .any(|room| ping_of(room) != room.last_ping_at)
        {
            // Copied only when a caller still holds the previous answer.
            for room in Arc::make_mut(&mut listing.rooms) {
                room.last_ping_at = ping_of(room);
            }
        }
        Some(listing.rooms.clone())
    }
}

fn parse_time(scheduler: &str, id: &str, text: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| corrupt(scheduler, id, format!("last_ping_at: {e}")))
}

impl RedisRoomStore {
    pub(super) async fn tick_list(
        &self,
        scheduler: &str,
        silent_before: DateTime<Utc>,
    ) -> Result<Arc<Vec<GameRoom>>, StoreError> {
        let mut invocation = self.scripts.tick_read.prepare_invoke();
        invocation
            .key(self.changes_key(scheduler))
            .key(self.pings_key(scheduler))
            .key(self.rooms_key(scheduler))
            .arg(silent_before.timestamp_micros());
        let reply: Vec<String> = self.invoke(&invocation).await?;
        let Some((changes, pairs)) = reply.split_first() else {
            return Err(StoreError::Backend(
                "redis: the tick read answered nothing".to_string(),
            ));
        };
        if changes.is_empty() {
            self.listings.forget(scheduler);
            return Ok(Arc::new(Vec::new()));
        }
        let mut silent = HashMap::with_capacity(pairs.len() / 2);
        for pair in pairs.chunks_exact(2) {
            silent.insert(pair[0].as_str(), parse_time(scheduler, &pair[0], &pair[1])?);
        }
        if let Some(rooms) = self
            .listings
            .reuse(scheduler, changes, &silent, silent_before)
        {
            return Ok(rooms);
        }
        let rooms = Arc::new(self.list_pinged(scheduler).await?);
        self.listings
            .keep(scheduler, changes.clone(), rooms.clone());
        Ok(rooms)
    }

    /// `list`, making sure every room that pinged is in the scheduler's last pings (rooms
    /// stored before the last pings were kept are added once, at their last ping).
    async fn list_pinged(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError> {
        let (rooms, recorded) = futures::try_join!(self.list(scheduler), async {
            redis::cmd("ZCARD")
                .arg(self.pings_key(scheduler))
                .query_async::<usize>(&mut self.connection.clone())
                .await
                .map_err(redis_error)
        })?;
        let pinged: Vec<&GameRoom> = rooms.iter().filter(|r| r.last_ping_at.is_some()).collect();
        if recorded < pinged.len() {
            let mut invocation = self.scripts.record_pings.prepare_invoke();
            invocation.key(self.pings_key(scheduler));
            for room in pinged {
                let micros = room.last_ping_at.map_or(0, |t| t.timestamp_micros());
                invocation.arg(&room.id).arg(micros);
            }
            let _: i64 = self.invoke(&invocation).await?;
        }
        Ok(rooms)
    }
}

/// KEYS: the scheduler's last pings. ARGV: pairs of a room id and its last ping in
/// microseconds. Adds each room that still exists and is not there yet.
const RECORD_PINGS_SCRIPT: &str = r#"
local ROOM_PREFIX = (string.gsub(KEYS[1], 'pings$', 'room:'))
for i = 1, #ARGV, 2 do
  if redis.call('EXISTS', ROOM_PREFIX .. ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[i + 1], ARGV[i])
  end
end
return 1
"#;
