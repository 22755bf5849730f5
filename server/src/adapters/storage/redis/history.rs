//! Room count history on Redis: one sorted set per scheduler and tier,
//! `P:{S}:history:TIER`, members the samples as JSON, scored by their time in microseconds.
//!
//! Recording reads the latest sample of each tier, lets the domain decide which tiers take the
//! new one (`history::tiers_taking`), then adds it and drops what the tiers no longer keep in
//! one `MULTI` block. Read and write are two steps: only the scheduler's controller (the lease
//! holder) records, so they do not race. Each key also expires when its tier would have dropped
//! everything, so a scheduler deleted while its history was being recorded leaves nothing behind
//! for long.

use app::domain::history::{Latest, RoomCountSample, Tier, tiers_taking};
use app::domain::room::RoomCounts;
use app::ports::StoreError;
use chrono::{DateTime, Utc};

use super::RedisRoomStore;
use super::codec::to_json;
use crate::adapters::storage::redis_connection::redis_error;

/// A sorted set score: microseconds since the epoch (exact in an `f64` for centuries).
fn score(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn decode(scheduler: &str, member: &str) -> Result<RoomCountSample, StoreError> {
    serde_json::from_str(member).map_err(|e| {
        StoreError::Backend(format!(
            "redis: a room count sample of scheduler {scheduler} is unreadable: {e}"
        ))
    })
}

impl RedisRoomStore {
    fn history_key(&self, scheduler: &str, tier: Tier) -> String {
        format!(
            "{}:history:{}",
            self.scheduler_key(scheduler),
            tier.as_str()
        )
    }

    async fn latest_counts(&self, scheduler: &str) -> Result<Latest, StoreError> {
        let mut pipe = redis::pipe();
        for tier in Tier::ALL {
            pipe.cmd("ZRANGE")
                .arg(self.history_key(scheduler, tier))
                .arg(-1)
                .arg(-1);
        }
        let (fine, coarse): (Vec<String>, Vec<String>) = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        let last = |members: Vec<String>| match members.last() {
            Some(member) => decode(scheduler, member).map(Some),
            None => Ok(None),
        };
        Ok(Latest {
            fine: last(fine)?,
            coarse: last(coarse)?,
        })
    }

    pub(super) async fn record_history(
        &self,
        scheduler: &str,
        counts: RoomCounts,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sample = RoomCountSample { at, counts };
        let taking = tiers_taking(&self.latest_counts(scheduler).await?, &sample);
        let member = to_json(&sample)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for tier in Tier::ALL {
            let key = self.history_key(scheduler, tier);
            if taking.contains(&tier) {
                pipe.cmd("ZADD")
                    .arg(&key)
                    .arg(score(at))
                    .arg(&member)
                    .ignore();
                pipe.cmd("PEXPIRE")
                    .arg(&key)
                    .arg(tier.keep().num_milliseconds())
                    .ignore();
            }
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(format!("({}", score(tier.kept_since(at))))
                .ignore();
        }
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(redis_error)
    }

    pub(super) async fn history_since(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
    ) -> Result<Vec<RoomCountSample>, StoreError> {
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.history_key(scheduler, tier))
            .arg(score(since))
            .arg("+inf")
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        let mut samples = Vec::with_capacity(members.len());
        for member in members {
            let sample = decode(scheduler, &member)?;
            // Scores are microseconds; the sample keeps nanoseconds.
            if sample.at >= since {
                samples.push(sample);
            }
        }
        Ok(samples)
    }

    pub(super) async fn forget_history(&self, scheduler: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        for tier in Tier::ALL {
            command.arg(self.history_key(scheduler, tier));
        }
        command
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(redis_error)
    }
}
