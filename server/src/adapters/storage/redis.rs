//! Redis room store: the production adapter of the `RoomStore` port.
//!
//! Key space, per scheduler (`P` is the key prefix, `baton` in production; the scheduler name is
//! a hash tag so that one scheduler's keys share a Redis Cluster slot):
//!
//! - `P:{S}:room:ID`: a hash, one field per `GameRoom` field (timestamps in RFC 3339, metadata
//!   and address as JSON);
//! - `P:{S}:rooms`: the set of the scheduler's room ids;
//! - `P:{S}:status:STATUS`: the set of the ids of the rooms in that status, so that `counts` is
//!   one pipelined `SCARD` per status.
//!
//! Every change to one room is a Lua script or a `MULTI` block, hence atomic. Pings are batched
//! (group commit): while a batch is in flight, the pings that arrive wait for the next one, which
//! carries them all, one scheduler's rooms per `EVALSHA`. For each ping the script checks the
//! transition against `RoomStatus::allowed_before` (passed by Rust, so the rule stays in the
//! domain), applies it with one `HSET` (and one `SMOVE` when the status changes) and answers only
//! the status the room was in; nothing is read back. A ping alone goes at once; under load, one
//! Lua call and one round trip serve many rooms.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use app::domain::room::{GameRoom, Ping, PingError, RoomAddress, RoomCounts, RoomStatus};
use app::ports::{RoomStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    Client, ErrorKind, FromRedisValue, RedisWrite, Script, ScriptInvocation, ServerErrorKind,
    ToRedisArgs,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::config::mask_password;

/// Hash fields of a room.
mod field {
    pub const ID: &str = "id";
    pub const SCHEDULER: &str = "scheduler";
    pub const VERSION: &str = "version";
    pub const STATUS: &str = "status";
    pub const CREATED_AT: &str = "created_at";
    pub const STATUS_CHANGED_AT: &str = "status_changed_at";
    pub const LAST_PING_AT: &str = "last_ping_at";
    pub const RUNNING_MATCHES: &str = "running_matches";
    pub const METADATA: &str = "metadata";
    pub const ADDRESS: &str = "address";
}

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
const PING_ARGS: usize = 6;

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

/// Pings of one batch at most (one scheduler's share runs as one script call).
const MAX_PING_BATCH: usize = 256;
/// Batches in flight at once: while they run, the pings that arrive gather into the next ones.
const PING_BATCHES_IN_FLIGHT: usize = 4;
/// Pings waiting for a batch at most; beyond, callers wait to queue theirs.
const PING_QUEUE: usize = 8192;

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

/// Operations on a connection that does not answer within this time fail (and are retried by
/// the caller, e.g. the room's next heartbeat).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts before an operation fails (exponential backoff from 100 ms).
const CONNECTION_RETRIES: usize = 3;

/// Game rooms in Redis; cheap to clone (one multiplexed connection, re-established on failure).
#[derive(Clone)]
pub struct RedisRoomStore {
    connection: ConnectionManager,
    prefix: String,
    scripts: Arc<Scripts>,
    /// Pings waiting for their batch (see `batch_pings`).
    pings: mpsc::Sender<QueuedPing>,
}

/// A ping waiting for its batch, with where its answer goes: the script's reply for it.
struct QueuedPing {
    scheduler: String,
    id: String,
    to: RoomStatus,
    now: String,
    metadata: String,
    running_matches: String,
    reply: oneshot::Sender<Result<String, StoreError>>,
}

struct Scripts {
    ping: Script,
    /// For each status in `RoomStatus::ALL` order, the statuses a room may be in to report
    /// it, as the ping script reads them (`,a,b,`).
    allowed_before: Vec<String>,
    set_status: Script,
    insert: Script,
    set_address: Script,
}

/// How many times one operation loads its script again when the server says it has none
/// (`invoke_async` reloads once per call; more covers a flush racing with the reload).
const MAX_SCRIPT_RELOADS: usize = 3;

fn lost_script(error: &redis::RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

fn backend(error: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("redis: {error}"))
}

fn room_not_found(scheduler: &str, id: &str) -> StoreError {
    StoreError::NotFound(format!("room {id} of scheduler {scheduler}"))
}

fn corrupt(scheduler: &str, id: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "redis: room {id} of scheduler {scheduler} is unreadable: {what}"
    ))
}

/// The position of `status` in `RoomStatus::ALL`.
fn status_index(status: RoomStatus) -> usize {
    RoomStatus::ALL
        .iter()
        .position(|s| *s == status)
        .expect("RoomStatus::ALL holds every status")
}

