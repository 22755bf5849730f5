//! Password-check counts in this process (the embedded default): fixed windows per key, at most
//! [`KEYS_KEPT`] keys, expired ones dropped first when full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::ports::{AttemptCounter, AttemptCounts, StoreError};
use async_trait::async_trait;

/// Keys kept at most; past it, expired windows go, then (under a flood of names) all.
const KEYS_KEPT: usize = 100_000;

#[derive(Default)]
pub struct MemoryAttemptCounter {
    /// Key -> (count, end of its window).
    windows: Mutex<HashMap<String, (u64, Instant)>>,
}

impl MemoryAttemptCounter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Instant)>> {
        // Counts hold no invariant a panicking holder could break.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn bump(
    windows: &mut HashMap<String, (u64, Instant)>,
    key: String,
    now: Instant,
    window: Duration,
) -> (u64, Instant) {
    let entry = windows.entry(key).or_insert((0, now + window));
    if entry.1 <= now {
        *entry = (0, now + window);
    }
    entry.0 += 1;
    *entry
}

#[async_trait]
impl AttemptCounter for MemoryAttemptCounter {
    async fn count(
        &self,
        client: &str,
        user: &str,
        window: Duration,
    ) -> Result<AttemptCounts, StoreError> {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() >= KEYS_KEPT {
            windows.retain(|_, (_, end)| *end > now);
            if windows.len() >= KEYS_KEPT {
                windows.clear();
            }
        }
        let (client_count, client_end) =
            bump(&mut windows, format!("client:{client}"), now, window);
        let (user_count, _) = bump(&mut windows, format!("user:{user}"), now, window);
        Ok(AttemptCounts {
            client: client_count,
            user: user_count,
            client_window_left: client_end.saturating_duration_since(now),
        })
    }

    async fn succeeded(&self, client: &str, user: &str) -> Result<(), StoreError> {
        let mut windows = self.lock();
        if let Some((count, _)) = windows.get_mut(&format!("client:{client}")) {
            *count = count.saturating_sub(1);
        }
        windows.remove(&format!("user:{user}"));
        Ok(())
    }
}
