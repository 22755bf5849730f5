//! Allocation outcomes over time: how many allocations got a room and how many were refused
//! (no room could take the claim), counted per scheduler in time buckets by the room store, in
//! the two tiers of the room count history ([`Tier`]): 10-second buckets kept for the last hour,
//! 1-minute buckets kept for the last day. Pure: the store counts, these functions decide which
//! bucket an outcome goes to, how long a bucket is kept and how a window of them is shown.
//!
//! What counts: each `RoomStore::allocate` call, in the bucket of its claim's `created_at`, as
//! [`Outcome::Allocated`] when it claimed a room, else [`Outcome::Refused`]; a reservation
//! (`RoomStore::reserve`, a named room) as `Allocated` when it claimed the room, and not at all
//! when the room was full or unknown (that says nothing of the scheduler's free rooms).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::history::Tier;

/// What came of one allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A room took the claim.
    Allocated,
    /// No room could take it.
    Refused,
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Outcome::Allocated, Outcome::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allocated => "allocated",
            Outcome::Refused => "refused",
        }
    }
}

/// The outcomes counted in one bucket of a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeBucket {
    /// When the bucket starts ([`Tier::bucket_start`]); it lasts [`Tier::bucket`].
    pub start: DateTime<Utc>,
    pub allocated: u64,
    pub refused: u64,
}

impl OutcomeBucket {
    pub fn empty(start: DateTime<Utc>) -> Self {
        Self {
            start,
            allocated: 0,
            refused: 0,
        }
    }

    pub fn add(&mut self, outcome: Outcome, n: u64) {
        match outcome {
            Outcome::Allocated => self.allocated += n,
            Outcome::Refused => self.refused += n,
        }
    }
}

impl Tier {
    /// How long one bucket of allocation outcomes of the tier lasts.
    pub fn bucket(self) -> Duration {
        match self {
            Tier::Fine => Duration::seconds(10),
            Tier::Coarse => Duration::minutes(1),
        }
    }

    /// The start of the tier's bucket that holds `at`.
    pub fn bucket_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let ms = at.timestamp_millis();
        let start = ms - ms.rem_euclid(self.bucket().num_milliseconds());
        DateTime::from_timestamp_millis(start).unwrap_or(at)
    }

    /// How long a bucket's counts live after the last outcome counted in it (the Redis store's
    /// key expiry): until the tier keeps nothing of it any more.
    pub fn bucket_ttl(self) -> Duration {
        self.keep() + self.bucket()
    }

    /// Whether the tier still keeps the bucket starting at `start` once an outcome at `at` is
    /// counted: it keeps the buckets that end after [`Tier::kept_since`].
    pub fn keeps_bucket(self, start: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        start + self.bucket() > self.kept_since(at)
    }
}

/// The starts of the buckets of `tier` from the one holding `since` to the one holding `until`,
/// oldest first (empty when `until` is before `since`).
pub fn bucket_starts(tier: Tier, since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let last = tier.bucket_start(until);
    let mut start = tier.bucket_start(since);
    let mut starts = Vec::new();
    while start <= last {
        starts.push(start);
        start += tier.bucket();
    }
    starts
}

/// One point of the rate chart: the outcomes per second from `start` over one or more buckets.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatePoint {
    pub start: DateTime<Utc>,
    pub allocated_per_second: f64,
    pub refused_per_second: f64,
}

/// What the allocation page shows of a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationRates {
    /// Oldest first, one per bucket (or per group of buckets), empty buckets as zeros.
    pub points: Vec<RatePoint>,
    /// How long each point lasts, in seconds.
    pub seconds_per_point: i64,
    /// The outcomes of the whole window.
    pub allocated: u64,
    pub refused: u64,
}