/// A key of one scheduler, `P:{S}:KIND:NAME`, formatted straight into a command's buffer
/// (the same keys as `RedisRoomStore::room_key` and `status_key`, without a `String` each).
struct Key<'a> {
    prefix: &'a str,
    scheduler: &'a str,
    kind: &'static str,
    name: &'a str,
}

impl<'a> Key<'a> {
    fn room(prefix: &'a str, scheduler: &'a str, id: &'a str) -> Self {
        Self {
            prefix,
            scheduler,
            kind: "room",
            name: id,
        }
    }

    fn status(prefix: &'a str, scheduler: &'a str, status: RoomStatus) -> Self {
        Self {
            prefix,
            scheduler,
            kind: "status",
            name: status.as_str(),
        }
    }
}

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        // Piece by piece: cheaper than the formatting machinery on the hot path.
        let mut arg = out.writer_for_next_arg();
        for piece in [
            self.prefix,
            ":{",
            self.scheduler,
            "}:",
            self.kind,
            ":",
            self.name,
        ] {
            arg.write_all(piece.as_bytes())
                .expect("writing to a command buffer cannot fail");
        }
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding: {e}")))
}

impl RedisRoomStore {
    /// Connects to `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, `rediss://` is not enabled) and
    /// loads the scripts; every key starts with `key_prefix:` (`baton` in production).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let unreachable = |e: redis::RedisError| {
            StoreError::Backend(format!("redis at {}: {e}", mask_password(url)))
        };
        let client = Client::open(url).map_err(unreachable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_number_of_retries(CONNECTION_RETRIES);
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        let scripts = Scripts {
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
        };
        // Loaded once here; operations send EVALSHA and load a script again only when the
        // server lost it (restart, failover, SCRIPT FLUSH).
        for script in [
            &scripts.ping,
            &scripts.set_status,
            &scripts.insert,
            &scripts.set_address,
        ] {
            script
                .load_async(&mut connection)
                .await
                .map_err(unreachable)?;
        }
        let scripts = Arc::new(scripts);
        let prefix = key_prefix.to_string();
        let (pings, queue) = mpsc::channel(PING_QUEUE);
        tokio::spawn(batch_pings(
            queue,
            connection.clone(),
            prefix.clone(),
            scripts.clone(),
        ));
        Ok(Self {
            connection,
            prefix,
            scripts,
            pings,
        })
    }

    /// The key prefix every key of this store starts with (followed by `:`).
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs a script (EVALSHA, loading it again if the server lost it).
    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let mut reloads = 0;
        loop {
            match invocation.invoke_async(&mut connection).await {
                Err(e) if reloads < MAX_SCRIPT_RELOADS && lost_script(&e) => reloads += 1,
                result => return result.map_err(backend),
            }
        }
    }

    fn scheduler_key(&self, scheduler: &str) -> String {
        format!("{}:{{{scheduler}}}", self.prefix)
    }

    fn room_key(&self, scheduler: &str, id: &str) -> String {
        format!("{}:room:{id}", self.scheduler_key(scheduler))
    }

    fn rooms_key(&self, scheduler: &str) -> String {
        format!("{}:rooms", self.scheduler_key(scheduler))
    }

    fn status_key(&self, scheduler: &str, status: RoomStatus) -> String {
        format!("{}:status:{status}", self.scheduler_key(scheduler))
    }

    /// The status set keys in `RoomStatus::ALL` order (`KEYS[2..]` of the status scripts).
    fn status_keys(&self, scheduler: &str) -> impl Iterator<Item = String> + '_ {
        let base = self.scheduler_key(scheduler);
        RoomStatus::ALL
            .into_iter()
            .map(move |s| format!("{base}:status:{s}"))
    }

    fn decode(
        scheduler: &str,
        id: &str,
        mut fields: HashMap<String, String>,
    ) -> Result<GameRoom, StoreError> {
        let mut take = |name: &str| fields.remove(name);
        let required = |value: Option<String>, name: &str| {
            value.ok_or_else(|| corrupt(scheduler, id, format!("no {name}")))
        };
        let time = |text: &str, name: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(scheduler, id, format!("{name}: {e}")))
        };
        let status_text = required(take(field::STATUS), field::STATUS)?;
        let status = RoomStatus::parse(&status_text)
            .ok_or_else(|| corrupt(scheduler, id, format!("status {status_text}")))?;
        let created_at = time(
            &required(take(field::CREATED_AT), field::CREATED_AT)?,
            field::CREATED_AT,
        )?;
        let status_changed_at = time(
            &required(take(field::STATUS_CHANGED_AT), field::STATUS_CHANGED_AT)?,
            field::STATUS_CHANGED_AT,
        )?;
        let last_ping_at = take(field::LAST_PING_AT)
            .map(|t| time(&t, field::LAST_PING_AT))
            .transpose()?;
        let running_matches = take(field::RUNNING_MATCHES)
            .map(|n| {
                n.parse()
                    .map_err(|e| corrupt(scheduler, id, format!("running_matches: {e}")))
            })
            .transpose()?
            .unwrap_or(0);
        let metadata = take(field::METADATA)
            .map(|m| {
                serde_json::from_str(&m)
                    .map_err(|e| corrupt(scheduler, id, format!("metadata: {e}")))
            })
            .transpose()?
            .unwrap_or_default();
        let address = take(field::ADDRESS)
            .map(|a| {
                serde_json::from_str(&a)
                    .map_err(|e| corrupt(scheduler, id, format!("address: {e}")))
            })
            .transpose()?;
        Ok(GameRoom {
            id: take(field::ID).unwrap_or_else(|| id.to_string()),
            scheduler: take(field::SCHEDULER).unwrap_or_else(|| scheduler.to_string()),
            version: required(take(field::VERSION), field::VERSION)?,
            status,
            created_at,
            status_changed_at,
            last_ping_at,
            running_matches,
            metadata,
            address,
        })
    }
}

