//! Room status history: counts sampled over time, which samples a bounded history keeps, and how
//! a window of them is shown. Pure: the room store keeps the samples (shared by every replica),
//! these functions decide what it takes, what it drops and what is shown.
//!
//! The health controller records each scheduler's room counts as it checks them. Two tiers keep
//! the history bounded: a sample every 5 seconds, or at each health tick while the counts change,
//! for the last hour (3,600 at most with the default 1 s tick), and one a minute for the last day
//! (1,440).

use std::collections::VecDeque;

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

/// A sample of a series over time: when it was taken.
pub trait Timed: Copy {
    fn at(&self) -> DateTime<Utc>;
}

impl Timed for RoomCountSample {
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

/// The samples of the last `window` before `now`, reduced to at most `buckets` by keeping the
/// last sample of each bucket (counts are levels, not rates, so the latest value is the truth).
pub fn window<T: Timed>(
    samples: &[T],
    now: DateTime<Utc>,
    window: Duration,
    buckets: usize,
) -> Vec<T> {
    let since = now - window;
    let recent: Vec<&T> = samples.iter().filter(|s| s.at() >= since).collect();
    if recent.len() <= buckets || buckets == 0 {
        return recent.into_iter().copied().collect();
    }
    let width = window.num_milliseconds().max(1) as f64 / buckets as f64;
    let mut out: Vec<T> = Vec::with_capacity(buckets);
    let mut last_bucket = None;
    for sample in recent {
        let bucket = ((sample.at() - since).num_milliseconds() as f64 / width) as i64;
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

/// One of the two series a scheduler's counts are kept in (and its allocation outcomes:
/// `allocation::rate` counts them in buckets of each tier, kept as long).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Every 5 seconds, or at once when the counts change; the last hour.
    Fine,
    /// Once a minute; the last day.
    Coarse,
}

/// A change of counts is recorded at once, but not more often than this.
const CHANGE_EVERY: Duration = Duration::milliseconds(150);

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Fine, Tier::Coarse];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Fine => "fine",
            Tier::Coarse => "coarse",
        }
    }

    /// How often the tier takes a sample of unchanged counts.
    fn every(self) -> Duration {
        match self {
            Tier::Fine => Duration::seconds(5),
            Tier::Coarse => Duration::minutes(1),
        }
    }

    /// How long the tier keeps a sample.
    pub fn keep(self) -> Duration {
        match self {
            Tier::Fine => Duration::hours(1),
            Tier::Coarse => Duration::days(1),
        }
    }

    /// The tier a window of `span` is read from.
    pub fn for_span(span: Duration) -> Tier {
        if span <= Tier::Fine.keep() {
            Tier::Fine
        } else {
            Tier::Coarse
        }
    }

    /// The oldest moment the tier still keeps once a sample taken at `at` is recorded: older
    /// samples are dropped.
    pub fn kept_since(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at - self.keep()
    }

    /// Whether the tier takes `sample`, after `last` (its latest sample). `changed`: the
    /// counts differ from the latest fine sample (only the fine tier records changes early).
    fn takes(
        self,
        last: Option<&RoomCountSample>,
        sample: &RoomCountSample,
        changed: bool,
    ) -> bool {
        last.is_none_or(|last| {
            let since = sample.at - last.at;
            since >= self.every() || (self == Tier::Fine && changed && since >= CHANGE_EVERY)
        })
    }
}

/// The latest sample of each tier of one scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latest {
    pub fine: Option<RoomCountSample>,
    pub coarse: Option<RoomCountSample>,
}

/// The tiers that take `sample`, given the latest of each.
pub fn tiers_taking(latest: &Latest, sample: &RoomCountSample) -> Vec<Tier> {
    let changed = latest.fine.is_some_and(|last| last.counts != sample.counts);
    Tier::ALL
        .into_iter()
        .filter(|tier| {
            let last = match tier {
                Tier::Fine => latest.fine.as_ref(),
                Tier::Coarse => latest.coarse.as_ref(),
            };
            tier.takes(last, sample, changed)
        })
        .collect()
}

