//! Allocation on Redis: one script per allocation, over a per-scheduler index of the rooms that
//! may have free capacity, so that no allocation scans the scheduler's rooms.
//!
//! Keys, besides those of `super` (all under the scheduler's hash tag):
//!
//! - `P:{S}:free:ready`, `P:{S}:free:occupied`: sorted sets of the ready (occupied) rooms, scored
//!   by their load (running matches plus open claims). Every script that changes a room's status,
//!   running matches or claims (insert, ping, set_status, allocate, release, expire, remove) keeps
//!   them; allocation asks for the busiest room whose score is below `maxMatches`
//!   (`ZREVRANGEBYSCORE`, O(log n)): occupied rooms first when `maxMatches` > 1, then ready ones;
//!   among equally busy rooms the greatest id goes first.
//! - `P:{S}:claims:all`: a hash from claim id to `ROOM\nJSON` (the `NewClaim`);
//! - `P:{S}:claims:expiry`: a sorted set of claim ids by expiry (ms), for the sweeper;
//! - `P:{S}:claims:of:ROOM`: a sorted set of the room's claim ids by creation (ms), so that a
//!   ping confirms the oldest first; the room's hash counts them in its `claims` field.
//!
//! - `P:{S}:free:built`: set once the index holds the rooms stored before it existed (the
//!   scheduler's first allocation indexes its ready and occupied rooms, once).

use app::domain::allocation::{Claim, NewClaim};
use app::ports::StoreError;
use chrono::{DateTime, Utc};
use redis::Script;

use super::RedisRoomStore;
use super::codec::{backend, room_not_found, to_json};
use super::scripts::INDEX_LUA;

/// KEYS: the `INDEX_KEYS`. ARGV: max matches, claim id, claim JSON, expiry ms, creation ms,
/// and the room to reserve ('' for any). Returns the room's id, `false` when no room (or not
/// that room) can take the claim, or '' when the room to reserve does not exist.
const ALLOCATE_SCRIPT: &str = r#"
INDEX_LUA
-- Rooms stored before the index existed: the scheduler's first allocation indexes its ready and
-- occupied rooms once (then every script keeps the index).
local BUILT = (string.gsub(CLAIMS, 'claims:all$', 'free:built'))
if redis.call('EXISTS', BUILT) == 0 then
  for _, status in ipairs({'ready', 'occupied'}) do
    local set = (string.gsub(CLAIMS, 'claims:all$', 'status:' .. status))
    for _, id in ipairs(redis.call('SMEMBERS', set)) do reindex(id, ROOM_PREFIX .. id) end
  end
  redis.call('SET', BUILT, '1')
end
local max = tonumber(ARGV[1])
local below = '(' .. max
local id, set
if ARGV[6] ~= '' then
  id = ARGV[6]
  local status = redis.call('HGET', ROOM_PREFIX .. id, 'status')
  if not status then return '' end
  if status == 'ready' then
    set = FREE_READY
  elseif status == 'occupied' and max > 1 then
    set = FREE_OCCUPIED
  else
    return false
  end
  local load = redis.call('ZSCORE', set, id)
  if not load or tonumber(load) >= max then return false end
else
  if max > 1 then
    id = redis.call('ZREVRANGEBYSCORE', FREE_OCCUPIED, below, '-inf', 'LIMIT', 0, 1)[1]
    set = FREE_OCCUPIED
  end
  if not id then
    id = redis.call('ZREVRANGEBYSCORE', FREE_READY, below, '-inf', 'LIMIT', 0, 1)[1]
    set = FREE_READY
  end
  if not id then return false end
end
redis.call('ZINCRBY', set, 1, id)
redis.call('HINCRBY', ROOM_PREFIX .. id, 'claims', 1)
redis.call('HSET', CLAIMS, ARGV[2], id .. '\n' .. ARGV[3])
redis.call('ZADD', EXPIRY, ARGV[4], ARGV[2])
redis.call('ZADD', OF_PREFIX .. id, ARGV[5], ARGV[2])
return id
"#;

/// KEYS: the `INDEX_KEYS`. ARGV: claim id. Returns the claim's stored value, or `false`.
const RELEASE_SCRIPT: &str = r#"
INDEX_LUA
return close_claim(ARGV[1])
"#;

