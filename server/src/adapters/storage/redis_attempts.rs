//! Password-check counts in Redis, shared by every Baton process on the same Redis: one counter
//! per client address and per user (`PREFIX:{attempts}:client:ADDR`, `...:user:SHA256(NAME)`),
//! each expiring with its window. One script counts both atomically, so parallel checks on any
//! replica see each other.

use std::time::Duration;

use app::ports::{AttemptCounter, AttemptCounts, StoreError};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use super::redis_connection::{self, redis_error};

/// KEYS: client, user. ARGV: window in ms. Answers the two counts and the client's ms left.
const COUNT: &str = r"
local client = redis.call('INCR', KEYS[1])
if client == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local user = redis.call('INCR', KEYS[2])
if user == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return {client, user, redis.call('PTTL', KEYS[1])}
";

/// KEYS: client, user. The check succeeded: uncount it for the client, forget the user's.
const SUCCEEDED: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1
";

#[derive(Clone)]
pub struct RedisAttemptCounter {
    connection: ConnectionManager,
    prefix: String,
    count: redis::Script,
    succeeded: redis::Script,
}

impl RedisAttemptCounter {
    /// Connects to `url`; every key starts with `key_prefix:` (`baton` in production).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let (_, connection) = redis_connection::connect(url).await?;
        Ok(Self {
            connection,
            prefix: key_prefix.to_string(),
            count: redis::Script::new(COUNT),
            succeeded: redis::Script::new(SUCCEEDED),
        })
    }

    /// The two keys; a username is hashed, so that any name makes a short key.
    fn keys(&self, client: &str, user: &str) -> [String; 2] {
        let user: String = Sha256::digest(user.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        [
            format!("{}:{{attempts}}:client:{client}", self.prefix),
            format!("{}:{{attempts}}:user:{user}", self.prefix),
        ]
    }
}

#[async_trait]
impl AttemptCounter for RedisAttemptCounter {
    async fn count(
        &self,
        client: &str,
        user: &str,
        window: Duration,
    ) -> Result<AttemptCounts, StoreError> {
        let [client_key, user_key] = self.keys(client, user);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (client, user, left): (u64, u64, i64) = self
            .count
            .key(client_key)
            .key(user_key)
            .arg(window_ms)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        Ok(AttemptCounts {
            client,
            user,
            client_window_left: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
        })
    }

    async fn succeeded(&self, client: &str, user: &str) -> Result<(), StoreError> {
        let [client_key, user_key] = self.keys(client, user);
        let _: i64 = self
            .succeeded
            .key(client_key)
            .key(user_key)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}