/// One scheduler's history held in memory (the in-process room store's), both tiers oldest first.
#[derive(Clone, Debug, Default)]
pub struct CountSeries {
    fine: VecDeque<RoomCountSample>,
    coarse: VecDeque<RoomCountSample>,
}

impl CountSeries {
    fn series(&mut self, tier: Tier) -> &mut VecDeque<RoomCountSample> {
        match tier {
            Tier::Fine => &mut self.fine,
            Tier::Coarse => &mut self.coarse,
        }
    }

    pub fn latest(&self) -> Latest {
        Latest {
            fine: self.fine.back().copied(),
            coarse: self.coarse.back().copied(),
        }
    }

    /// Adds the sample to the tiers that take it and drops what they no longer keep.
    pub fn record(&mut self, sample: RoomCountSample) {
        for tier in tiers_taking(&self.latest(), &sample) {
            self.series(tier).push_back(sample);
        }
        for tier in Tier::ALL {
            let oldest = tier.kept_since(sample.at);
            let series = self.series(tier);
            while series.front().is_some_and(|s| s.at < oldest) {
                series.pop_front();
            }
        }
    }

    /// The samples of `tier` from `since` on, oldest first.
    pub fn since(&self, tier: Tier, since: DateTime<Utc>) -> Vec<RoomCountSample> {
        let series = match tier {
            Tier::Fine => &self.fine,
            Tier::Coarse => &self.coarse,
        };
        series.iter().filter(|s| s.at >= since).copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fine.is_empty() && self.coarse.is_empty()
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

    /// What the history endpoint shows: the tier that covers the span, then the window.
    fn shown(series: &CountSeries, now: DateTime<Utc>, span: Duration) -> Vec<RoomCountSample> {
        let samples = series.since(Tier::for_span(span), now - span);
        window(&samples, now, span, 10_000)
    }

    #[test]
    fn samples_every_five_seconds_or_on_change_and_forgets_old_ones() {
        let mut series = CountSeries::default();
        let t0 = DateTime::UNIX_EPOCH + Duration::days(1);
        // Ticks every second for two hours; the counts change once a minute.
        for s in 0..7200 {
            series.record(RoomCountSample {
                at: t0 + Duration::seconds(s),
                counts: counts((s / 60) as u64),
            });
        }
        let now = t0 + Duration::seconds(7199);
        let hour = shown(&series, now, Duration::hours(1));
        // 720 regular samples plus one per change (60 changes in the hour), give or take the edge.
        assert!((720..=790).contains(&hour.len()), "{}", hour.len());
        assert!(hour.iter().all(|s| now - s.at <= Duration::hours(1)));
        assert_eq!(hour.last().map(|s| s.counts.ready), Some(119));
        // The day window reads the coarse tier: one a minute.
        let day = shown(&series, now, Duration::days(1));
        assert_eq!(day.len(), 120);
        // Nothing older than an hour is left in the fine tier.
        assert!(
            series
                .since(Tier::Fine, DateTime::UNIX_EPOCH)
                .iter()
                .all(|s| now - s.at <= Duration::hours(1))
        );
    }

    #[test]
    fn a_change_is_taken_early_by_the_fine_tier_only() {
        let t0 = DateTime::UNIX_EPOCH + Duration::days(1);
        let first = RoomCountSample {
            at: t0,
            counts: counts(1),
        };
        let latest = Latest {
            fine: Some(first),
            coarse: Some(first),
        };
        let same = RoomCountSample {
            at: t0 + Duration::seconds(1),
            counts: counts(1),
        };
        assert!(tiers_taking(&latest, &same).is_empty());
        let changed = RoomCountSample {
            at: t0 + Duration::seconds(1),
            counts: counts(2),
        };
        assert_eq!(tiers_taking(&latest, &changed), vec![Tier::Fine]);
        let too_soon = RoomCountSample {
            at: t0 + Duration::milliseconds(100),
            counts: counts(2),
        };
        assert!(tiers_taking(&latest, &too_soon).is_empty());
        let minute = RoomCountSample {
            at: t0 + Duration::minutes(1),
            counts: counts(1),
        };
        assert_eq!(tiers_taking(&latest, &minute), Tier::ALL.to_vec());
        assert_eq!(tiers_taking(&Latest::default(), &first), Tier::ALL.to_vec());
    }
}
