//! The process's metrics, in a registry of its own (not a global one: several servers in one
//! test process keep apart), rendered in the Prometheus text format. Names follow Maestro's
//! (`maestro_` becomes `baton_`) where Maestro has the concept; label values are bounded (route
//! templates, scheduler and game names, statuses; never a room id).

use std::time::Duration;

use app::domain::health::HealthPlan;
use app::domain::operation::Operation;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::forwarding::ForwardingMetrics;
use super::rooms::RoomGauges;

/// Seconds, for requests and runtime calls.
const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Milliseconds: Maestro's `DefBucketsMs`, and longer ones for operations that take minutes.
const MILLISECONDS: [f64; 15] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0,
    300000.0, 1800000.0,
];

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS)
}

fn milliseconds_histogram() -> Histogram {
    Histogram::new(MILLISECONDS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template (`/scheduler/{scheduler}/rooms/{room}/ping`), or `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    scheduler: String,
    /// The definition's Maestro name (`add_rooms`, ...).
    operation: String,
    /// `finished`, `error`, `canceled`, `evicted`.
    status: String,
    /// Maestro's label: `true` when it finished.
    success: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    scheduler: String,
    /// `create`, `remove`, `forget`, `stop_orphan`.
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuntimeLabels {
    /// The `Runtime` port's method.
    pub call: String,
    /// `ok`, or the error's kind: `rejected`, `unavailable`, `ports_exhausted`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    call: String,
}

/// Every metric of one Baton process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    operations: Family<OperationLabels, Histogram>,
    health_ticks: Family<OutcomeLabels, Histogram>,
    health_actions: Family<ActionLabels, Counter>,
    runtime_calls: Family<RuntimeLabels, Counter>,
    runtime_duration: Family<CallLabels, Histogram>,
    /// Rooms per scheduler as the health ticks of this process last saw them.
    pub rooms: RoomGauges,
    /// Events sent to forwarders, by outcome.
    pub forwarding: ForwardingMetrics,
    /// One scrape at a time: the room gauges are rewritten for each.
    rendering: std::sync::Mutex<()>,
}

impl Metrics {
    /// `rooms_stale_after`: how long a scheduler's room counts are shown after the last tick of
    /// this process recorded them (its lease moved, or it was deleted).
    pub fn new(rooms_stale_after: Duration) -> Self {
        let mut registry = Registry::with_prefix("baton");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, matched route and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<HttpLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method, matched route and status",
            http_duration.clone(),
        );
        let operations = Family::<OperationLabels, Histogram>::new_with_constructor(
            milliseconds_histogram as fn() -> _,
        );
        registry.register(
            "worker_operation_execution_latency",
            "Milliseconds from an operation's creation to its end, by definition and outcome",
            operations.clone(),
        );
        let health_ticks = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> _,
        );
        registry.register(
            "worker_health_tick_duration_seconds",
            "Duration of one health-controller tick of one scheduler (autoscaler included)",
            health_ticks.clone(),
        );
        let health_actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "worker_health_actions",
            "Rooms the health controller created, removed, forgot, and orphan instances it stopped",
            health_actions.clone(),
        );
        let runtime_calls = Family::<RuntimeLabels, Counter>::default();
        registry.register(
            "runtime_calls",
            "Calls to the runtime (local processes or Kubernetes), by method and outcome",
            runtime_calls.clone(),
        );
        let runtime_duration =
            Family::<CallLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        registry.register(
            "runtime_call_duration_seconds",
            "Duration of calls to the runtime, by method",
            runtime_duration.clone(),
        );
        let rooms = RoomGauges::new(&mut registry, rooms_stale_after);
        let forwarding = ForwardingMetrics::new(&mut registry);
        Self {
            registry,
            http_requests,
            http_duration,
            operations,
            health_ticks,
            health_actions,
            runtime_calls,
            runtime_duration,
            rooms,
            forwarding,
            rendering: std::sync::Mutex::new(()),
        }
    }

    /// One answered HTTP request.
    pub fn http_request(&self, labels: &HttpLabels, elapsed: Duration) {
        self.http_requests.get_or_create(labels).inc();
        self.http_duration
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
    }

    /// An operation reached a final status.
    pub fn operation_ended(&self, operation: &Operation, now: chrono::DateTime<chrono::Utc>) {
        let status = operation.status.as_str();
        let labels = OperationLabels {
            scheduler: operation.scheduler.clone(),
            operation: operation.definition.name().to_string(),
            status: status.to_string(),
            success: (status == "finished").to_string(),
        };
        let millis = (now - operation.created_at).num_milliseconds().max(0) as f64;
        self.operations.get_or_create(&labels).observe(millis);
    }

    /// One health tick of `scheduler` ended; `plan` is what it carried out (`None`: it failed).
    pub fn health_tick(&self, scheduler: &str, elapsed: Duration, plan: Option<&HealthPlan>) {
        let outcome = if plan.is_some() { "ok" } else { "error" };
        self.health_ticks
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .observe(elapsed.as_secs_f64());
        let Some(plan) = plan else {
            return;
        };
        let actions = [
            ("create", u64::from(plan.create)),
            ("remove", plan.remove.len() as u64),
            ("forget", plan.forget.len() as u64),
            ("stop_orphan", plan.orphans.len() as u64),
        ];
        for (action, count) in actions.into_iter().filter(|(_, n)| *n > 0) {
            self.health_actions
                .get_or_create(&ActionLabels {
                    scheduler: scheduler.to_string(),
                    action: action.to_string(),
                })
                .inc_by(count);
        }
    }

    /// One call to the runtime.
    pub fn runtime_call(&self, call: &'static str, outcome: &'static str, elapsed: Duration) {
        self.runtime_calls
            .get_or_create(&RuntimeLabels {
                call: call.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.runtime_duration
            .get_or_create(&CallLabels {
                call: call.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let _one_at_a_time = self.rendering.lock();
        self.rooms.refresh();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// How many calls to the runtime had this outcome (for tests).
    pub fn runtime_calls(&self, call: &str, outcome: &str) -> u64 {
        self.runtime_calls
            .get(&RuntimeLabels {
                call: call.to_string(),
                outcome: outcome.to_string(),
            })
            .map_or(0, |counter| counter.get())
    }
}