/// The rates over the `window` before `now` (rounded out to whole buckets of the tier that
/// covers it, [`Tier::for_span`]) from the counted `buckets` of that tier, adjacent buckets
/// merged so that at most `points` are shown. A point's rate is its count over its length, so
/// the current bucket, still counting, shows what it counted so far over its whole length.
pub fn rates(
    buckets: &[OutcomeBucket],
    now: DateTime<Utc>,
    window: Duration,
    points: usize,
) -> AllocationRates {
    let tier = Tier::for_span(window);
    let starts = bucket_starts(tier, now - window, now);
    let counted: BTreeMap<DateTime<Utc>, &OutcomeBucket> =
        buckets.iter().map(|b| (b.start, b)).collect();
    let per_point = starts.len().div_ceil(points.max(1)).max(1);
    let seconds = tier.bucket().num_seconds() * per_point as i64;
    let mut rates = AllocationRates {
        points: Vec::with_capacity(starts.len() / per_point + 1),
        seconds_per_point: seconds,
        allocated: 0,
        refused: 0,
    };
    for group in starts.chunks(per_point) {
        let mut sum = OutcomeBucket::empty(group[0]);
        for bucket in group.iter().filter_map(|start| counted.get(start)) {
            sum.allocated += bucket.allocated;
            sum.refused += bucket.refused;
        }
        rates.allocated += sum.allocated;
        rates.refused += sum.refused;
        rates.points.push(RatePoint {
            start: sum.start,
            allocated_per_second: sum.allocated as f64 / seconds as f64,
            refused_per_second: sum.refused as f64 / seconds as f64,
        });
    }
    rates
}

/// One scheduler's outcome counts held in memory (the in-process room store's), per tier, by
/// bucket start.
#[derive(Clone, Debug, Default)]
pub struct OutcomeSeries {
    fine: BTreeMap<DateTime<Utc>, OutcomeBucket>,
    coarse: BTreeMap<DateTime<Utc>, OutcomeBucket>,
}

impl OutcomeSeries {
    fn tier(&self, tier: Tier) -> &BTreeMap<DateTime<Utc>, OutcomeBucket> {
        match tier {
            Tier::Fine => &self.fine,
            Tier::Coarse => &self.coarse,
        }
    }

    /// Counts `outcome` at `at` in its bucket of every tier and drops the buckets a tier no
    /// longer keeps.
    pub fn count(&mut self, outcome: Outcome, at: DateTime<Utc>) {
        for tier in Tier::ALL {
            let series = match tier {
                Tier::Fine => &mut self.fine,
                Tier::Coarse => &mut self.coarse,
            };
            let start = tier.bucket_start(at);
            series
                .entry(start)
                .or_insert_with(|| OutcomeBucket::empty(start))
                .add(outcome, 1);
            series.retain(|start, _| tier.keeps_bucket(*start, at));
        }
    }

