//! Machine-scaling decisions in Redis, the production store: `PREFIX:{scheduler}:machines:decisions`
//! (in the room store's hash slot), a list of JSON records, newest first, trimmed to
//! `DECISIONS_KEPT`; every replica sees the same decisions. The free-capacity samples are a
//! sorted set beside it, `PREFIX:{scheduler}:machines:capacity`, scored by their time in
//! milliseconds, trimmed to the last day and `SAMPLES_KEPT` members.

use app::domain::capacity::{
    CapacitySample, MachineDecisionRecord, SAMPLES_KEPT, samples_kept_since,
};
use app::ports::{DECISIONS_KEPT, MachineDecisionStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::redis_connection::{self, redis_error};

#[derive(Clone)]
pub struct RedisMachineDecisionStore {
    connection: ConnectionManager,
    prefix: String,
}

impl RedisMachineDecisionStore {
    /// Connects to `url`; every key starts with `key_prefix:` (`baton` in production).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let (_, connection) = redis_connection::connect(url).await?;
        Ok(Self {
            connection,
            prefix: key_prefix.to_string(),
        })
    }

    fn key(&self, scheduler: &str) -> String {
        format!("{}:{{{scheduler}}}:machines:decisions", self.prefix)
    }

    fn samples_key(&self, scheduler: &str) -> String {
        format!("{}:{{{scheduler}}}:machines:capacity", self.prefix)
    }
}

#[async_trait]
impl MachineDecisionStore for RedisMachineDecisionStore {
    async fn record(&self, record: &MachineDecisionRecord) -> Result<(), StoreError> {
        let text = serde_json::to_string(record)
            .map_err(|e| StoreError::Backend(format!("encoding: {e}")))?;
        let key = self.key(&record.scheduler);
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.lpush(&key, text).ignore();
        pipe.ltrim(&key, 0, DECISIONS_KEPT as isize - 1).ignore();
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    async fn decisions(
        &self,
        scheduler: &str,
        limit: usize,
    ) -> Result<Vec<MachineDecisionRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let texts: Vec<String> = connection
            .lrange(self.key(scheduler), 0, limit as isize - 1)
            .await
            .map_err(redis_error)?;
        texts
            .iter()
            .map(|t| {
                serde_json::from_str(t).map_err(|e| {
                    StoreError::Backend(format!("redis: unreadable machine decision: {e}"))
                })
            })
            .collect()
    }

    async fn record_sample(
        &self,
        scheduler: &str,
        sample: &CapacitySample,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(sample)
            .map_err(|e| StoreError::Backend(format!("encoding: {e}")))?;
        let key = self.samples_key(scheduler);
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.zadd(&key, text, sample.at.timestamp_millis()).ignore();
        pipe.zrembyscore(
            &key,
            "-inf",
            format!("({}", samples_kept_since(sample.at).timestamp_millis()),
        )
        .ignore();
        // Ranks count from the oldest: keep the newest SAMPLES_KEPT.
        pipe.zremrangebyrank(&key, 0, -(SAMPLES_KEPT as isize) - 1)
            .ignore();
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    async fn samples(
        &self,
        scheduler: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<CapacitySample>, StoreError> {
        let mut connection = self.connection.clone();
        let texts: Vec<String> = connection
            .zrangebyscore(
                self.samples_key(scheduler),
                since.timestamp_millis(),
                "+inf",
            )
            .await
            .map_err(redis_error)?;
        texts
            .iter()
            .map(|t| {
                serde_json::from_str(t).map_err(|e| {
                    StoreError::Backend(format!("redis: unreadable capacity sample: {e}"))
                })
            })
            .collect()
    }

    async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .del::<_, ()>(&[self.key(scheduler), self.samples_key(scheduler)])
            .await
            .map_err(redis_error)
    }
}
