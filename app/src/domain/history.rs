//! Room status history: counts sampled over time, kept in a bounded in-process store, and how a
//! window of them is shown.
//!
//! The health controller records each scheduler's room counts as it checks them. Two tiers keep
//! memory bounded: a sample every 5 seconds, or at each health tick while the counts change, for
//! the last hour (3,600 at most with the default 1 s tick), and one a minute for the last day
//! (1,440).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::room::RoomCounts;

/// The room counts of a scheduler at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoomCountSample {
    pub at: DateTime<Utc>,
    pub counts: RoomCounts,
}

/// The windows the dashboard offers, in minutes.
pub const WINDOWS_MINUTES: &[i64] = &[15, 60, 360, 1440];

/// The samples of the last `window` before `now`, reduced to at most `buckets` by keeping the
/// last sample of each bucket (counts are levels, not rates, so the latest value is the truth).
pub fn window(
    samples: &[RoomCountSample],
    now: DateTime<Utc>,
    window: Duration,
    buckets: usize,
) -> Vec<RoomCountSample> {
    let since = now - window;
    let recent: Vec<&RoomCountSample> = samples.iter().filter(|s| s.at >= since).collect();
    if recent.len() <= buckets || buckets == 0 {
        return recent.into_iter().copied().collect();
    }
    let width = window.num_milliseconds().max(1) as f64 / buckets as f64;
    let mut out: Vec<RoomCountSample> = Vec::with_capacity(buckets);
    let mut last_bucket = None;
    for sample in recent {
        let bucket = ((sample.at - since).num_milliseconds() as f64 / width) as i64;
        if last_bucket == Some(bucket) {
            if let Some(last) = out.last_mut() {
                *last = *sample;
            }
        } else {
            out.push(*sample);
            last_bucket = Some(bucket);
        }
    }
    out
}

struct Tier {
    every: Duration,
    keep: Duration,
}

const FINE: Tier = Tier {
    every: Duration::seconds(5),
    keep: Duration::hours(1),
};
const COARSE: Tier = Tier {
    every: Duration::minutes(1),
    keep: Duration::days(1),
};
/// A change of counts is recorded at once, but not more often than this.
const CHANGE_EVERY: Duration = Duration::milliseconds(150);

#[derive(Default)]
struct Samples {
    fine: VecDeque<RoomCountSample>,
    coarse: VecDeque<RoomCountSample>,
}

fn push(
    series: &mut VecDeque<RoomCountSample>,
    tier: &Tier,
    sample: RoomCountSample,
    changed: bool,
) {
    let due = series.back().is_none_or(|last| {
        let since = sample.at - last.at;
        since >= tier.every || (changed && since >= CHANGE_EVERY)
    });
    if due {
        series.push_back(sample);
    }
    while series.front().is_some_and(|s| sample.at - s.at > tier.keep) {
        series.pop_front();
    }
}

#[derive(Default)]
pub struct RoomHistory {
    schedulers: Mutex<HashMap<String, Samples>>,
}

impl RoomHistory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Samples>> {
        self.schedulers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record(&self, scheduler: &str, counts: RoomCounts, at: DateTime<Utc>) {
        let mut all = self.lock();
        let samples = all.entry(scheduler.to_string()).or_default();
        let changed = samples
            .fine
            .back()
            .is_some_and(|last| last.counts != counts);
        let sample = RoomCountSample { at, counts };
        push(&mut samples.fine, &FINE, sample, changed);
        push(&mut samples.coarse, &COARSE, sample, false);
    }

    /// The last `span` before `now`, at most `buckets` samples.
    pub fn window(
        &self,
        scheduler: &str,
        now: DateTime<Utc>,
        span: Duration,
        buckets: usize,
    ) -> Vec<RoomCountSample> {
        let all = self.lock();
        let Some(samples) = all.get(scheduler) else {
            return Vec::new();
        };
        let series = if span <= FINE.keep {
            &samples.fine
        } else {
            &samples.coarse
        };
        let samples: Vec<RoomCountSample> = series.iter().copied().collect();
        window(&samples, now, span, buckets)
    }

    pub fn forget(&self, scheduler: &str) {
        self.lock().remove(scheduler);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: i64, ready: u64) -> RoomCountSample {
        RoomCountSample {
            at: DateTime::UNIX_EPOCH + Duration::seconds(seconds),
            counts: RoomCounts {
                ready,
                ..RoomCounts::default()
            },
        }
    }

    #[test]
    fn keeps_the_window_and_the_latest_of_each_bucket() {
        let samples: Vec<_> = (0..100).map(|i| sample(i * 10, i as u64)).collect();
        let now = DateTime::UNIX_EPOCH + Duration::seconds(990);
        // The last 100 seconds: 11 samples (890..=990), fewer than the buckets.
        let all = window(&samples, now, Duration::seconds(100), 20);
        assert_eq!(all.len(), 11);
        assert_eq!(all[0].counts.ready, 89);
        // The last 500 seconds in 5 buckets: the latest sample of each.
        let reduced = window(&samples, now, Duration::seconds(500), 5);
        assert!(reduced.len() <= 6, "{}", reduced.len());
        assert_eq!(reduced.last().map(|s| s.counts.ready), Some(99));
        assert!(reduced.windows(2).all(|w| w[0].at < w[1].at));
    }

    fn counts(ready: u64) -> RoomCounts {
        RoomCounts {
            ready,
            ..RoomCounts::default()
        }
    }

    #[test]
    fn samples_every_five_seconds_or_on_change_and_forgets_old_ones() {
        let history = RoomHistory::default();
        let t0 = DateTime::UNIX_EPOCH + Duration::days(1);
        // Ticks every second for two hours; the counts change once a minute.
        for s in 0..7200 {
            history.record("s", counts((s / 60) as u64), t0 + Duration::seconds(s));
        }
        let now = t0 + Duration::seconds(7199);
        let hour = history.window("s", now, Duration::hours(1), 10_000);
        // 720 regular samples plus one per change (60 changes in the hour), give or take the edge.
        assert!((720..=790).contains(&hour.len()), "{}", hour.len());
        assert!(hour.iter().all(|s| now - s.at <= Duration::hours(1)));
        assert_eq!(hour.last().map(|s| s.counts.ready), Some(119));
        // The day window reads the coarse tier: one a minute.
        let day = history.window("s", now, Duration::days(1), 10_000);
        assert_eq!(day.len(), 120);
        history.forget("s");
        assert!(history.window("s", now, Duration::hours(1), 100).is_empty());
    }
}
