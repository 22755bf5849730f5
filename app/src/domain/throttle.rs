//! How password guessing is slowed down: every path that checks a password (the dashboard's
//! sign-in, HTTP Basic on the API) counts the check before it runs, per client address and per
//! user, over a fixed window.
//!
//! - A client address past its limit is refused until its window ends (HTTP 429).
//! - A user past its free attempts is only slowed: each further check waits longer, up to a cap.
//!   Nobody can lock a user out by guessing their password wrong; they can only make its checks
//!   slower for a while, and a successful check forgets the user's failures.

use std::time::Duration;

/// What a password check may do, given the attempts counted so far in the current windows
/// (this one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Check it, after waiting `delay`.
    Allowed { delay: Duration },
    /// Too many failed checks from this client address; try again after `retry_after`.
    Refused { retry_after: Duration },
}

/// The limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// How long counts are kept: a window starts at the first attempt after the last one ended.
    pub window: Duration,
    /// Failed checks a client address may make per window.
    pub client_limit: u64,
    /// Failed checks of one user per window before they are slowed down.
    pub user_free: u64,
    /// The wait after the first slowed check; it doubles with every further one.
    pub base_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for Throttle {
    /// Ten failed checks a minute per client address; a user's sixth failed check in a minute
    /// waits 250 ms, then 0.5 s, 1 s ... up to 8 s.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            client_limit: 10,
            user_free: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl Throttle {
    /// The verdict on a check that is the `client_count`-th of its client address and the
    /// `user_count`-th of its user in their windows; `client_window_left` is what remains of
    /// the client's window.
    pub fn decide(
        &self,
        client_count: u64,
        user_count: u64,
        client_window_left: Duration,
    ) -> Attempt {
        if client_count > self.client_limit {
            return Attempt::Refused {
                retry_after: client_window_left.max(Duration::from_secs(1)),
            };
        }
        let excess = user_count.saturating_sub(self.user_free);
        let delay = if excess == 0 {
            Duration::ZERO
        } else {
            let doublings = u32::try_from(excess - 1).unwrap_or(u32::MAX).min(20);
            self.base_delay
                .saturating_mul(1u32 << doublings)
                .min(self.max_delay)
        };
        Attempt::Allowed { delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEFT: Duration = Duration::from_secs(42);

    #[test]
    fn a_client_past_its_limit_is_refused_for_the_rest_of_its_window() {
        let throttle = Throttle::default();
        for count in 1..=10 {
            assert!(matches!(
                throttle.decide(count, 1, LEFT),
                Attempt::Allowed { .. }
            ));
        }
        assert_eq!(
            throttle.decide(11, 1, LEFT),
            Attempt::Refused { retry_after: LEFT }
        );
        assert_eq!(
            throttle.decide(11, 1, Duration::ZERO),
            Attempt::Refused {
                retry_after: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn a_user_past_its_free_attempts_is_slowed_never_refused() {
        let throttle = Throttle::default();
        let delay = |user_count| match throttle.decide(1, user_count, LEFT) {
            Attempt::Allowed { delay } => delay,
            refused => panic!("user attempt {user_count} was {refused:?}"),
        };
        for count in 1..=5 {
            assert_eq!(delay(count), Duration::ZERO);
        }
        assert_eq!(delay(6), Duration::from_millis(250));
        assert_eq!(delay(7), Duration::from_millis(500));
        assert_eq!(delay(8), Duration::from_secs(1));
        assert_eq!(delay(11), Duration::from_secs(8));
        assert_eq!(delay(u64::MAX), Duration::from_secs(8));
    }
}
