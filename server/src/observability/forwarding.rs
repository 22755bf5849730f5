//! Forwarding outcomes: `baton_forwarded_events_total{scheduler, forwarder, kind, outcome}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForwardLabels {
    scheduler: String,
    /// The forwarder's name (empty for events dropped before a forwarder was chosen).
    forwarder: String,
    /// `roomStatus`, `roomResync`, `roomEvent`, `playerEvent`.
    kind: String,
    /// `success`, `failure` (after the retries), `retry`, `dropped` (a full queue).
    outcome: String,
}

#[derive(Debug)]
pub struct ForwardingMetrics {
    events: Family<ForwardLabels, Counter>,
}

impl ForwardingMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let events = Family::<ForwardLabels, Counter>::default();
        registry.register(
            "forwarded_events",
            "Events sent to schedulers' forwarders, by scheduler, forwarder, kind and outcome",
            events.clone(),
        );
        Self { events }
    }

    pub fn count(&self, scheduler: &str, forwarder: &str, kind: &str, outcome: &str) {
        self.events
            .get_or_create(&ForwardLabels {
                scheduler: scheduler.to_string(),
                forwarder: forwarder.to_string(),
                kind: kind.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }
}
