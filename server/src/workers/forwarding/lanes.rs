//! One lane per forwarder: a bounded queue (drop-oldest) and a worker that delivers in order,
//! each call bounded by the forwarder's timeout, failures retried with backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::forwarding::ForwardedEvent;
use app::domain::scheduler::Forwarder as ForwarderConfig;
use app::ports::Forwarder;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{ForwarderFactory, ForwardingOptions};
use crate::observability::Metrics;

/// What identifies a lane: a changed forwarder gets a new one.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct LaneKey {
    scheduler: String,
    name: String,
    r#type: String,
    address: String,
    timeout: i64,
    secret: Option<String>,
}

struct Lane {
    queue: Mutex<VecDeque<ForwardedEvent>>,
    ready: Notify,
    capacity: usize,
}

/// The lanes of this process; dropping it stops every worker.
pub struct Lanes {
    lanes: HashMap<LaneKey, Arc<Lane>>,
    workers: JoinSet<()>,
    metrics: Arc<Metrics>,
    factory: ForwarderFactory,
    capacity: usize,
    retries: u32,
}

/// The deadline of one call: the options' timeout in ms (1 s when not positive, at most 60 s).
pub fn deadline(forwarder: &ForwarderConfig) -> Duration {
    let millis = if forwarder.options.timeout > 0 {
        forwarder.options.timeout.min(60_000)
    } else {
        1000
    };
    Duration::from_millis(millis as u64)
}

/// The wait before retry `attempt` (0-based): 100 ms, doubling, at most 2 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(10)).min(2000))
}

impl Lanes {
    pub fn new(
        options: &ForwardingOptions,
        metrics: Arc<Metrics>,
        factory: ForwarderFactory,
    ) -> Self {
        Self {
            lanes: HashMap::new(),
            workers: JoinSet::new(),
            metrics,
            factory,
            capacity: options.forwarder_queue.max(1),
            retries: options.forwarder_retries,
        }
    }

    /// Queues `event` on the forwarder's lane, starting the lane's worker the first time.
    pub fn push(&mut self, scheduler: &str, forwarder: &ForwarderConfig, event: ForwardedEvent) {
        let key = LaneKey {
            scheduler: scheduler.to_string(),
            name: forwarder.name.clone(),
            r#type: forwarder.r#type.clone(),
            address: forwarder.address.clone(),
            timeout: forwarder.options.timeout,
            secret: forwarder.options.secret.clone(),
        };
        let lane = match self.lanes.get(&key) {
            Some(lane) => lane.clone(),
            None => {
                let lane = Arc::new(Lane {
                    queue: Mutex::new(VecDeque::new()),
                    ready: Notify::new(),
                    capacity: self.capacity,
                });
                let adapter = (self.factory)(forwarder);
                let worker = Worker {
                    lane: lane.clone(),
                    adapter,
                    deadline: deadline(forwarder),
                    retries: self.retries,
                    metrics: self.metrics.clone(),
                    scheduler: scheduler.to_string(),
                    name: forwarder.name.clone(),
                };
                self.workers.spawn(worker.run());
                self.lanes.insert(key, lane.clone());
                lane
            }
        };
        let kind = event.kind();
        let dropped = {
            let mut queue = lane.queue.lock().unwrap_or_else(|e| e.into_inner());
            let dropped = if queue.len() >= lane.capacity {
                queue.pop_front()
            } else {
                None
            };
            queue.push_back(event);
            dropped
        };
        lane.ready.notify_one();
        if let Some(dropped) = dropped {
            self.metrics
                .forwarding
                .count(scheduler, &forwarder.name, dropped.kind(), "dropped");
            tracing::warn!(
                scheduler,
                forwarder = forwarder.name,
                kind,
                "forwarder queue full: oldest event dropped"
            );
        }
    }
}

struct Worker {
    lane: Arc<Lane>,
    adapter: Result<Arc<dyn Forwarder>, app::ports::ForwardError>,
    deadline: Duration,
    retries: u32,
    metrics: Arc<Metrics>,
    scheduler: String,
    name: String,
}

impl Worker {
    async fn run(self) {
        loop {
            let next = self
                .lane
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next {
                Some(event) => self.deliver(&event).await,
                None => self.lane.ready.notified().await,
            }
        }
    }

    async fn deliver(&self, event: &ForwardedEvent) {
        let count = |outcome: &str| {
            self.metrics
                .forwarding
                .count(&self.scheduler, &self.name, event.kind(), outcome)
        };
        let adapter = match &self.adapter {
            Ok(adapter) => adapter,
            Err(err) => {
                tracing::warn!(%err, forwarder = self.name, "forwarder unusable");
                count("failure");
                return;
            }
        };
        for attempt in 0..=self.retries {
            let error = match tokio::time::timeout(self.deadline, adapter.send(event)).await {
                Ok(Ok(())) => {
                    count("success");
                    return;
                }
                Ok(Err(err)) => err.to_string(),
                Err(_) => format!("no answer within {} ms", self.deadline.as_millis()),
            };
            if attempt < self.retries {
                count("retry");
                tracing::debug!(
                    error,
                    forwarder = self.name,
                    attempt,
                    "forwarding failed, retrying"
                );
                tokio::time::sleep(backoff(attempt)).await;
            } else {
                tracing::warn!(
                    error,
                    forwarder = self.name,
                    kind = event.kind(),
                    "forwarding failed"
                );
            }
        }
        count("failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        let waits: Vec<u64> = (0..7).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn the_deadline_is_the_options_timeout_within_bounds() {
        let mut f = ForwarderConfig::default();
        f.options.timeout = 250;
        assert_eq!(deadline(&f), Duration::from_millis(250));
        f.options.timeout = 0;
        assert_eq!(deadline(&f), Duration::from_secs(1));
        f.options.timeout = 10_000_000;
        assert_eq!(deadline(&f), Duration::from_secs(60));
    }
}