/// Gathers queued pings into batches: at most `PING_BATCHES_IN_FLIGHT` run at once, and each
/// takes every ping queued when it starts (up to `MAX_PING_BATCH`), so a lone ping goes at once
/// and under load one script call serves many rooms. Ends when every store handle is gone.
async fn batch_pings(
    mut queue: mpsc::Receiver<QueuedPing>,
    connection: ConnectionManager,
    prefix: String,
    scripts: Arc<Scripts>,
) {
    let in_flight = Arc::new(Semaphore::new(PING_BATCHES_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_PING_BATCH);
        if queue.recv_many(&mut batch, MAX_PING_BATCH).await == 0 {
            return;
        }
        // One script call per scheduler: its keys share one Redis Cluster hash slot.
        batch.sort_by(|a, b| a.scheduler.cmp(&b.scheduler));
        let mut groups: Vec<Vec<QueuedPing>> = Vec::new();
        for ping in batch {
            match groups.last_mut() {
                Some(group) if group[0].scheduler == ping.scheduler => group.push(ping),
                _ => groups.push(vec![ping]),
            }
        }
        let (connection, prefix, scripts) = (connection.clone(), prefix.clone(), scripts.clone());
        tokio::spawn(async move {
            futures::future::join_all(
                groups
                    .into_iter()
                    .map(|group| run_ping_batch(connection.clone(), &prefix, &scripts, group)),
            )
            .await;
            drop(permit);
        });
    }
}

/// One `EVALSHA` for pings to one scheduler's rooms; answers each ping.
async fn run_ping_batch(
    mut connection: ConnectionManager,
    prefix: &str,
    scripts: &Scripts,
    group: Vec<QueuedPing>,
) {
    let scheduler = group[0].scheduler.as_str();
    let mut script = redis::Cmd::with_capacity(
        3 + RoomStatus::ALL.len() + group.len() * (1 + PING_ARGS),
        256 + (prefix.len() + scheduler.len()) * 8 + group.len() * 160,
    );
    script
        .arg("EVALSHA")
        .arg(scripts.ping.get_hash())
        .arg(RoomStatus::ALL.len() + group.len());
    for status in RoomStatus::ALL {
        script.arg(Key::status(prefix, scheduler, status));
    }
    for ping in &group {
        script.arg(Key::room(prefix, scheduler, &ping.id));
    }
    for ping in &group {
        script
            .arg(&ping.id)
            .arg(ping.to.as_str())
            .arg(&ping.now)
            .arg(&ping.metadata)
            .arg(&ping.running_matches)
            .arg(scripts.allowed_before[status_index(ping.to)].as_str());
    }
    let mut reloads = 0;
    let replies: Result<Vec<String>, StoreError> = loop {
        match script.query_async(&mut connection).await {
            // The server lost its scripts (restart, failover, SCRIPT FLUSH): load it again.
            Err(e) if reloads < MAX_SCRIPT_RELOADS && lost_script(&e) => {
                if let Err(e) = scripts.ping.load_async(&mut connection).await {
                    break Err(backend(e));
                }
                reloads += 1;
            }
            reply => break reply.map_err(backend),
        }
    };
    match replies {
        Ok(replies) if replies.len() == group.len() => {
            for (ping, reply) in group.into_iter().zip(replies) {
                // A caller that gave up (its request ended) no longer waits for the answer.
                let _ = ping.reply.send(Ok(reply));
            }
        }
        outcome => {
            let error = match outcome {
                Ok(replies) => StoreError::Backend(format!(
                    "redis: a ping batch of {} got {} answers",
                    group.len(),
                    replies.len()
                )),
                Err(error) => error,
            };
            for ping in group {
                let _ = ping.reply.send(Err(error.clone()));
            }
        }
    }
}

