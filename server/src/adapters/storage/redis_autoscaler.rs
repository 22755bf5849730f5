//! The autoscaler's memory in Redis, the production store: one key space per scheduler
//! (`PREFIX:{scheduler}:autoscaler:...`, in the room store's hash slot), so several Baton
//! instances share points and decisions and a restart loses nothing.
//!
//! - `...:points:TYPE`: a list of usage points, oldest first, trimmed to what triggers consider;
//! - `...:points`: the set of types with points;
//! - `...:state`: the autoscaler state, JSON;
//! - `...:decisions`: a list of decisions, newest first, JSON, trimmed to `DECISIONS_KEPT`.

use app::domain::autoscaling::{AutoscalerState, Decision, Points};
use app::ports::{AutoscalerStore, DECISIONS_KEPT, StoreError};
use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::redis_connection::{self, redis_error};

#[derive(Clone)]
pub struct RedisAutoscalerStore {
    connection: ConnectionManager,
    prefix: String,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("redis: unreadable autoscaler {what}: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding: {e}")))
}

impl RedisAutoscalerStore {
    /// Connects to `url`; every key starts with `key_prefix:` (`baton` in production).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let (_, connection) = redis_connection::connect(url).await?;
        Ok(Self {
            connection,
            prefix: key_prefix.to_string(),
        })
    }

    fn key(&self, scheduler: &str, what: &str) -> String {
        format!("{}:{{{scheduler}}}:autoscaler:{what}", self.prefix)
    }
}

#[async_trait]
impl AutoscalerStore for RedisAutoscalerStore {
    async fn record_points(
        &self,
        scheduler: &str,
        points: &[(String, f64)],
        keep: usize,
    ) -> Result<Points, StoreError> {
        let mut connection = self.connection.clone();
        let types_key = self.key(scheduler, "points");
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (kind, value) in points {
            let key = self.key(scheduler, &format!("points:{kind}"));
            pipe.sadd(&types_key, kind).ignore();
            pipe.rpush(&key, value.to_string()).ignore();
        }
        let _: () = pipe
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        let kinds: Vec<String> = connection.smembers(&types_key).await.map_err(redis_error)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for kind in &kinds {
            let key = self.key(scheduler, &format!("points:{kind}"));
            if keep == 0 {
                pipe.del(&key).ignore();
            } else {
                pipe.ltrim(&key, -(keep as isize), -1).ignore();
            }
            pipe.lrange(&key, 0, -1);
        }
        let series: Vec<Vec<String>> = pipe
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        let mut all = Points::new();
        for (kind, values) in kinds.into_iter().zip(series) {
            let values = values
                .iter()
                .map(|v| {
                    v.parse::<f64>().map_err(|e| {
                        StoreError::Backend(format!("redis: bad {kind} point {v:?}: {e}"))
                    })
                })
                .collect::<Result<Vec<f64>, _>>()?;
            if !values.is_empty() {
                all.insert(kind, values);
            }
        }
        Ok(all)
    }

    async fn state(&self, scheduler: &str) -> Result<Option<AutoscalerState>, StoreError> {
        let mut connection = self.connection.clone();
        let text: Option<String> = connection
            .get(self.key(scheduler, "state"))
            .await
            .map_err(redis_error)?;
        text.map(|t| decode("state", &t)).transpose()
    }

    async fn save(
        &self,
        scheduler: &str,
        state: &AutoscalerState,
        decision: Option<&Decision>,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.set(self.key(scheduler, "state"), encode(state)?)
            .ignore();
        if let Some(decision) = decision {
            let key = self.key(scheduler, "decisions");
            pipe.lpush(&key, encode(decision)?).ignore();
            pipe.ltrim(&key, 0, DECISIONS_KEPT as isize - 1).ignore();
        }
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    async fn decisions(&self, scheduler: &str, limit: usize) -> Result<Vec<Decision>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let texts: Vec<String> = connection
            .lrange(self.key(scheduler, "decisions"), 0, limit as isize - 1)
            .await
            .map_err(redis_error)?;
        texts.iter().map(|t| decode("decision", t)).collect()
    }

    async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let types_key = self.key(scheduler, "points");
        let kinds: Vec<String> = connection.smembers(&types_key).await.map_err(redis_error)?;
        let mut keys: Vec<String> = kinds
            .iter()
            .map(|kind| self.key(scheduler, &format!("points:{kind}")))
            .collect();
        keys.extend([
            types_key,
            self.key(scheduler, "state"),
            self.key(scheduler, "decisions"),
        ]);
        connection.del::<_, ()>(keys).await.map_err(redis_error)
    }
}
