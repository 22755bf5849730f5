//! The Lua scripts of the Redis room store: each change to a room is one of them, hence atomic.

use app::domain::room::RoomStatus;
use redis::aio::ConnectionManager;
use redis::{ErrorKind, Script, ServerErrorKind};

use super::allocation::AllocationScripts;
use super::tick_list::tick_list_scripts;

/// Lua table from a status name to the index, in `KEYS`, of its status set, when the status
/// sets are `KEYS[first..]` in `RoomStatus::ALL` order.
fn status_set_index_table(first: usize) -> String {
    let entries: Vec<String> = RoomStatus::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{} = {}", s.as_str(), i + first))
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

/// Arguments per ping in `PING_SCRIPT`.
pub(super) const PING_ARGS: usize = 7;

/// The keys of the allocation index every script that changes a room's status or load takes,
/// in this order: the free-capacity sorted sets of ready and of occupied rooms (score: running
/// matches plus open claims), the claims hash and the claims' expiry sorted set. The first two
/// are the stems of one sorted set per region (`free:ready:REGION`, `free:occupied:REGION`;
/// the region of a room without one is `""`, so its sets end in `:`); the stems themselves
/// are the index before regions, only deleted when the index is rebuilt.
pub(super) const INDEX_KEYS: usize = 4;

/// Lua shared by every script that changes a room: `bump(key)` moves the scheduler's change
/// counter (`P:{S}:changes`, see the module's key space), which the health controller's
/// listing reads each tick (`RoomStore::list_for_tick`) to know that its rooms changed. A
/// counter made afresh (the scheduler's last room was removed, and the key with it) starts at
/// the server's time in microseconds, so that it never repeats a value an earlier counter had.
pub(super) const CHANGES_LUA: &str = r#"
local function bump(key)
  if redis.call('INCR', key) == 1 then
    local t = redis.call('TIME')
    redis.call('SET', key, t[1] .. string.format('%06d', tonumber(t[2])))
  end
end
"#;

/// Lua shared by the scripts that keep the allocation index: `IDX` is the index of the first
/// index key in `KEYS`. A room is in the `free:ready:REGION` or `free:occupied:REGION` set of
/// its region (by its status) with its load as score, whatever the scheduler's `maxMatches`
/// (allocation filters by score); `free:regions` holds the regions whose sets are not empty.
pub(super) const INDEX_LUA: &str = r#"
local FREE_READY, FREE_OCCUPIED, CLAIMS, EXPIRY = KEYS[IDX], KEYS[IDX + 1], KEYS[IDX + 2], KEYS[IDX + 3]
local ROOM_PREFIX = (string.gsub(CLAIMS, 'claims:all$', 'room:'))
local OF_PREFIX = (string.gsub(CLAIMS, 'all$', 'of:'))
local REGIONS = (string.gsub(CLAIMS, 'claims:all$', 'free:regions'))
-- The change counter and the last pings (sorted set: room id -> its last ping, microseconds).
local CHANGES = (string.gsub(CLAIMS, 'claims:all$', 'changes'))
local PINGS = (string.gsub(CLAIMS, 'claims:all$', 'pings'))
CHANGES_LUA
-- Forgets a claim's records (not the room's count); returns its stored value or false.
local function drop_claim(claim)
  local v = redis.call('HGET', CLAIMS, claim)
  if not v then return false end
  redis.call('HDEL', CLAIMS, claim)
  redis.call('ZREM', EXPIRY, claim)
  local room = string.match(v, '^([^\n]*)\n')
  if room then redis.call('ZREM', OF_PREFIX .. room, claim) end
  return v
end
-- Takes a room out of its region's free sets, and the region out of the list once empty.
local function unindex(id, region)
  local ready, occupied = FREE_READY .. ':' .. region, FREE_OCCUPIED .. ':' .. region
  redis.call('ZREM', ready, id)
  redis.call('ZREM', occupied, id)
  if redis.call('ZCARD', ready) == 0 and redis.call('ZCARD', occupied) == 0 then
    redis.call('SREM', REGIONS, region)
  end
end
-- Machines (`allocation::packing`): per region, `machines:busy:REGION` (hash: machine -> its
-- busy rooms), `machines:rank:REGION` (sorted set: the machines with busy rooms that may have
-- free capacity, scored by their busy rooms; the allocation script drops those it finds full)
-- and, per machine, `machines:free:REGION:MACHINE` (sorted set of its ready and occupied
-- rooms: ready ones scored by load, occupied ones by OCC + load). A room's `counted` field
-- names the machine its busy room is counted on.
local OCC = 4294967296
local MACHINES = (string.gsub(CLAIMS, 'claims:all$', 'machines:'))
local function machine_free(region, machine)
  return MACHINES .. 'free:' .. region .. ':' .. machine
