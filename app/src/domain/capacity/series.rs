//! Free payload capacity over time: one sample per machine-scaling evaluation, with the bounds
//! it was judged against, kept for the last day and at most [`SAMPLES_KEPT`] per scheduler
//! (a day at the default 30 s machine-scaling period; a shorter period keeps a shorter span).
//! Pure: the machine-decision store keeps the samples, these functions decide what it keeps.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::scaling::MachineFigures;
use crate::domain::history::Timed;

/// How many samples a scheduler keeps at most.
pub const SAMPLES_KEPT: usize = 2880;

/// How long a sample is kept.
pub fn samples_span() -> Duration {
    Duration::days(1)
}

/// A scheduler's free payload capacity at one evaluation, and the bounds machine scaling keeps
/// it within.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CapacitySample {
    pub at: DateTime<Utc>,
    pub free_payload_capacity: u64,
    pub min_free_payload_capacity: i64,
    pub max_free_payload_capacity: i64,
}

impl CapacitySample {
    /// The sample of a decision's figures taken at `at`.
    pub fn of(at: DateTime<Utc>, figures: &MachineFigures) -> Self {
        Self {
            at,
            free_payload_capacity: figures.free_payload_capacity,
            min_free_payload_capacity: figures.min_free_payload_capacity,
            max_free_payload_capacity: figures.max_free_payload_capacity,
        }
    }
}

impl Timed for CapacitySample {
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// The oldest moment still kept once a sample taken at `at` is recorded.
pub fn samples_kept_since(at: DateTime<Utc>) -> DateTime<Utc> {
    at - samples_span()
}

/// Appends `sample` to `series` (oldest first) and drops what is no longer kept: samples older
/// than a day before it, then the oldest past [`SAMPLES_KEPT`].
pub fn keep_sample(series: &mut VecDeque<CapacitySample>, sample: CapacitySample) {
    series.push_back(sample);
    let oldest = samples_kept_since(sample.at);
    while series.front().is_some_and(|s| s.at < oldest) {
        series.pop_front();
    }
    while series.len() > SAMPLES_KEPT {
        series.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::window;

    fn sample(seconds: i64, free: u64) -> CapacitySample {
        CapacitySample {
            at: DateTime::UNIX_EPOCH + Duration::days(2) + Duration::seconds(seconds),
            free_payload_capacity: free,
            min_free_payload_capacity: 4,
            max_free_payload_capacity: 8,
        }
    }

    #[test]
    fn keeps_one_sample_per_evaluation_for_a_day() {
        let mut series = VecDeque::new();
        // An evaluation every 60 s for two days: only the last day's are kept.
        for i in 0..2880 {
            keep_sample(&mut series, sample(i * 60, i as u64));
        }
        assert_eq!(series.len(), 1441);
        let last = series.back().copied().expect("a sample");
        assert_eq!(last.free_payload_capacity, 2879);
        assert!(series.iter().all(|s| last.at - s.at <= Duration::days(1)));
        assert!(
            series
                .iter()
                .zip(series.iter().skip(1))
                .all(|(a, b)| a.at < b.at)
        );
    }

    #[test]
    fn a_short_period_is_bounded_by_count() {
        let mut series = VecDeque::new();
        for i in 0..(SAMPLES_KEPT as i64 + 100) {
            keep_sample(&mut series, sample(i, i as u64));
        }
        assert_eq!(series.len(), SAMPLES_KEPT);
        assert_eq!(series.front().map(|s| s.free_payload_capacity), Some(100));
    }

    #[test]
    fn a_window_is_thinned_to_the_latest_of_each_bucket() {
        let samples: Vec<_> = (0..600).map(|i| sample(i * 30, i as u64)).collect();
        let now = samples.last().expect("a sample").at;
        let hour = window(&samples, now, Duration::hours(1), 30);
        assert!(hour.len() <= 31, "{}", hour.len());
        assert_eq!(hour.last().map(|s| s.free_payload_capacity), Some(599));
        assert!(hour.iter().all(|s| now - s.at <= Duration::hours(1)));
    }

    #[test]
    fn a_sample_carries_the_decisions_figures() {
        let figures = MachineFigures {
            free_payload_capacity: 3,
            min_free_payload_capacity: 4,
            max_free_payload_capacity: 9,
            ..MachineFigures::default()
        };
        let at = DateTime::UNIX_EPOCH;
        assert_eq!(
            CapacitySample::of(at, &figures),
            CapacitySample {
                at,
                free_payload_capacity: 3,
                min_free_payload_capacity: 4,
                max_free_payload_capacity: 9,
            }
        );
    }
}