/// KEYS: the `INDEX_KEYS`. ARGV: now (ms), most claims to expire. Returns their stored values.
const EXPIRE_SCRIPT: &str = r#"
INDEX_LUA
local out = {}
for _, claim in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))) do
  local v = close_claim(claim)
  if v then out[#out + 1] = v else redis.call('ZREM', EXPIRY, claim) end
end
return out
"#;

/// KEYS: the `INDEX_KEYS`, the scheduler's id set, then its status sets. ARGV: the room id.
/// Forgets the room, its place in the index and its claims.
const REMOVE_SCRIPT: &str = r#"
INDEX_LUA
local id = ARGV[1]
for _, claim in ipairs(redis.call('ZRANGE', OF_PREFIX .. id, 0, -1)) do drop_claim(claim) end
redis.call('DEL', OF_PREFIX .. id, ROOM_PREFIX .. id)
redis.call('ZREM', FREE_READY, id)
redis.call('ZREM', FREE_OCCUPIED, id)
for i = 5, #KEYS do redis.call('SREM', KEYS[i], id) end
return 1
"#;

/// How many claims one sweep expires at most (the next sweep takes the rest).
const EXPIRE_BATCH: usize = 1000;

pub(crate) struct AllocationScripts {
    pub(super) allocate: Script,
    pub(super) release: Script,
    pub(super) expire: Script,
    pub(super) remove: Script,
}

impl AllocationScripts {
    pub(super) fn new() -> Self {
        let with_index =
            |lua: &str| Script::new(&lua.replace("INDEX_LUA", &INDEX_LUA.replace("IDX", "1")));
        Self {
            allocate: with_index(ALLOCATE_SCRIPT),
            release: with_index(RELEASE_SCRIPT),
            expire: with_index(EXPIRE_SCRIPT),
            remove: with_index(REMOVE_SCRIPT),
        }
    }
}

/// The `INDEX_KEYS` of `scripts`, in their order.
pub(super) fn index_keys(prefix: &str, scheduler: &str) -> [String; 4] {
    let base = format!("{prefix}:{{{scheduler}}}");
    [
        format!("{base}:free:ready"),
        format!("{base}:free:occupied"),
        format!("{base}:claims:all"),
        format!("{base}:claims:expiry"),
    ]
}

fn decode_claim(scheduler: &str, stored: &str) -> Result<Claim, StoreError> {
    let corrupt = || {
        StoreError::Backend(format!(
            "redis: a claim of scheduler {scheduler} does not read"
        ))
    };
    let (room, json) = stored.split_once('\n').ok_or_else(corrupt)?;
    let claim: NewClaim = serde_json::from_str(json).map_err(|_| corrupt())?;
    Ok(claim.on(scheduler, room))
}

fn sorted(mut claims: Vec<Claim>) -> Vec<Claim> {
    claims.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    claims
}

impl RedisRoomStore {
    /// The `INDEX_KEYS` of `scripts`, in their order.
    pub(super) fn index_keys(&self, scheduler: &str) -> [String; 4] {
        index_keys(&self.prefix, scheduler)
    }

    fn claims_of_key(&self, scheduler: &str, room: &str) -> String {
        format!("{}:claims:of:{room}", self.scheduler_key(scheduler))
    }

    pub(super) async fn claim_room(
        &self,
        scheduler: &str,
        room: Option<&str>,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Result<Claim, bool>, StoreError> {
        let mut invocation = self.scripts.allocation.allocate.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation
            .arg(max_matches)
            .arg(&claim.id)
            .arg(to_json(claim)?)
            .arg(claim.expires_at.timestamp_millis())
            .arg(claim.created_at.timestamp_millis())
            .arg(room.unwrap_or(""));
        let picked: Option<String> = self.invoke(&invocation).await?;
        Ok(match picked {
            Some(id) if id.is_empty() => Err(true),
            Some(id) => Ok(claim.clone().on(scheduler, &id)),
            None => Err(false),
        })
    }

    pub(super) async fn reserve_room(
        &self,
        scheduler: &str,
        room: &str,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Claim, StoreError> {
        match self
            .claim_room(scheduler, Some(room), max_matches, claim)
            .await?
        {
            Ok(claim) => Ok(claim),
            Err(true) => Err(room_not_found(scheduler, room)),
            Err(false) => Err(StoreError::Conflict(format!(
                "room {room} cannot take a claim now"
            ))),
        }
    }

    pub(super) async fn release_claim(
        &self,
        scheduler: &str,
        claim: &str,
    ) -> Result<Option<Claim>, StoreError> {
        let mut invocation = self.scripts.allocation.release.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation.arg(claim);
        let stored: Option<String> = self.invoke(&invocation).await?;
        stored.map(|s| decode_claim(scheduler, &s)).transpose()
    }

    pub(super) async fn expire(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut invocation = self.scripts.allocation.expire.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation.arg(now.timestamp_millis()).arg(EXPIRE_BATCH);
        let stored: Vec<String> = self.invoke(&invocation).await?;
        stored
            .iter()
            .map(|s| decode_claim(scheduler, s))
            .collect::<Result<_, _>>()
            .map(sorted)
    }

    pub(super) async fn open_claims(
        &self,
        scheduler: &str,
        room: Option<&str>,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut connection = self.connection.clone();
        let [_, _, all, _] = self.index_keys(scheduler);
        let stored: Vec<String> = match room {
            None => redis::cmd("HVALS")
                .arg(&all)
                .query_async(&mut connection)
                .await
                .map_err(backend)?,
            Some(room) => {
                let ids: Vec<String> = redis::cmd("ZRANGE")
                    .arg(self.claims_of_key(scheduler, room))
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut connection)
                    .await
                    .map_err(backend)?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let found: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(&all)
                    .arg(&ids)
                    .query_async(&mut connection)
                    .await
                    .map_err(backend)?;
                found.into_iter().flatten().collect()
            }
        };
        stored
            .iter()
            .map(|s| decode_claim(scheduler, s))
            .collect::<Result<_, _>>()
            .map(sorted)
    }

    pub(super) async fn remove_room(&self, scheduler: &str, id: &str) -> Result<(), StoreError> {
        let mut invocation = self.scripts.allocation.remove.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation.key(self.rooms_key(scheduler));
        for key in self.status_keys(scheduler) {
            invocation.key(key);
        }
        invocation.arg(id);
        let _: i64 = self.invoke(&invocation).await?;
        Ok(())
    }
}