end
-- Adds `delta` to a machine's busy rooms and ranks it by them (or drops it at 0).
local function count_busy(region, machine, delta)
  local busy, rank = MACHINES .. 'busy:' .. region, MACHINES .. 'rank:' .. region
  local n = redis.call('HINCRBY', busy, machine, delta)
  if n <= 0 then
    redis.call('HDEL', busy, machine)
    redis.call('ZREM', rank, machine)
  else
    redis.call('ZADD', rank, n, machine)
  end
end
-- Ranks a machine again (a room of it may take a claim now), if it has busy rooms.
local function rerank(region, machine)
  local n = redis.call('HGET', MACHINES .. 'busy:' .. region, machine)
  if n then redis.call('ZADD', MACHINES .. 'rank:' .. region, n, machine) end
end
-- Forgets a room's place on its machine: its free entry and its busy count.
local function unplace(id, region, machine, counted)
  if machine ~= '' then redis.call('ZREM', machine_free(region, machine), id) end
  if counted ~= '' then count_busy(region, counted, -1) end
end
-- Puts the room in its region's free set of its status with its load, or in none, and keeps
-- its machine's entries.
local function reindex(id, room_key)
  local f = redis.call('HMGET', room_key, 'status', 'running_matches', 'claims', 'region', 'machine', 'counted')
  local region, machine, counted = f[4] or '', f[5] or '', f[6] or ''
  local load = tonumber(f[2] or '0') + tonumber(f[3] or '0')
  local score = nil
  if f[1] == 'ready' then
    redis.call('ZREM', FREE_OCCUPIED .. ':' .. region, id)
    redis.call('ZADD', FREE_READY .. ':' .. region, load, id)
    redis.call('SADD', REGIONS, region)
    score = load
  elseif f[1] == 'occupied' then
    redis.call('ZREM', FREE_READY .. ':' .. region, id)
    redis.call('ZADD', FREE_OCCUPIED .. ':' .. region, load, id)
    redis.call('SADD', REGIONS, region)
    score = OCC + load
  else
    unindex(id, region)
  end
  local want = ''
  if f[1] == 'occupied' or (f[1] == 'ready' and load > 0) then want = machine end
  if want ~= counted then
    if counted ~= '' then count_busy(region, counted, -1) end
    if want ~= '' then
      count_busy(region, want, 1)
      redis.call('HSET', room_key, 'counted', want)
    else
      redis.call('HDEL', room_key, 'counted')
    end
  end
  if machine ~= '' then
    local key = machine_free(region, machine)
    if score then
      local old = redis.call('ZSCORE', key, id)
      redis.call('ZADD', key, score, id)
      if not old or tonumber(old) > score then rerank(region, machine) end
    else
      redis.call('ZREM', key, id)
    end
  end
end
-- Closes a claim and returns its capacity to its room at once.
local function close_claim(claim)
  local v = drop_claim(claim)
  if not v then return false end
  local room = string.match(v, '^([^\n]*)\n')
  local key = ROOM_PREFIX .. room
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'claims', -1)
    reindex(room, key)
  end
  return v
end
"#;

/// `INDEX_LUA` for a script whose first index key is `KEYS[idx]` (a Lua expression), with
/// `CHANGES_LUA` in it.
pub(super) fn index_lua(idx: &str) -> String {
    INDEX_LUA
        .replace("IDX", idx)
        .replace("CHANGES_LUA", CHANGES_LUA)
}

