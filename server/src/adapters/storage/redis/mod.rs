//! Redis room store: the production adapter of the `RoomStore` port.
//!
//! Key space, per scheduler (`P` is the key prefix, `baton` in production; the scheduler name is
//! a hash tag so that one scheduler's keys share a Redis Cluster slot):
//!
//! - `P:{S}:room:ID`: a hash, one field per `GameRoom` field (timestamps in RFC 3339, metadata
//!   and address as JSON);
//! - `P:{S}:rooms`: the set of the scheduler's room ids;
//! - `P:{S}:status:STATUS`: the set of the ids of the rooms in that status, so that `counts` is
//!   one pipelined `SCARD` per status;
//! - `P:{S}:history:TIER`: the room count history, a sorted set per tier (see `history`);
//! - `P:{S}:allocations:TIER:START`: the allocation outcomes counted in one bucket of a tier,
//!   a hash (see `outcomes`);
//! - `P:{S}:regions`: the last health of the scheduler's regions, as JSON;
//! - `P:{S}:changes`: a counter every change to one of the scheduler's rooms moves, but a
//!   heartbeat (a ping that only moves `last_ping_at`); deleted with the last room;
//! - `P:{S}:pings`: a sorted set of the ids of the rooms that pinged, by their last ping
//!   (microseconds since the epoch).
//!
//! The health controller reads its rooms every tick through `list_for_tick` (see `tick_list`):
//! one script reads the change counter and the rooms silent for too long; the rooms themselves
//! are read again only when the counter moved (any process sharing the Redis), else the
//! listing read last is reused, with its rooms' last pings brought up to date by what the
//! script answered.
//!
//! Every change to one room is a Lua script or a `MULTI` block, hence atomic. Pings are batched
//! (group commit): while a batch is in flight, the pings that arrive wait for the next one, which
//! carries them all, one scheduler's rooms per `EVALSHA`. For each ping the script checks the
//! transition against `RoomStatus::allowed_before` (passed by Rust, so the rule stays in the
//! domain), applies it with one `HSET` (and one `SMOVE` when the status changes) and answers only
//! the status the room was in; nothing is read back. A ping alone goes at once; under load, one
//! Lua call and one round trip serve many rooms.

mod allocation;
mod codec;
mod history;
mod outcomes;
mod ping_batch;
mod room_store;
mod scripts;
mod tick_list;

use std::sync::Arc;

use app::domain::room::RoomStatus;
use app::ports::StoreError;
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, ScriptInvocation};
use tokio::sync::mpsc;

use self::history::LatestSamples;
use self::ping_batch::{PING_QUEUE, QueuedPing, batch_pings};
use self::scripts::{MAX_SCRIPT_RELOADS, Scripts, lost_script};
use self::tick_list::Listings;
use crate::adapters::storage::redis_connection::{self, redis_error};

/// Game rooms in Redis; cheap to clone (one multiplexed connection, re-established on failure).
#[derive(Clone)]
pub struct RedisRoomStore {
    connection: ConnectionManager,
    prefix: String,
    scripts: Arc<Scripts>,
    /// Pings waiting for their batch (see `batch_pings`).
    pings: mpsc::Sender<QueuedPing>,
    /// What `list_for_tick` answered last, per scheduler (see `tick_list`).
    listings: Listings,
    /// The latest room count samples recorded, per scheduler (see `history`).
    latest_samples: LatestSamples,
}

impl RedisRoomStore {
    /// Connects to `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, `rediss://` is not enabled) and
    /// loads the scripts; every key starts with `key_prefix:` (`baton` in production).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let (_, mut connection) = redis_connection::connect(url).await?;
        let scripts = Scripts::new();
        // Loaded once here; operations send EVALSHA and load a script again only when the
        // server lost it (restart, failover, SCRIPT FLUSH).
        scripts.load(&mut connection).await.map_err(redis_error)?;
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
            listings: Listings::default(),
            latest_samples: LatestSamples::default(),
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
                result => return result.map_err(redis_error),
            }
        }
    }

    fn scheduler_key(&self, scheduler: &str) -> String {
        format!("{}:{{{scheduler}}}", self.prefix)
    }

    fn room_key(&self, scheduler: &str, id: &str) -> String {
        format!("{}:room:{id}", self.scheduler_key(scheduler))
    }

    fn region_health_key(&self, scheduler: &str) -> String {
        format!("{}:regions", self.scheduler_key(scheduler))
    }

    fn rooms_key(&self, scheduler: &str) -> String {
        format!("{}:rooms", self.scheduler_key(scheduler))
    }

    /// The scheduler's change counter (see `scripts::CHANGES_LUA`).
    fn changes_key(&self, scheduler: &str) -> String {
        format!("{}:changes", self.scheduler_key(scheduler))
    }

    /// The scheduler's last pings: a sorted set of room ids by last ping, in microseconds.
    fn pings_key(&self, scheduler: &str) -> String {
        format!("{}:pings", self.scheduler_key(scheduler))
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
}
