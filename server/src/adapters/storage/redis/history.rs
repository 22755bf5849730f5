//! Room count history on Redis: one sorted set per scheduler and tier,
//! `P:{S}:history:TIER`, members the samples as JSON, scored by their time in microseconds.
//!
//! Recording lets the domain decide which tiers take the new sample (`history::tiers_taking`)
//! from the latest sample of each, then adds it and drops what those tiers no longer keep in one
//! `MULTI` block. Only the scheduler's controller (the lease holder) records, so this store
//! remembers the latest samples it wrote (`LatestSamples`) and reads them from Redis only when
//! it has none: a tick whose counts did not change within a tier's step writes and reads
//! nothing. Should the lease move away and back, the samples remembered are older than Redis's:
//! a tier then takes a sample early, or a change of counts back to what was remembered shows at
//! the tier's next step (at most 5 s late for the fine tier). Each key also expires when its
//! tier would have dropped everything, so a scheduler deleted while its history was being
//! recorded leaves nothing behind for long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// The latest sample of each tier this store recorded or read, per scheduler.
#[derive(Clone, Default)]
pub(super) struct LatestSamples(Arc<Mutex<HashMap<String, Latest>>>);

impl LatestSamples {
    fn get(&self, scheduler: &str) -> Option<Latest> {
        let known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(scheduler).copied()
    }

    fn set(&self, scheduler: &str, latest: Option<Latest>) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match latest {
            Some(latest) => known.insert(scheduler.to_string(), latest),
            None => known.remove(scheduler),
        };
    }
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
        let mut latest = match self.latest_samples.get(scheduler) {
            Some(known) => known,
            None => self.latest_counts(scheduler).await?,
        };
        let taking = tiers_taking(&latest, &sample);
        if taking.is_empty() {
            self.latest_samples.set(scheduler, Some(latest));
            return Ok(());
        }
        let member = to_json(&sample)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        // A tier drops what it no longer keeps when it takes a sample (at least every step).
        for &tier in &taking {
            let key = self.history_key(scheduler, tier);
            pipe.cmd("ZADD")
                .arg(&key)
                .arg(score(at))
                .arg(&member)
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(&key)
                .arg(tier.keep().num_milliseconds())
                .ignore();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(format!("({}", score(tier.kept_since(at))))
                .ignore();
        }
        let written = pipe
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(redis_error);
        for tier in taking {
            match tier {
                Tier::Fine => latest.fine = Some(sample),
                Tier::Coarse => latest.coarse = Some(sample),
            }
        }
        // Not knowing whether the block ran, read the latest again next time.
        self.latest_samples
            .set(scheduler, written.is_ok().then_some(latest));
        written
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
        self.latest_samples.set(scheduler, None);
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
