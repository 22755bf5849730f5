//! Machine-scaling decisions in Redis, the production store: `PREFIX:{scheduler}:machines:decisions`
//! (in the room store's hash slot), a list of JSON records, newest first, trimmed to
//! `DECISIONS_KEPT`; every replica sees the same decisions.

use app::domain::capacity::MachineDecisionRecord;
use app::ports::{DECISIONS_KEPT, MachineDecisionStore, StoreError};
use async_trait::async_trait;
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

    async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .del::<_, ()>(self.key(scheduler))
            .await
            .map_err(redis_error)
    }
}
