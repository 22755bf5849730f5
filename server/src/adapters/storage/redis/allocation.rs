//! Allocation on Redis: one script per allocation, over a per-scheduler index of the rooms that
//! may have free capacity, so that no allocation without a selector scans the scheduler's rooms.
//!
//! Keys, besides those of `super` (all under the scheduler's hash tag):
//!
//! - `P:{S}:free:ready:REGION`, `P:{S}:free:occupied:REGION`: sorted sets of the ready
//!   (occupied) rooms of one region, scored by their load (running matches plus open claims).
//!   Rooms with no region (stored before regions) are in region `""`: `P:{S}:free:ready:`.
//!   Every script that changes a room's status, running matches or claims (insert, ping,
//!   set_status, allocate, release, expire, remove) keeps them.
//! - `P:{S}:free:regions`: the set of regions whose free sets are not empty.
//! - `P:{S}:claims:all`: a hash from claim id to `ROOM\nJSON` (the `NewClaim`);
//! - `P:{S}:claims:expiry`: a sorted set of claim ids by expiry (ms), for the sweeper;
//! - `P:{S}:claims:of:ROOM`: a sorted set of the room's claim ids by creation (ms), so that a
//!   ping confirms the oldest first; the room's hash counts them in its `claims` field.
//! - `P:{S}:free:built:2`: set once the index holds the rooms stored before it existed (the
//!   scheduler's first allocation indexes its ready and occupied rooms, once, and deletes the
//!   index of before regions: `free:ready`, `free:occupied`, `free:built`).
//!
//! Choosing a room (`allocation::pick`, mirrored): for each group of regions (each preferred
//! region in turn, or every region of `free:regions` at once when the request prefers none),
//! the first room of each of the group's sets in the strategy's order (`packed`:
//! `ZREVRANGEBYSCORE` below `maxMatches`, occupied sets first when `maxMatches` > 1, ties to the
//! greatest id; `distributed`: `ZRANGEBYSCORE`, ties to the smallest id), the best of them
//! winning. Without a version or metadata selector that is one `ZREVRANGEBYSCORE` (or
//! `ZRANGEBYSCORE`), O(log n), per set looked at: two per region at most. With one, the script
//! reads the candidates' hashes (`version`, and `metadata` decoded with cjson) in index order,
//! `PAGE` at a time, until one matches: O(k log n) for the k free rooms ahead of the first
//! match, and every free room of the group when none matches (never a false "no room"); Redis
//! runs nothing else meanwhile, so selectors that match few of many free rooms cost every
//! client latency.

use app::domain::allocation::{Claim, Claimed, NewClaim, Selection};
use app::domain::history::Tier;
use app::ports::{StoreError, SweptClaims};
use chrono::{DateTime, Utc};
use redis::Script;

use super::RedisRoomStore;
use super::codec::{room_not_found, to_json};
use super::scripts::index_lua;
use crate::adapters::storage::redis_connection::redis_error;

