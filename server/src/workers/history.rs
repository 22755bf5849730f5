//! Room status history, in process: the health controller records each scheduler's room counts
//! as it checks them, and the dashboard and API read a window of them.
//!
//! Two tiers keep memory bounded: a sample every 5 seconds, or at each health tick while the counts
//! change, for the last hour (3,600 at most with the default 1 s tick), and one a minute for the
//! last day (1,440).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use app::domain::history::{RoomCountSample, window};
use app::domain::room::RoomCounts;
use chrono::{DateTime, Duration, Utc};

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
