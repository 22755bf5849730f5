//! The autoscaler: asked by the health controller on every tick how many rooms a scheduler
//! wants. Every autoscaling period it records a usage point per trigger type; the decision
//! itself is the pure `app::domain::autoscaling::step`, and every change is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::autoscaling::{
    AutoscalerState, Autoscaling, Evaluation, Load, Points, ResourceLoad, points_to_keep, step,
    usage_points, uses_resources,
};
use app::domain::capacity::room_autoscaling;
use app::domain::quantity::parse_quantity;
use app::domain::room::{GameRoom, RoomCounts};
use app::domain::scheduler::{Resources, Scheduler};
use app::ports::{AutoscalerStore, StoreError};

use crate::runtimes::Runtimes;
use chrono::Utc;

pub struct Autoscaler {
    pub store: Arc<dyn AutoscalerStore>,
    /// Every region's runtime: usage is gathered from all.
    pub runtimes: Arc<Runtimes>,
    /// How often a usage point is recorded and the triggers are judged.
    pub period: Duration,
    /// When each scheduler last recorded a point.
    last_points: Mutex<HashMap<String, Instant>>,
}

/// Requests of one room for one resource: the autoscaling section's, else the sum over containers.
fn room_request(scheduler: &Scheduler, pick: fn(&Resources) -> &str) -> Option<f64> {
    let config = &scheduler.config;
    let scheduler_level = config
        .autoscaling
        .as_ref()
        .and_then(|a| a.requests.as_ref())
        .map(pick)
        .filter(|q| !q.is_empty());
    if let Some(quantity) = scheduler_level {
        return parse_quantity(quantity);
    }
    config
        .spec
        .containers
        .iter()
        .map(|c| c.requests.as_ref().map(pick).and_then(parse_quantity))
        .sum()
}

impl Autoscaler {
    pub fn new(store: Arc<dyn AutoscalerStore>, runtimes: Arc<Runtimes>, period: Duration) -> Self {
        Self {
            store,
            runtimes,
            period,
            last_points: Mutex::default(),
        }
    }

    /// Whether a point is due for the scheduler now (and, if so, marks it recorded).
    fn point_due(&self, scheduler: &str) -> bool {
        let mut last = self
            .last_points
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match last.get(scheduler) {
            Some(at) if now.duration_since(*at) < self.period => false,
            _ => {
                last.insert(scheduler.to_string(), now);
                true
            }
        }
    }

    /// The load as the autoscaler sees it; resource usage only when a trigger needs it.
    async fn load(
        &self,
        scheduler: &Scheduler,
        config: &Autoscaling,
        rooms: &[GameRoom],
        measure: bool,
    ) -> Load {
        let mut counts = RoomCounts::default();
        for room in rooms {
            counts.add(room.status);
        }
        let mut load = Load {
            rooms: counts,
            running_matches: rooms.iter().map(|r| u64::from(r.running_matches)).sum(),
            max_matches: scheduler.config.match_allocation.max_matches.max(1) as u64,
            cpu: None,
            mem: None,
        };
        if !(measure && uses_resources(config)) {
            return load;
        }
        let name = &scheduler.config.name;
        // Usage from every region's runtime; a region that does not answer is left out.
        let answers = futures::future::join_all(
            self.runtimes
                .all()
                .iter()
                .map(|r| async move { (r.region.as_str(), r.runtime.usage(name).await) }),
        )
        .await;
        let mut usage = Vec::new();
        let mut answered = false;
        for (region, answer) in answers {
            match answer {
                Ok(found) => {
                    answered = true;
                    usage.extend(found);
                }
                Err(err) => {
                    tracing::warn!(scheduler = %name, %region, %err, "measuring room usage failed")
                }
            }
        }
        if !answered {
            tracing::warn!(scheduler = %name, "no runtime measured room usage; cpu and mem triggers wait");
            return load;
        }
        let measured = usage.len() as f64;
        let resource = |used: f64, request: Option<f64>| {
            request.map(|r| ResourceLoad {
                used,
                requested: r * measured,
            })
        };
        load.cpu = resource(
            usage.iter().map(|u| u.cpu_cores).sum(),
            room_request(scheduler, |r| &r.cpu),
        );
        load.mem = resource(
            usage.iter().map(|u| u.memory_bytes).sum(),
            room_request(scheduler, |r| &r.memory),
        );
        load
    }

    /// How many rooms the scheduler wants now: its roomsReplicas without (enabled) autoscaling,
    /// else the autoscaler's answer, recording the decision when it changes.
    pub async fn desired(
        &self,
        scheduler: &Scheduler,
        rooms: &[GameRoom],
    ) -> Result<u32, StoreError> {
        let replicas = scheduler.config.rooms_replicas;
        // An enabled autoscaling section, else the capacity section's `ManagePayloads`.
        let Some(config) = room_autoscaling(&scheduler.config) else {
            return Ok(u32::try_from(replicas).unwrap_or(0));
        };
        let config: &Autoscaling = &config;
        let name = &scheduler.config.name;
        let state = match self.store.state(name).await? {
            Some(state) => state,
            None => AutoscalerState::initial(config, replicas),
        };
        let at_period = self.point_due(name);
        let load = self.load(scheduler, config, rooms, at_period).await;
        let period_seconds = self.period.as_secs_f64();
        let points = if at_period {
            let keep = points_to_keep(config, period_seconds);
            self.store
                .record_points(name, &usage_points(config, &load), keep)
                .await?
        } else {
            Points::new()
        };
        let (next, decision) = step(&Evaluation {
            config,
            state: &state,
            load: &load,
            points: &points,
            period_seconds,
            now: Utc::now(),
            at_period,
        });
        if let Some(decision) = &decision {
            tracing::info!(scheduler = %name, from = decision.from, to = decision.to, "{}", decision.summary);
        }
        if next != state {
            self.store.save(name, &next, decision.as_ref()).await?;
        }
        Ok(next.desired)
    }

    /// Forgets a deleted scheduler.
    pub async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        self.last_points
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(scheduler);
        self.store.forget(scheduler).await
    }
}