/// KEYS: the `INDEX_KEYS`, then the outcome buckets the claim's creation falls in, one hash per
/// tier (see `outcomes`). ARGV: max matches, claim id, claim JSON, expiry ms, creation ms,
/// the room to reserve ('' for any), then the selection: strategy (`packed`, `distributed`),
/// the number of preferred regions, the number of versions (-1 for any), the metadata to
/// match as a JSON object ('' for none), the regions, the versions, and last the TTL (ms) of
/// each outcome bucket. Returns the room's id, its
/// address (JSON, '' when unknown) and its region, read in the same step; `false` when no room
/// (or not that room) can take the claim, or `{''}` when the room to reserve does not exist.
/// Counts the outcome in its buckets (`rate::Outcome`): a claim recorded is `allocated`, an
/// allocation no room can take `refused`; a reservation refused counts nothing.
const ALLOCATE_SCRIPT: &str = r#"
INDEX_LUA
-- Counts the outcome in the bucket of each tier (KEYS[5..]), each key living its TTL (the last
-- ARGV, one per bucket) from its latest count.
local function count_outcome(outcome)
  local n = #KEYS - 4
  for i = 1, n do
    redis.call('HINCRBY', KEYS[4 + i], outcome, 1)
    redis.call('PEXPIRE', KEYS[4 + i], ARGV[#ARGV - n + i])
  end
end
-- Rooms stored before this index existed: the scheduler's first allocation indexes its ready
-- and occupied rooms once (then every script keeps the index).
local BUILT = (string.gsub(CLAIMS, 'claims:all$', 'free:built:2'))
if redis.call('EXISTS', BUILT) == 0 then
  redis.call('DEL', FREE_READY, FREE_OCCUPIED, (string.gsub(CLAIMS, 'claims:all$', 'free:built')))
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
  local f = redis.call('HMGET', ROOM_PREFIX .. id, 'status', 'region')
  if not f[1] then return {''} end
  if f[1] == 'ready' then
    set = FREE_READY .. ':' .. (f[2] or '')
  elseif f[1] == 'occupied' and max > 1 then
    set = FREE_OCCUPIED .. ':' .. (f[2] or '')
  else
    return false
  end
  local load = redis.call('ZSCORE', set, id)
  if not load or tonumber(load) >= max then return false end
else
  -- The machines a pruned rank left out may take claims under another `maxMatches`: rank
  -- every machine with busy rooms again when it changes.
  local MAX = MACHINES .. 'max'
  if redis.call('GET', MAX) ~= ARGV[1] then
    for _, r in ipairs(redis.call('SMEMBERS', REGIONS)) do
      local counts = redis.call('HGETALL', MACHINES .. 'busy:' .. r)
      for i = 1, #counts, 2 do
        redis.call('ZADD', MACHINES .. 'rank:' .. r, counts[i + 1], counts[i])
      end
    end
    redis.call('SET', MAX, ARGV[1])
  end
  local packed = ARGV[7] ~= 'distributed'
  local nregions, nversions = tonumber(ARGV[8]), tonumber(ARGV[9])
  local want = nil
  if ARGV[10] ~= '' then want = cjson.decode(ARGV[10]) end
  local versions = nil
  if nversions >= 0 then
    versions = {}
    for i = 1, nversions do versions[ARGV[10 + nregions + i]] = true end
  end
  local reads = versions ~= nil or want ~= nil
  -- Whether two decoded JSON values are equal (`allocation::same_json`).
  local function same(a, b)
    if type(a) ~= type(b) then return false end
    if type(a) ~= 'table' then return a == b end
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
  end
  local function accepts(room)
    local f = redis.call('HMGET', ROOM_PREFIX .. room, 'version', 'metadata')
    if versions and not versions[f[1] or ''] then return false end
    if want then
      local ok, have = pcall(cjson.decode, f[2] or '{}')
      if not ok or type(have) ~= 'table' then return false end
      for k, v in pairs(want) do if not same(have[k], v) then return false end end
    end
    return true
  end
  -- The first room of `key` scored from `low` to below `high` in the strategy's order that
  -- matches, and its score.
  local PAGE = 64
  local function first(key, high, low)
    local n, offset = 1, 0
    if reads then n = PAGE end
    while true do
      local page
      if packed then
        page = redis.call('ZREVRANGEBYSCORE', key, high, low, 'WITHSCORES', 'LIMIT', offset, n)
      else
        page = redis.call('ZRANGEBYSCORE', key, low, high, 'WITHSCORES', 'LIMIT', offset, n)
      end
      for i = 1, #page, 2 do
        if not reads or accepts(page[i]) then return page[i], tonumber(page[i + 1]) end
      end
      if #page < 2 * n then return nil end
      offset = offset + n
    end
  end
  -- Byte order, as Redis orders equal scores (Lua's `<` on strings follows the locale).
  local function before(a, b)
    for i = 1, math.min(#a, #b) do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then return x < y end
    end
    return #a < #b
  end
  -- Whether candidate `a` goes before `b` (`allocation::order`); rank 0 is occupied for
  -- packed, ready for distributed.
  local function better(a, b)
    if packed then
      if a.rank ~= b.rank then return a.rank < b.rank end
      if a.load ~= b.load then return a.load > b.load end
      return before(b.id, a.id)
    end
    if a.load ~= b.load then return a.load < b.load end
    if a.rank ~= b.rank then return a.rank < b.rank end
    return before(a.id, b.id)
  end
  -- The first room of machine `m` of region `r` that can take the claim: occupied rooms first
  -- (when they take several matches), then ready ones; with its load and rank.
  local function on_machine(r, m)
    local key = machine_free(r, m)
    if max > 1 then
      local room, score = first(key, '(' .. (OCC + max), OCC)
      if room then return room, score - OCC, 0 end
    end
    local room, load = first(key, below, '-inf')
    if room then return room, load, 1 end
    return nil
  end
  -- Packed: the rooms of the busiest machines of the group that can take the claim, walking
  -- each region's rank (at most WINDOW machines per region) from the busiest down, dropping
  -- from the rank the machines found full; among equally busy machines, the room order wins.
  local WINDOW, STEP = 32, 4
  local function busiest_machine(group)
    local best = nil
    for _, r in ipairs(group) do
      local rank = MACHINES .. 'rank:' .. r
      local offset, walked, done = 0, 0, false
      while not done and walked < WINDOW do
        local top = redis.call('ZREVRANGEBYSCORE', rank, '+inf', 1, 'WITHSCORES', 'LIMIT', offset, STEP)
        if #top < 2 * STEP then done = true end
        for i = 1, #top, 2 do
          local busy = tonumber(top[i + 1])
          if best and busy < best.busy then done = true break end
          walked = walked + 1
          offset = offset + 1
          local room, load, rank_ = on_machine(r, top[i])
          if room then
            local c = {id = room, load = load, rank = rank_, busy = busy}
            if not best or busy > best.busy or better(c, best) then best = c end
          elseif not reads then
            redis.call('ZREM', rank, top[i])
            offset = offset - 1
          end
        end
      end
    end
    return best
  end
  local function best_of(group)
    if packed then
      local on_busy = busiest_machine(group)
      if on_busy then return on_busy end
    end
    local best = nil
    local function consider(key, rank)
      local room, load = first(key, below, '-inf')
      if room then
        local c = {id = room, load = load, rank = rank, key = key}
        if not best or better(c, best) then best = c end
      end
    end
    if packed then
      if max > 1 then
        for _, r in ipairs(group) do consider(FREE_OCCUPIED .. ':' .. r, 0) end
      end
      if best then return best end
      for _, r in ipairs(group) do consider(FREE_READY .. ':' .. r, 1) end
    else
      for _, r in ipairs(group) do
        consider(FREE_READY .. ':' .. r, 0)
        if max > 1 then consider(FREE_OCCUPIED .. ':' .. r, 1) end
      end
    end
    return best
  end
  local chosen = nil
  if versions and next(versions) == nil then
    -- A selector no version satisfies (`Selection::matches_nothing`): no room to look at.
  elseif nregions == 0 then
    chosen = best_of(redis.call('SMEMBERS', REGIONS))
  else
    for i = 1, nregions do
      chosen = best_of({ARGV[10 + i]})
      if chosen then break end
    end
  end
  if not chosen then
    count_outcome('refused')
    return false
  end
  id = chosen.id
end
count_outcome('allocated')
redis.call('HINCRBY', ROOM_PREFIX .. id, 'claims', 1)
reindex(id, ROOM_PREFIX .. id)
redis.call('HSET', CLAIMS, ARGV[2], id .. '\n' .. ARGV[3])
redis.call('ZADD', EXPIRY, ARGV[4], ARGV[2])
redis.call('ZADD', OF_PREFIX .. id, ARGV[5], ARGV[2])
local where_ = redis.call('HMGET', ROOM_PREFIX .. id, 'address', 'region')
return {id, where_[1] or '', where_[2] or ''}
"#;

/// KEYS: the `INDEX_KEYS`. ARGV: claim id. Returns the claim's stored value, or `false`.
const RELEASE_SCRIPT: &str = r#"
INDEX_LUA
return close_claim(ARGV[1])
"#;

/// KEYS: the `INDEX_KEYS`. ARGV: now (ms), most claims to expire. Returns how many claims it
/// closed, their stored values, then the stored values of the claims still open.
const SWEEP_SCRIPT: &str = r#"
INDEX_LUA
local out = { 0 }
for _, claim in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))) do
  local v = close_claim(claim)
  if v then out[#out + 1] = v; out[1] = out[1] + 1 else redis.call('ZREM', EXPIRY, claim) end
end
for _, v in ipairs(redis.call('HVALS', CLAIMS)) do out[#out + 1] = v end
out[1] = tostring(out[1])
return out
"#;

/// KEYS: the `INDEX_KEYS`, the scheduler's id set, then its status sets. ARGV: the room id.
/// Forgets the room, its place in the index, its claims and its last ping, and bumps the
/// change counter (deleted with the scheduler's last room).
const REMOVE_SCRIPT: &str = r#"
INDEX_LUA
local id = ARGV[1]
for _, claim in ipairs(redis.call('ZRANGE', OF_PREFIX .. id, 0, -1)) do drop_claim(claim) end
local f = redis.call('HMGET', ROOM_PREFIX .. id, 'region', 'machine', 'counted')
local region = f[1] or ''
unplace(id, region, f[2] or '', f[3] or '')
redis.call('DEL', OF_PREFIX .. id, ROOM_PREFIX .. id)
unindex(id, region)
-- The index of before regions, until the next allocation deletes it.
redis.call('ZREM', FREE_READY, id)
redis.call('ZREM', FREE_OCCUPIED, id)
for i = 5, #KEYS do redis.call('SREM', KEYS[i], id) end
redis.call('ZREM', PINGS, id)
if redis.call('SCARD', KEYS[5]) == 0 then redis.call('DEL', CHANGES) else bump(CHANGES) end
return 1
"#;

/// How many claims one sweep expires at most (the next sweep takes the rest).
const EXPIRE_BATCH: usize = 1000;

pub(crate) struct AllocationScripts {
    pub(super) allocate: Script,
    pub(super) release: Script,
    pub(super) sweep: Script,
    pub(super) remove: Script,
}

impl AllocationScripts {
    pub(super) fn new() -> Self {
        let with_index = |lua: &str| Script::new(&lua.replace("INDEX_LUA", &index_lua("1")));
        Self {
            allocate: with_index(ALLOCATE_SCRIPT),
            release: with_index(RELEASE_SCRIPT),
            sweep: with_index(SWEEP_SCRIPT),
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
        selection: &Selection,
        claim: &NewClaim,
    ) -> Result<Result<Claimed, bool>, StoreError> {
        let mut invocation = self.scripts.allocation.allocate.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        for tier in Tier::ALL {
            invocation.key(self.outcome_key(scheduler, tier, claim.created_at));
        }
        invocation
            .arg(max_matches)
            .arg(&claim.id)
            .arg(to_json(claim)?)
            .arg(claim.expires_at.timestamp_millis())
            .arg(claim.created_at.timestamp_millis())
            .arg(room.unwrap_or(""))
            .arg(selection.strategy.as_str())
            .arg(selection.regions.len())
            .arg(selection.versions.as_ref().map_or(-1, |v| v.len() as i64))
            .arg(if selection.metadata.is_empty() {
                String::new()
            } else {
                to_json(&selection.metadata)?
            })
            .arg(&selection.regions);
        if let Some(versions) = &selection.versions {
            invocation.arg(versions.iter().collect::<Vec<_>>());
        }
        for tier in Tier::ALL {
            invocation.arg(tier.bucket_ttl().num_milliseconds());
        }
        let picked: Option<Vec<String>> = self.invoke(&invocation).await?;
        let Some(picked) = picked else {
            return Ok(Err(false));
        };
        let [id, address, region] = match <[String; 3]>::try_from(picked) {
            Ok(found) => found,
            Err(_) => return Ok(Err(true)),
        };
        let address = if address.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&address).map_err(|e| {
                StoreError::Backend(format!("redis: room {id} of {scheduler}: address: {e}"))
            })?)
        };
        Ok(Ok(Claimed {
            claim: claim.clone().on(scheduler, &id),
            address,
            region,
        }))
    }

    pub(super) async fn reserve_room(
        &self,
        scheduler: &str,
        room: &str,
        max_matches: u32,
        claim: &NewClaim,
    ) -> Result<Claimed, StoreError> {
        match self
            .claim_room(
                scheduler,
                Some(room),
                max_matches,
                &Selection::default(),
                claim,
            )
            .await?
        {
            Ok(claimed) => Ok(claimed),
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

    pub(super) async fn sweep(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
    ) -> Result<SweptClaims, StoreError> {
        let mut invocation = self.scripts.allocation.sweep.prepare_invoke();
        for key in self.index_keys(scheduler) {
            invocation.key(key);
        }
        invocation.arg(now.timestamp_millis()).arg(EXPIRE_BATCH);
        let stored: Vec<String> = self.invoke(&invocation).await?;
        let closed = stored
            .first()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < stored.len())
            .ok_or_else(|| {
                StoreError::Backend("redis: the claim sweep answered no count".to_string())
            })?;
        let decode = |values: &[String]| {
            values
                .iter()
                .map(|s| decode_claim(scheduler, s))
                .collect::<Result<_, _>>()
                .map(sorted)
        };
        Ok(SweptClaims {
            expired: decode(&stored[1..=closed])?,
            open: decode(&stored[closed + 1..])?,
        })
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
                .map_err(redis_error)?,
            Some(room) => {
                let ids: Vec<String> = redis::cmd("ZRANGE")
                    .arg(self.claims_of_key(scheduler, room))
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let found: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(&all)
                    .arg(&ids)
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
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
