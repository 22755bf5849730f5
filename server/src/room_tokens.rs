//! Room tokens: each room gets `HMAC-SHA256(secret, scheduler/room)` at creation, and proves who
//! it is with it. Verifying needs no storage round trip, so pings stay one store call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::domain::validation::is_dns_label;
use app::ports::{SchedulerCache, SchedulerStore, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub struct RoomTokens {
    /// The HMAC already keyed with the secret: each token starts from a copy of it, so the
    /// key is hashed once, not on every ping.
    keyed: HmacSha256,
}

impl RoomTokens {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            // HMAC accepts keys of any length, so this cannot fail.
            keyed: HmacSha256::new_from_slice(secret.as_ref()).expect("HMAC takes any key length"),
        }
    }

    fn mac(&self, scheduler: &str, room: &str) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        // Length-prefixed, so no two (scheduler, room) pairs hash the same bytes.
        mac.update(&(scheduler.len() as u64).to_be_bytes());
        mac.update(scheduler.as_bytes());
        mac.update(room.as_bytes());
        mac
    }

    /// The token of one room (hex).
    pub fn issue(&self, scheduler: &str, room: &str) -> String {
        self.mac(scheduler, room)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `token` is this room's token (compared in constant time).
    pub fn verify(&self, scheduler: &str, room: &str, token: &str) -> bool {
        let Some(bytes) = decode_hex(token) else {
            return false;
        };
        self.mac(scheduler, room).verify_slice(&bytes).is_ok()
    }
}

/// Which schedulers accept pings without a token (rooms migrating from Maestro), remembered for
/// `ttl`, so that such rooms do not cost a database read per ping. Unknown schedulers are
/// remembered too (as not accepting), so that a flood of tokenless pings to made-up names costs
/// no database reads either. This process forgets a scheduler as soon as it changes it (the
/// scheduler service tells it), and, with Redis, as soon as another replica publishes a change
/// (`RedisSchedulerChanges`); a change nobody was told of takes effect within `ttl`.
/// Names that cannot be schedulers are refused without a lookup, and at most [`KNOWN_KEPT`]
/// answers are kept, so the memory is bounded whatever names pings carry.
pub struct TokenlessSchedulers {
    ttl: Duration,
    known: Mutex<HashMap<String, (bool, Instant)>>,
}

/// Answers kept at most: past it, expired ones go, then all.
pub const KNOWN_KEPT: usize = 10_000;

impl TokenlessSchedulers {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `scheduler` accepts tokenless pings; unknown schedulers and store failures do not.
    pub async fn allowed(&self, scheduler: &str, schedulers: &dyn SchedulerStore) -> bool {
        let remembered = self.lock().get(scheduler).copied();
        if let Some((allowed, at)) = remembered
            && at.elapsed() < self.ttl
        {
            return allowed;
        }
        if !is_dns_label(scheduler) {
            return false;
        }
        let allowed = match schedulers.get(scheduler, None).await {
            Ok(found) => found.config.allow_tokenless_pings,
            Err(StoreError::NotFound(_)) => false,
            // A failing store is asked again next time.
            Err(_) => return false,
        };
        let mut known = self.lock();
        if known.len() >= KNOWN_KEPT {
            known.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if known.len() >= KNOWN_KEPT {
                known.clear();
            }
        }
        known.insert(scheduler.to_string(), (allowed, Instant::now()));
        allowed
    }