#[async_trait]
impl RoomStore for RedisRoomStore {
    async fn insert(&self, room: &GameRoom) -> Result<(), StoreError> {
        let mut invocation = self.scripts.insert.prepare_invoke();
        invocation
            .key(self.room_key(&room.scheduler, &room.id))
            .key(self.rooms_key(&room.scheduler))
            .key(self.status_key(&room.scheduler, room.status))
            .arg(&room.id)
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
            .arg(to_json(&room.metadata)?);
        if let Some(t) = room.last_ping_at {
            invocation.arg(field::LAST_PING_AT).arg(timestamp(t));
        }
        if let Some(address) = &room.address {
            invocation.arg(field::ADDRESS).arg(to_json(address)?);
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
            .map_err(backend)?;
        if fields.is_empty() {
            return Err(room_not_found(scheduler, id));
        }
        Self::decode(scheduler, id, fields)
    }

    async fn list(&self, scheduler: &str) -> Result<Vec<GameRoom>, StoreError> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.rooms_key(scheduler))
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.room_key(scheduler, id));
        }
        let all: Vec<HashMap<String, String>> =
            pipe.query_async(&mut connection).await.map_err(backend)?;
        let mut rooms = Vec::with_capacity(ids.len());
        for (id, fields) in ids.iter().zip(all) {
            // Removed between the two round trips.
            if fields.is_empty() {
                continue;
            }
            rooms.push(Self::decode(scheduler, id, fields)?);
        }
        rooms.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(rooms)
    }

    async fn ping(
        &self,
        scheduler: &str,
        id: &str,
        ping: &Ping,
        now: DateTime<Utc>,
    ) -> Result<Result<RoomStatus, PingError>, StoreError> {
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
        let (refused, current) = match reply.strip_prefix('!') {
            Some(current) => (true, current),
            None => (false, reply.as_str()),
        };
        let from = RoomStatus::parse(current)
            .ok_or_else(|| corrupt(scheduler, id, format!("status {current}")))?;
        Ok(if refused {
            Err(PingError::Transition {
                from,
                to: ping.status,
            })
        } else {
            Ok(from)
        })
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
            .arg(to_json(address)?);
        let found: i64 = self.invoke(&invocation).await?;
        if found == 0 {
            return Err(room_not_found(scheduler, id));
        }
        Ok(())
    }

    async fn remove(&self, scheduler: &str, id: &str) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(self.room_key(scheduler, id))
            .ignore()
            .cmd("SREM")
            .arg(self.rooms_key(scheduler))
            .arg(id)
            .ignore();
        // From every status set: cheap, and it leaves nothing behind whatever the room's status.
        for key in self.status_keys(scheduler) {
            pipe.cmd("SREM").arg(key).arg(id).ignore();
        }
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn counts(&self, scheduler: &str) -> Result<RoomCounts, StoreError> {
        let mut pipe = redis::pipe();
        for key in self.status_keys(scheduler) {
            pipe.cmd("SCARD").arg(key);
        }
        let sizes: Vec<u64> = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        let mut counts = RoomCounts::default();
        for (status, n) in RoomStatus::ALL.into_iter().zip(sizes) {
            counts.add_many(status, n);
        }
        Ok(counts)
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
    fn ping_keys_are_the_store_keys() {
        let (prefix, scheduler, id) = ("baton", "s-1", "room-7");
        let mut cmd = redis::Cmd::new();
        cmd.arg(Key::room(prefix, scheduler, id)).arg(Key::status(
            prefix,
            scheduler,
            RoomStatus::Ready,
        ));
        let args: Vec<&[u8]> = cmd
            .args_iter()
            .filter_map(|a| match a {
                redis::Arg::Simple(bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        assert_eq!(
            args,
            [
                "baton:{s-1}:room:room-7".as_bytes(),
                "baton:{s-1}:status:ready".as_bytes()
            ]
        );
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

    #[test]
    fn timestamps_round_trip_exactly() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let text = timestamp(t);
        assert_eq!(
            DateTime::parse_from_rfc3339(&text)
                .unwrap()
                .with_timezone(&Utc),
            t
        );
    }
}