    /// The counted buckets of `tier` from the one holding `since` to the one holding `until`,
    /// oldest first.
    pub fn between(
        &self,
        tier: Tier,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<OutcomeBucket> {
        let (first, last) = (tier.bucket_start(since), tier.bucket_start(until));
        if last < first {
            return Vec::new();
        }
        self.tier(tier)
            .range(first..=last)
            .map(|(_, b)| *b)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(1) + Duration::seconds(seconds)
    }

    #[test]
    fn buckets_are_whole_tenths_of_a_minute_or_minutes() {
        assert_eq!(Tier::Fine.bucket_start(t(19)), t(10));
        assert_eq!(
            Tier::Fine.bucket_start(t(20) - Duration::nanoseconds(1)),
            t(10)
        );
        assert_eq!(Tier::Fine.bucket_start(t(20)), t(20));
        assert_eq!(Tier::Coarse.bucket_start(t(119)), t(60));
        let epoch = DateTime::UNIX_EPOCH;
        assert_eq!(
            Tier::Fine.bucket_start(epoch - Duration::seconds(1)),
            epoch - Duration::seconds(10)
        );
        assert_eq!(
            bucket_starts(Tier::Fine, t(5), t(30)),
            vec![t(0), t(10), t(20), t(30)]
        );
        assert!(bucket_starts(Tier::Fine, t(30), t(5)).is_empty());
        // A day of one-minute buckets, an hour of ten-second ones: 1440 and 360 (plus the
        // bucket the window starts in).
        let now = t(86_400);
        assert_eq!(
            bucket_starts(Tier::Coarse, now - Duration::days(1), now).len(),
            1441
        );
        assert_eq!(
            bucket_starts(Tier::Fine, now - Duration::hours(1), now).len(),
            361
        );
    }

    #[test]
    fn a_series_counts_per_bucket_and_forgets_what_a_tier_no_longer_keeps() {
        let mut series = OutcomeSeries::default();
        for s in [1, 2, 9] {
            series.count(Outcome::Allocated, t(s));
        }
        series.count(Outcome::Refused, t(5));
        series.count(Outcome::Allocated, t(11));
        let fine = series.between(Tier::Fine, t(0), t(59));
        assert_eq!(
            fine,
            vec![
                OutcomeBucket {
                    start: t(0),
                    allocated: 3,
                    refused: 1
                },
                OutcomeBucket {
                    start: t(10),
                    allocated: 1,
                    refused: 0
                },
            ]
        );
        assert_eq!(
            series.between(Tier::Coarse, t(0), t(59)),
            vec![OutcomeBucket {
                start: t(0),
                allocated: 4,
                refused: 1
            }]
        );
        // A window starting in a bucket reads it whole; one after it does not.
        assert_eq!(series.between(Tier::Fine, t(15), t(59)).len(), 1);
        assert!(series.between(Tier::Fine, t(20), t(59)).is_empty());
        // Two hours on, the fine tier has forgotten them; a day on, the coarse one too.
        series.count(Outcome::Refused, t(7200));
        assert_eq!(series.between(Tier::Fine, t(0), t(7200)).len(), 1);
        assert_eq!(series.between(Tier::Coarse, t(0), t(7200)).len(), 2);
        let day_on = t(7200 + 86_400 + 60);
        series.count(Outcome::Refused, day_on);
        assert_eq!(
            series.between(Tier::Coarse, t(0), day_on),
            vec![OutcomeBucket {
                start: day_on,
                allocated: 0,
                refused: 1
            }]
        );
    }

    #[test]
    fn rates_fill_empty_buckets_and_merge_them_to_the_points_shown() {
        let now = t(3600 * 5);
        let buckets = [
            OutcomeBucket {
                start: Tier::Fine.bucket_start(now - Duration::seconds(30)),
                allocated: 30,
                refused: 5,
            },
            OutcomeBucket {
                start: Tier::Fine.bucket_start(now),
                allocated: 10,
                refused: 0,
            },
            // Outside the window: not shown, not counted.
            OutcomeBucket {
                start: now - Duration::hours(2),
                allocated: 1000,
                refused: 1000,
            },
        ];
        let shown = rates(&buckets, now, Duration::minutes(15), 1000);
        // 15 min of 10 s buckets, the one the window starts in included.
        assert_eq!(shown.points.len(), 91);
        assert_eq!(shown.seconds_per_point, 10);
        assert_eq!((shown.allocated, shown.refused), (40, 5));
        let at_30 = shown.points[shown.points.len() - 4];
        assert_eq!(at_30.allocated_per_second, 3.0);
        assert_eq!(at_30.refused_per_second, 0.5);
        assert_eq!(
            shown.points.last().map(|p| p.allocated_per_second),
            Some(1.0)
        );
        assert!(shown.points.windows(2).all(|w| w[0].start < w[1].start));
        // At most 31 points: three buckets each, 30 s a point.
        let merged = rates(&buckets, now, Duration::minutes(15), 31);
        assert_eq!(merged.points.len(), 31);
        assert_eq!(merged.seconds_per_point, 30);
        assert_eq!((merged.allocated, merged.refused), (40, 5));
        let sum: f64 = merged.points.iter().map(|p| p.allocated_per_second).sum();
        assert!((sum * 30.0 - 40.0).abs() < 1e-9, "{sum}");
        // A day reads one-minute buckets.
        let day = rates(&[], now, Duration::days(1), 240);
        assert_eq!(day.seconds_per_point, 7 * 60);
        assert!(day.points.len() <= 240, "{}", day.points.len());
        assert_eq!((day.allocated, day.refused), (0, 0));
    }
}
