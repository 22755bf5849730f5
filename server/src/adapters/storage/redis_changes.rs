//! Scheduler changes over Redis pub/sub: every replica on the same Redis and key prefix hears of
//! every change, so that each forgets what its caches remember of the scheduler (e.g. whether
//! it accepts tokenless pings) at once instead of when the cached answer expires.
//!
//! One channel, `PREFIX:scheduler-changes`; a message is a scheduler's name. The subscriber holds
//! its own connection, pings it now and then to notice a dead one, and reconnects with backoff;
//! after a reconnection it forgets everything, as messages may have been missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use app::ports::{SchedulerCache, SchedulerChanges, StoreError};
use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::redis_connection::{self, redis_error};
use crate::config::mask_password;

/// How often an idle subscription checks its connection.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long a ping or a connection attempt may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Waits between reconnection attempts: doubling from the first up to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long `subscribe` waits for the first subscription before returning anyway.
const FIRST_SUBSCRIPTION: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct RedisSchedulerChanges {
    client: redis::Client,
    connection: ConnectionManager,
    channel: String,
    url: String,
}

impl RedisSchedulerChanges {
    /// Connects to `url`; the channel is `key_prefix:scheduler-changes`.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let (client, connection) = redis_connection::connect(url).await?;
        Ok(Self {
            client,
            connection,
            channel: format!("{key_prefix}:scheduler-changes"),
            url: mask_password(url),
        })
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Starts the subscriber: for every change published on this channel (by any process,
    /// this one included), `forget` on each of `caches`. Returns once subscribed (or after a
    /// few seconds of trying; it keeps trying in the background). The task runs until aborted.
    pub async fn subscribe(&self, caches: Vec<Arc<dyn SchedulerCache>>) -> JoinHandle<()> {
        let (subscribed, first) = oneshot::channel();
        let task = tokio::spawn(listen(self.clone(), caches, subscribed));
        if tokio::time::timeout(FIRST_SUBSCRIPTION, first)
            .await
            .is_err()
        {
            tracing::warn!(redis = %self.url, channel = %self.channel,
                "not subscribed to scheduler changes yet; still trying");
        }
        task
    }

    /// One subscription until its connection fails: `Ok` never, `Err` why it ended.
    async fn follow(
        &self,
        caches: &[Arc<dyn SchedulerCache>],
        subscribed: &mut Option<oneshot::Sender<()>>,
        reconnected: bool,
    ) -> Result<(), String> {
        let pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(TIMEOUT, sink.subscribe(&self.channel))
            .await
            .map_err(|_| "subscribing timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if reconnected {
            // Changes published while no connection listened are lost: forget everything.
            for cache in caches {
                cache.forget_all();
            }
            tracing::info!(channel = %self.channel, "subscribed to scheduler changes again");
        }
        if let Some(subscribed) = subscribed.take() {
            let _ = subscribed.send(());
        }
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return Err("the connection closed".to_string());
                    };
                    match message.get_payload::<String>() {
                        Ok(scheduler) => {
                            for cache in caches {
                                cache.forget(&scheduler);
                            }
                        }
                        Err(err) => tracing::warn!(%err, "unreadable scheduler change"),
                    }
                }
                _ = tokio::time::sleep(KEEPALIVE) => {
                    tokio::time::timeout(TIMEOUT, sink.ping::<redis::Value>())
                        .await
                        .map_err(|_| "a keepalive ping timed out".to_string())?
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
}

/// Follows the channel for ever, reconnecting with backoff; never panics.
async fn listen(
    changes: RedisSchedulerChanges,
    caches: Vec<Arc<dyn SchedulerCache>>,
    subscribed: oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    let mut backoff = BACKOFF_FIRST;
    let mut reconnected = false;
    loop {
        let started = tokio::time::Instant::now();
        if let Err(reason) = changes.follow(&caches, &mut subscribed, reconnected).await {
            tracing::warn!(redis = %changes.url, channel = %changes.channel, %reason,
                "scheduler changes subscription lost; reconnecting");
        }
        // A subscription that lasted a while starts the backoff over.
        if started.elapsed() > BACKOFF_MAX * 2 {
            backoff = BACKOFF_FIRST;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
        reconnected = true;
    }
}

#[async_trait]
impl SchedulerChanges for RedisSchedulerChanges {
    async fn publish(&self, scheduler: &str) -> Result<(), StoreError> {
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(scheduler)
            .query_async::<i64>(&mut self.connection.clone())
            .await
            .map(|_| ())
            .map_err(redis_error)
    }
}
