//! The client-side limit that protects the API server: every API call the runtime makes (each
//! attempt of [`super::retry::retry`], watches aside) first waits for a free slot among
//! `max_in_flight` and for a token of a bucket refilled at `per_second`. Maestro creates rooms in
//! batches of 40; the default keeps 40 calls in flight at most, so a scale-up of thousands of
//! rooms reaches the API server as a steady stream, never all at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::lock;

/// Calls in flight at most, by default (Maestro's room-creation batch).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 40;
/// Calls started per second at most, by default: 1,000 room creations a second (a creation is
/// two calls: the room's secret keys, then its pod).
pub const DEFAULT_PER_SECOND: f64 = 2_000.0;

/// A token bucket, pure: tokens refill at `rate` per second up to `burst`; each call reserves
/// one and is told how long to wait for it.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// May go below zero: tokens reserved ahead of their refill.
    tokens: f64,
    at: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens (at least one) refilled at `rate` per second.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            tokens: burst,
            at: None,
        }
    }

    /// Reserves a token at `now`: how long the caller waits before its call may start.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if let Some(at) = self.at {
            let refilled = now.saturating_duration_since(at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + refilled).min(self.burst);
        }
        self.at = Some(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The limit shared by every clone of a runtime (and whatever else is given the same config).
#[derive(Clone)]
pub struct ApiLimits {
    max_in_flight: usize,
    per_second: Option<f64>,
    in_flight: Arc<Semaphore>,
    bucket: Option<Arc<Mutex<TokenBucket>>>,
}

impl std::fmt::Debug for ApiLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLimits")
            .field("max_in_flight", &self.max_in_flight)
            .field("per_second", &self.per_second)
            .finish()
    }
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_IN_FLIGHT, Some(DEFAULT_PER_SECOND))
    }
}

impl ApiLimits {
    /// At most `max_in_flight` calls at once (at least one) and, with `per_second`, at most
    /// that many started per second (bursts of up to `max_in_flight`).
    pub fn new(max_in_flight: usize, per_second: Option<f64>) -> Self {
        let max_in_flight = max_in_flight.max(1);
        let per_second = per_second.filter(|rate| rate.is_finite() && *rate > 0.0);
        let burst = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        Self {
            max_in_flight,
            per_second,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            bucket: per_second.map(|rate| Arc::new(Mutex::new(TokenBucket::new(rate, burst)))),
        }
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    pub fn per_second(&self) -> Option<f64> {
        self.per_second
    }

    /// Waits until one more call may start; the call holds the permit while it runs.
    pub(super) async fn admit(&self) -> OwnedSemaphorePermit {
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        if let Some(bucket) = &self.bucket {
            let wait = lock(bucket).reserve(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_full_bucket_lets_its_burst_through_then_spaces_calls_at_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 3);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        // 10 ms per token at 100/s: the fourth and fifth wait one and two tokens' time.
        let fourth = bucket.reserve(start);
        let fifth = bucket.reserve(start);
        assert!((fourth.as_secs_f64() - 0.010).abs() < 1e-9, "{fourth:?}");
        assert!((fifth.as_secs_f64() - 0.020).abs() < 1e-9, "{fifth:?}");
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_its_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 2);
        bucket.reserve(start);
        bucket.reserve(start);
        // An hour later: two tokens, not 360,000.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert!(bucket.reserve(later) > Duration::ZERO);
    }

    #[tokio::test]
    async fn no_more_calls_than_the_limit_run_at_once() {
        let limits = ApiLimits::new(3, None);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (limits, running, most) = (limits.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    let _permit = limits.admit().await;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn calls_start_no_faster_than_the_rate() {
        // Bursts of 2, then 50 calls a second: 12 calls need at least (12 - 2) / 50 = 200 ms.
        let limits = ApiLimits::new(2, Some(50.0));
        let started = Instant::now();
        for _ in 0..12 {
            drop(limits.admit().await);
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(195), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn a_limit_of_zero_still_lets_one_call_through_and_no_rate_means_none() {
        let limits = ApiLimits::new(0, Some(0.0));
        assert_eq!(limits.max_in_flight(), 1);
        assert_eq!(limits.per_second(), None);
    }
}
