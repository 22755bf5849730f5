//! Allocation outcomes on Redis (`allocation::rate`): one hash per scheduler, tier and bucket,
//! `P:{S}:allocations:TIER:START` (START: the bucket's start, milliseconds since the epoch),
//! fields `allocated` and `refused`. The allocation script counts each outcome in the bucket of
//! each tier (`HINCRBY`) and sets the key to expire `Tier::bucket_ttl` after that count, in the
//! same script as the claim: no extra round trip, and a key outlives its tier's window by one
//! bucket at most. Reading a window is one pipelined `HMGET` per bucket (361 for an hour, 1441
//! for a day).

use app::domain::allocation::rate::{Outcome, OutcomeBucket, bucket_starts};
use app::domain::history::Tier;
use app::ports::StoreError;
use chrono::{DateTime, Utc};

use super::RedisRoomStore;
use crate::adapters::storage::redis_connection::redis_error;

impl RedisRoomStore {
    /// The hash counting the outcomes of `scheduler` in the bucket of `tier` that holds `at`.
    pub(super) fn outcome_key(&self, scheduler: &str, tier: Tier, at: DateTime<Utc>) -> String {
        format!(
            "{}:allocations:{}:{}",
            self.scheduler_key(scheduler),
            tier.as_str(),
            tier.bucket_start(at).timestamp_millis()
        )
    }

    pub(super) async fn outcomes_between(
        &self,
        scheduler: &str,
        tier: Tier,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<OutcomeBucket>, StoreError> {
        let starts = bucket_starts(tier, since, until);
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for start in &starts {
            pipe.cmd("HMGET")
                .arg(self.outcome_key(scheduler, tier, *start))
                .arg(Outcome::Allocated.as_str())
                .arg(Outcome::Refused.as_str());
        }
        let counted: Vec<(Option<u64>, Option<u64>)> = pipe
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error)?;
        Ok(starts
            .into_iter()
            .zip(counted)
            .filter(|(_, (allocated, refused))| allocated.is_some() || refused.is_some())
            .map(|(start, (allocated, refused))| OutcomeBucket {
                start,
                allocated: allocated.unwrap_or(0),
                refused: refused.unwrap_or(0),
            })
            .collect())
    }

    /// Deletes the scheduler's outcome buckets of the last day, by this process's clock (a
    /// bucket of a clock ahead or behind by up to a bucket included); older ones have expired.
    pub(super) async fn forget_outcomes(&self, scheduler: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut command = redis::cmd("DEL");
        for tier in Tier::ALL {
            let since = now - tier.bucket_ttl() - tier.bucket();
            for start in bucket_starts(tier, since, now + tier.bucket()) {
                command.arg(self.outcome_key(scheduler, tier, start));
            }
        }
        command
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(redis_error)
    }
}
