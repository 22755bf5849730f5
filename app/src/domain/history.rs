//! Room status history: counts sampled over time, and how a window of them is shown.

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
}