/// A batch of pings to one scheduler's rooms.
/// KEYS: the scheduler's status sets (in `RoomStatus::ALL` order), the `INDEX_KEYS`, then the
/// room of each ping.
/// ARGV, `PING_ARGS` per ping: id, reported status, now, metadata JSON or '', running matches or
/// '', the statuses the room may be in for the ping to be accepted, each between commas
/// (`,pending,ready,`, from `RoomStatus::allowed_before`), then now in microseconds (the
/// room's score in the scheduler's last pings).
/// Returns, per ping, the status the room was in (applied), `!` and that status (refused,
/// nothing changed) or '' (no such room). An applied ping to a room with open claims (the
/// room's `claims` count, after the ping's confirmations) adds, after the status, one line
/// per claim, oldest first: its stored JSON (a `NewClaim`, which has no raw line break).
/// Nothing else is read back. A plain heartbeat to a room without claims (same status,
/// nothing else) is one `HMGET` and one single-field `HSET`.
/// A ping that changes the status or reports running matches also closes the claims it
/// confirms (`allocation::confirmed_by_ping`, mirrored here) and updates the allocation index.
/// Every applied ping records its time in the scheduler's last pings; one that changes what
/// the room's listing shows besides its last ping (its status, other metadata or running
/// matches) also bumps the scheduler's change counter. A heartbeat does not.
const PING_SCRIPT: &str = r#"
local SETS = STATUS_COUNT
local SET = STATUS_TABLE
INDEX_LUA
local out = {}
for i = 1, #KEYS - SETS - INDEX_KEYS do
  local room = KEYS[SETS + INDEX_KEYS + i]
  local b = (i - 1) * PING_ARGS
  local f = redis.call('HMGET', room, 'status', 'claims')
  local current = f[1]
  if not current then
    out[i] = ''
  elseif not string.find(ARGV[b + 6], ',' .. current .. ',', 1, true) then
    out[i] = '!' .. current
  else
    local id, to, now, metadata, matches = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
    local claims = tonumber(f[2] or '0')
    redis.call('ZADD', PINGS, ARGV[b + 7], id)
    if current == to and metadata == '' and matches == '' then
      redis.call('HSET', room, 'last_ping_at', now)
    else
      local before = 0
      if matches ~= '' then before = tonumber(redis.call('HGET', room, 'running_matches') or '0') end
      if current ~= to or (matches ~= '' and tonumber(matches) ~= before)
        or (metadata ~= '' and redis.call('HGET', room, 'metadata') ~= metadata) then
        bump(CHANGES)
      end
      local fields = {'last_ping_at', now}
      if current ~= to then
        fields[3] = 'status'
        fields[4] = to
        fields[5] = 'status_changed_at'
        fields[6] = now
        if redis.call('SMOVE', KEYS[SET[current]], KEYS[SET[to]], id) == 0 then
          redis.call('SADD', KEYS[SET[to]], id)
        end
      end
      if metadata ~= '' then
        fields[#fields + 1] = 'metadata'
        fields[#fields + 1] = metadata
      end
      if matches ~= '' then
        fields[#fields + 1] = 'running_matches'
        fields[#fields + 1] = matches
      end
      redis.call('HSET', room, unpack(fields))
      if current ~= to or matches ~= '' then
        if claims > 0 then
          local after = before
          if matches ~= '' then after = tonumber(matches) end
          local k = 0
          if after > before then
            k = math.min(after - before, claims)
          elseif to == 'occupied' and current ~= 'occupied' then
            k = claims
          end
          if k > 0 then
            for _, claim in ipairs(redis.call('ZRANGE', OF_PREFIX .. id, 0, k - 1)) do
              if drop_claim(claim) then claims = claims - 1 end
            end
            redis.call('HSET', room, 'claims', claims)
          end
        end
        reindex(id, room)
      end
    end
    out[i] = current
    if claims > 0 then
      local open = redis.call('ZRANGE', OF_PREFIX .. id, 0, -1)
      if #open > 0 then
        local lines = {current}
        for _, v in ipairs(redis.call('HMGET', CLAIMS, unpack(open))) do
          if v then lines[#lines + 1] = string.match(v, '^[^\n]*\n(.*)$') end
        end
        out[i] = table.concat(lines, '\n')
      end
    end
  end
end
return out
"#;

/// The ping script with its constants filled in.
fn ping_script() -> String {
    PING_SCRIPT
        .replace("INDEX_LUA", &index_lua("(SETS + 1)"))
        .replace("INDEX_KEYS", &INDEX_KEYS.to_string())
        .replace("STATUS_COUNT", &RoomStatus::ALL.len().to_string())
        .replace("STATUS_TABLE", &status_set_index_table(1))
        .replace("PING_ARGS", &PING_ARGS.to_string())
}

/// KEYS: the room, then the status sets, then the `INDEX_KEYS`. ARGV: id, status, now.
/// Returns 0 for an unknown room.
const SET_STATUS_SCRIPT: &str = r#"
local SET = STATUS_TABLE
INDEX_LUA
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local to = ARGV[2]
if current ~= to then
  redis.call('HSET', KEYS[1], 'status', to, 'status_changed_at', ARGV[3])
  bump(CHANGES)
  if SET[current] then redis.call('SREM', KEYS[SET[current]], ARGV[1]) end
  redis.call('SADD', KEYS[SET[to]], ARGV[1])
  reindex(ARGV[1], KEYS[1])
end
return 1
"#;

/// KEYS: the room, the scheduler's id set, the room's status set, then the `INDEX_KEYS`.
/// ARGV: id, its last ping in microseconds ('' when it never pinged), then the room's fields
/// and values. Returns 0 when the id is taken.
const INSERT_SCRIPT: &str = r#"
INDEX_LUA
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then redis.call('ZADD', PINGS, ARGV[2], ARGV[1]) end
reindex(ARGV[1], KEYS[1])
bump(CHANGES)
return 1
"#;

/// KEYS: the room, the scheduler's change counter. ARGV: the address JSON. Returns 0 for an
/// unknown room.
const SET_ADDRESS_SCRIPT: &str = r#"
CHANGES_LUA
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'address', ARGV[1])
bump(KEYS[2])
return 1
"#;

/// KEYS: the `INDEX_KEYS`. ARGV: id, machine. Returns 0 for an unknown room.
const SET_MACHINE_SCRIPT: &str = r#"
INDEX_LUA
local key = ROOM_PREFIX .. ARGV[1]
local f = redis.call('HMGET', key, 'status', 'region', 'machine')
if not f[1] then return 0 end
local old = f[3] or ''
if old == ARGV[2] then return 1 end
if old ~= '' then redis.call('ZREM', machine_free(f[2] or '', old), ARGV[1]) end
redis.call('HSET', key, 'machine', ARGV[2])
reindex(ARGV[1], key)
bump(CHANGES)
return 1
"#;

/// KEYS: the room, the scheduler's change counter. ARGV: the status reason (empty for none),
/// the time. Returns 0 for an unknown room.
const SET_STATUS_REASON_SCRIPT: &str = r#"
CHANGES_LUA
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
bump(KEYS[2])
redis.call('HSET', KEYS[1], 'status_changed_at', ARGV[2])
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'status_reason')
else
  redis.call('HSET', KEYS[1], 'status_reason', ARGV[1])
end
return 1
"#;

pub(super) struct Scripts {
    pub(super) ping: Script,
    /// For each status in `RoomStatus::ALL` order, the statuses a room may be in to report
    /// it, as the ping script reads them (`,a,b,`).
    pub(super) allowed_before: Vec<String>,
    pub(super) set_status: Script,
    pub(super) insert: Script,
    pub(super) set_address: Script,
    pub(super) set_machine: Script,
    pub(super) set_status_reason: Script,
    pub(super) allocation: AllocationScripts,
    /// The health controller's listing (`tick_list`): its read, and the last pings' repair.
    pub(super) tick_read: Script,
    pub(super) record_pings: Script,
}

/// How many times one operation loads its script again when the server says it has none
/// (`invoke_async` reloads once per call; more covers a flush racing with the reload).
pub(super) const MAX_SCRIPT_RELOADS: usize = 3;

pub(super) fn lost_script(error: &redis::RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

impl Scripts {
    /// The scripts with their constants filled in, not loaded yet.
    pub(super) fn new() -> Self {
        let (tick_read, record_pings) = tick_list_scripts();
        Self {
            tick_read,
            record_pings,
            ping: Script::new(&ping_script()),
            set_status: Script::new(
                &SET_STATUS_SCRIPT
                    .replace("STATUS_TABLE", &status_set_index_table(2))
                    .replace(
                        "INDEX_LUA",
                        &index_lua(&(2 + RoomStatus::ALL.len()).to_string()),
                    ),
            ),
            insert: Script::new(&INSERT_SCRIPT.replace("INDEX_LUA", &index_lua("4"))),
            allocation: AllocationScripts::new(),
            set_address: Script::new(&SET_ADDRESS_SCRIPT.replace("CHANGES_LUA", CHANGES_LUA)),
            set_machine: Script::new(&SET_MACHINE_SCRIPT.replace("INDEX_LUA", &index_lua("1"))),
            set_status_reason: Script::new(
                &SET_STATUS_REASON_SCRIPT.replace("CHANGES_LUA", CHANGES_LUA),
            ),
            allowed_before: RoomStatus::ALL
                .into_iter()
                .map(|to| {
                    RoomStatus::allowed_before(to)
                        .iter()
                        .fold(",".to_string(), |list, s| format!("{list}{s},"))
                })
                .collect(),
        }
    }

    /// Loads every script into the server's script cache.
    pub(super) async fn load(
        &self,
        connection: &mut ConnectionManager,
    ) -> Result<(), redis::RedisError> {
        for script in [
            &self.ping,
            &self.set_status,
            &self.insert,
            &self.set_address,
            &self.set_machine,
            &self.set_status_reason,
            &self.allocation.allocate,
            &self.allocation.release,
            &self.allocation.sweep,
            &self.allocation.remove,
            &self.tick_read,
            &self.record_pings,
        ] {
            script.load_async(connection).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_follow_the_domain_order() {
        let table = status_set_index_table(2);
        assert!(table.starts_with("{ pending = 2, unready = 3,"));
        assert!(table.contains("terminated = 8"));
        assert!(status_set_index_table(1).starts_with("{ pending = 1,"));
    }

    #[test]
    fn the_ping_script_has_its_constants_filled_in() {
        let script = ping_script();
        for placeholder in [
            "STATUS_COUNT",
            "STATUS_TABLE",
            "PING_ARGS",
            "INDEX_LUA",
            "INDEX_KEYS",
            "IDX",
        ] {
            assert!(
                !script.contains(placeholder),
                "{placeholder} left in the script"
            );
        }
        assert!(script.contains("local SETS = 7"));
        assert!(script.contains("local b = (i - 1) * 7"));
    }
}