    /// How many answers are remembered now.
    pub fn remembered(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, Instant)>> {
        // The map holds no invariant a panicking holder could break.
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SchedulerCache for TokenlessSchedulers {
    /// Forgets what is known of `scheduler` (it was just created, changed or deleted).
    fn forget(&self, scheduler: &str) {
        self.lock().remove(scheduler);
    }

    fn forget_all(&self) {
        self.lock().clear();
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::storage::sql::SqlStore;
    use app::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion};
    use app::ports::SchedulerFilter;

    #[tokio::test]
    async fn tokenless_answers_are_remembered_for_the_ttl_and_forgotten_on_change() {
        let path =
            std::env::temp_dir().join(format!("baton-tokenless-{}.db", uuid::Uuid::new_v4()));
        let store = SqlStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let mut config: SchedulerConfig = serde_json::from_value(serde_json::json!({
            "name": "migrating", "game": "g", "roomsReplicas": 0,
            "spec": {"containers": [{"name": "game", "image": "example", "command": ["sleep"]}]},
            "allowTokenlessPings": true
        }))
        .unwrap();
        store.create(&config).await.unwrap();
        let tokenless = TokenlessSchedulers::new(Duration::from_millis(300));
        assert!(tokenless.allowed("migrating", &store).await);
        assert!(!tokenless.allowed("unknown", &store).await);

        // Turned off behind its back: still allowed until the answer expires...
        config.allow_tokenless_pings = false;
        store.add_version(&config, "v2").await.unwrap();
        assert!(tokenless.allowed("migrating", &store).await);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(!tokenless.allowed("migrating", &store).await);

        // ...or at once when this process made the change.
        config.allow_tokenless_pings = true;
        store.add_version(&config, "v3").await.unwrap();
        tokenless.forget("migrating");
        assert!(tokenless.allowed("migrating", &store).await);
        let _ = std::fs::remove_file(path);
    }

    /// A scheduler store that counts `get`s; nothing else is used.
    struct CountingStore {
        inner: SqlStore,
        gets: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl SchedulerStore for CountingStore {
        async fn create(&self, config: &SchedulerConfig) -> Result<Scheduler, StoreError> {
            self.inner.create(config).await
        }
        async fn get(&self, name: &str, version: Option<&str>) -> Result<Scheduler, StoreError> {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.get(name, version).await
        }
        async fn list(&self, _: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn add_version(&self, _: &SchedulerConfig, _: &str) -> Result<Scheduler, StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn versions(&self, _: &str) -> Result<Vec<SchedulerVersion>, StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn store_version(
            &self,
            _: &SchedulerConfig,
            _: &str,
        ) -> Result<SchedulerVersion, StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn remove_version(&self, _: &str, _: &str) -> Result<(), StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn switch_active(&self, _: &str, _: &str) -> Result<Scheduler, StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn set_state(&self, _: &str, _: SchedulerState) -> Result<(), StoreError> {
            unreachable!("not used by tokenless lookups")
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            unreachable!("not used by tokenless lookups")
        }
    }

    #[tokio::test]
    async fn unknown_schedulers_are_answered_from_a_bounded_negative_cache() {
        let path =
            std::env::temp_dir().join(format!("baton-tokenless-{}.db", uuid::Uuid::new_v4()));
        let store = CountingStore {
            inner: SqlStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .unwrap(),
            gets: Default::default(),
        };
        let gets = || store.gets.load(std::sync::atomic::Ordering::SeqCst);
        let tokenless = TokenlessSchedulers::new(Duration::from_secs(60));
        for _ in 0..100 {
            assert!(!tokenless.allowed("nobody", &store).await);
        }
        assert_eq!(gets(), 1, "one read for 100 pings to an unknown scheduler");
        // Names no scheduler can have cost no read at all.
        assert!(!tokenless.allowed("Not A Scheduler", &store).await);
        assert!(!tokenless.allowed(&"x".repeat(5000), &store).await);
        assert_eq!(gets(), 1);
        // A flood of made-up names stays within the bound.
        for i in 0..KNOWN_KEPT + 10 {
            tokenless.allowed(&format!("made-up-{i}"), &store).await;
        }
        assert!(tokenless.remembered() <= KNOWN_KEPT);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn tokens_belong_to_one_room() {
        let tokens = RoomTokens::new("secret");
        let token = tokens.issue("s", "r1");
        assert_eq!(token.len(), 64);
        assert!(tokens.verify("s", "r1", &token));
        assert!(!tokens.verify("s", "r2", &token));
        assert!(!tokens.verify("s2", "r1", &token));
        assert!(!RoomTokens::new("other").verify("s", "r1", &token));
        assert!(!tokens.verify("s", "r1", "zz"));
        assert!(!tokens.verify("s", "r1", ""));
        // "s/r" + "1" must not collide with "s" + "/r1"-style splits.
        assert_ne!(tokens.issue("s/r", "1"), tokens.issue("s", "r/1"));
    }
}
