//! The Lua scripts of the Redis room store: each change to a room is one of them, hence atomic.

use app::domain::room::RoomStatus;
use redis::aio::ConnectionManager;
use redis::{ErrorKind, Script, ServerErrorKind};

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
pub(super) const PING_ARGS: usize = 6;

/// A batch of pings to one scheduler's rooms.
/// KEYS: the scheduler's status sets (in `RoomStatus::ALL` order), then the room of each ping.
/// ARGV, `PING_ARGS` per ping: id, reported status, now, metadata JSON or '', running matches or
/// '', then the statuses the room may be in for the ping to be accepted, each between commas
/// (`,pending,ready,`, from `RoomStatus::allowed_before`).
/// Returns, per ping, the status the room was in (applied), `!` and that status (refused,
/// nothing changed) or '' (no such room). Nothing is read back: the caller needs no more.
/// A plain heartbeat (same status, nothing else) is one `HGET` and one single-field `HSET`.
const PING_SCRIPT: &str = r#"
local SETS = STATUS_COUNT
local SET = STATUS_TABLE
local out = {}
for i = 1, #KEYS - SETS do
  local room = KEYS[SETS + i]
  local b = (i - 1) * PING_ARGS
  local current = redis.call('HGET', room, 'status')
  if not current then
    out[i] = ''
  elseif not string.find(ARGV[b + 6], ',' .. current .. ',', 1, true) then
    out[i] = '!' .. current
  else
    local id, to, now, metadata, matches = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
    if current == to and metadata == '' and matches == '' then
      redis.call('HSET', room, 'last_ping_at', now)
    else
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
    end
    out[i] = current
  end
end
return out
"#;

/// The ping script with its constants filled in.
fn ping_script() -> String {
    PING_SCRIPT
        .replace("STATUS_COUNT", &RoomStatus::ALL.len().to_string())
        .replace("STATUS_TABLE", &status_set_index_table(1))
        .replace("PING_ARGS", &PING_ARGS.to_string())
}

/// KEYS: the room, then the status sets. ARGV: id, status, now. Returns 0 for an unknown room.
const SET_STATUS_SCRIPT: &str = r#"
local SET = STATUS_TABLE
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local to = ARGV[2]
if current ~= to then
  redis.call('HSET', KEYS[1], 'status', to, 'status_changed_at', ARGV[3])
  if SET[current] then redis.call('SREM', KEYS[SET[current]], ARGV[1]) end
  redis.call('SADD', KEYS[SET[to]], ARGV[1])
end
return 1
"#;

/// KEYS: the room, the scheduler's id set, the room's status set.
/// ARGV: id, then the room's fields and values. Returns 0 when the id is taken.
const INSERT_SCRIPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"#;

/// KEYS: the room. ARGV: the address JSON. Returns 0 for an unknown room.
const SET_ADDRESS_SCRIPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'address', ARGV[1])
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
        Self {
            ping: Script::new(&ping_script()),
            set_status: Script::new(
                &SET_STATUS_SCRIPT.replace("STATUS_TABLE", &status_set_index_table(2)),
            ),
            insert: Script::new(INSERT_SCRIPT),
            set_address: Script::new(SET_ADDRESS_SCRIPT),
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
        for placeholder in ["STATUS_COUNT", "STATUS_TABLE", "PING_ARGS"] {
            assert!(
                !script.contains(placeholder),
                "{placeholder} left in the script"
            );
        }
        assert!(script.contains("local SETS = 7"));
        assert!(script.contains("local b = (i - 1) * 6"));
    }
}
