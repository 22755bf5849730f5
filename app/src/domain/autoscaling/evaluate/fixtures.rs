//! Builders shared by the evaluation tests.

use chrono::{DateTime, Duration, Utc};

use super::super::config::{Autoscaling, MetricsTrigger, ScalingDirection};
use super::super::policy::Load;
use super::{AutoscalerState, Decision, Evaluation, Points, step};
use crate::domain::room::RoomCounts;

pub(super) const PERIOD: f64 = 10.0;

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::days(1)
}

pub(super) fn trigger(
    kind: &str,
    usage: i64,
    threshold: i64,
    time: i64,
    limit: Option<i64>,
) -> MetricsTrigger {
    MetricsTrigger {
        r#type: kind.into(),
        usage,
        threshold,
        time,
        limit,
    }
}

pub(super) fn config(up: Vec<MetricsTrigger>, down: Vec<MetricsTrigger>) -> Autoscaling {
    Autoscaling {
        enabled: true,
        min: 1,
        max: 0,
        cooldown: 0,
        policy: None,
        up: Some(ScalingDirection {
            metrics_trigger: up,
            cooldown: 300,
        }),
        down: Some(ScalingDirection {
            metrics_trigger: down,
            cooldown: 300,
        }),
        enable_panic_scale: false,
        requests: None,
    }
}

pub(super) fn load(ready: u64, occupied: u64) -> Load {
    Load {
        rooms: RoomCounts {
            ready,
            occupied,
            ..RoomCounts::default()
        },
        max_matches: 1,
        ..Load::default()
    }
}

pub(super) fn state(desired: u32, scaled_ago: Option<i64>) -> AutoscalerState {
    AutoscalerState {
        desired,
        last_scaled_at: scaled_ago.map(|s| t0() - Duration::seconds(s)),
        occupied: 0,
    }
}

pub(super) fn room_points(values: &[f64]) -> Points {
    Points::from([("room".to_string(), values.to_vec())])
}

pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) config: Autoscaling,
    pub(super) state: AutoscalerState,
    pub(super) load: Load,
    pub(super) points: Points,
    pub(super) at_period: bool,
    /// The desired count after the evaluation (unchanged when no decision).
    pub(super) expect: u32,
}

pub(super) fn run(case: &Case) -> Option<Decision> {
    let (next, decision) = step(&Evaluation {
        config: &case.config,
        state: &case.state,
        load: &case.load,
        points: &case.points,
        period_seconds: PERIOD,
        now: t0(),
        at_period: case.at_period,
    });
    assert_eq!(next.desired, case.expect, "{}", case.name);
    assert_eq!(
        decision.is_some(),
        case.expect != case.state.desired,
        "{}",
        case.name
    );
    decision
}

pub(super) fn up60() -> Vec<MetricsTrigger> {
    // The seed's best practice: up at 60%, judged on 80% of 60 s of points (6 points).
    vec![trigger("room", 60, 80, 60, None)]
}

pub(super) fn down50() -> Vec<MetricsTrigger> {
    vec![trigger("room", 50, 80, 60, None)]
}
