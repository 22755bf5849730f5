//! One evaluation of a scheduler's autoscaling: from its configuration, its state, its load and
//! its recorded usage points to the next desired room count, and the decision that explains it.

mod decision;
mod points;
mod triggers;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, Utc};

use super::config::{Autoscaling, PolicyConfig};
use super::policy::trigger_policy;
use super::target::target;
use triggers::trigger_lists;

pub use decision::{AutoscalerState, Cap, Decision, Direction, Evaluation, Reason};
pub use points::{Points, points_needed, points_to_keep, usage_points, uses_resources};

/// `wanted` within min and max (max 0 is unbounded), and which cap applied.
fn bounded(config: &Autoscaling, wanted: i64) -> (u32, Option<Cap>) {
    let min = config.min.max(0);
    if wanted < min {
        return (to_count(min), Some(Cap::Min));
    }
    if config.max > 0 && wanted > config.max {
        return (to_count(config.max), Some(Cap::Max));
    }
    (to_count(wanted), None)
}

fn to_count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn in_cooldown(state: &AutoscalerState, cooldown_seconds: i64, now: DateTime<Utc>) -> bool {
    state
        .last_scaled_at
        .is_some_and(|at| now < at + Duration::seconds(cooldown_seconds.max(0)))
}

/// The next state, and the decision when the desired count changes.
pub fn step(e: &Evaluation) -> (AutoscalerState, Option<Decision>) {
    let decision = decide(e);
    let mut next = e.state.clone();
    next.occupied = e.load.occupied();
    if let Some(d) = &decision {
        next.desired = d.to;
        next.last_scaled_at = Some(e.now);
    }
    (next, decision)
}

fn decide(e: &Evaluation) -> Option<Decision> {
    let from = e.state.desired;
    let (inside, cap) = bounded(e.config, i64::from(from));
    if inside != from {
        let summary = format!(
            "{from} rooms is outside min {} and max {}",
            e.config.min, e.config.max
        );
        return Some(e.decision(inside, i64::from(from), cap, Reason::Bounds, None, summary));
    }
    if let Some(panic) = panic_scale(e) {
        return Some(panic);
    }
    if !e.at_period {
        return None;
    }
    match &e.config.policy {
        Some(policy) => target_policy(e, policy),
        None => trigger_lists(e),
    }
}

/// A room newly occupied with occupancy at or above the first up trigger's `limit` scales up at
/// once, cooldown or not; only with `enablePanicScale`.
fn panic_scale(e: &Evaluation) -> Option<Decision> {
    if !e.config.enable_panic_scale || e.load.occupied() <= e.state.occupied {
        return None;
    }
    let room = trigger_policy("room")?;
    let up = e.config.up.as_ref()?;
    let (index, trigger) = up
        .metrics_trigger
        .iter()
        .enumerate()
        .find(|(_, t)| t.limit.is_some())?;
    let limit = trigger.limit? as f64;
    let occupancy = room.utilization(e.load)?;
    if occupancy < limit {
        return None;
    }
    let wanted = e.load.total() as i64 + room.delta(trigger, e.load)?.max(1);
    let (to, cap) = bounded(e.config, wanted);
    (to > e.state.desired).then(|| {
        let summary = format!(
            "panic scale: occupancy {occupancy:.1}% reached limit {limit}% of up trigger {index}; {} -> {to}",
            e.state.desired
        );
        e.decision(
            to,
            wanted,
            cap,
            Reason::Panic {
                index,
                trigger: trigger.clone(),
            },
            Some(occupancy),
            summary,
        )
    })
}

fn target_policy(e: &Evaluation, policy: &PolicyConfig) -> Option<Decision> {
    let answer = target(policy, e.load)?;
    let (to, cap) = bounded(e.config, answer.desired);
    let from = e.state.desired;
    let down_blocked = !answer.may_scale_down || in_cooldown(e.state, e.config.cooldown, e.now);
    if to == from || (to < from && down_blocked) {
        return None;
    }
    let utilization = trigger_policy("room").and_then(|p| p.utilization(e.load));
    let summary = format!("{}; {from} -> {to}", answer.summary);
    Some(e.decision(
        to,
        answer.desired,
        cap,
        Reason::Policy {
            policy: policy.r#type.clone(),
        },
        utilization,
        summary,
    ))
}
