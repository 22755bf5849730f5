//! The seed's trigger lists (`up` and `down`): the first trigger whose usage points match decides.

use super::super::config::ScalingDirection;
use super::super::policy::trigger_policy;
use super::{Cap, Decision, Direction, Evaluation, Reason, bounded, in_cooldown, points_needed};

/// The seed's trigger lists: up first, then down; in each, the first trigger whose points match.
pub(super) fn trigger_lists(e: &Evaluation) -> Option<Decision> {
    let mut up_matched = false;
    if let Some(up) = &e.config.up {
        match first_match(e, up, Direction::Up) {
            Matched::Scale(decision) => return Some(*decision),
            Matched::NoChange => return None,
            Matched::Blocked => up_matched = true,
            Matched::None => {}
        }
    }
    // High usage that the cooldown holds back must not turn into a downscale.
    if up_matched {
        return None;
    }
    match e
        .config
        .down
        .as_ref()
        .map(|down| first_match(e, down, Direction::Down))
    {
        Some(Matched::Scale(decision)) => Some(*decision),
        _ => None,
    }
}

enum Matched {
    /// A trigger matched and changes the desired count.
    Scale(Box<Decision>),
    /// A trigger matched, but its formula or the caps leave the count as it is.
    NoChange,
    /// Triggers matched but the cooldown holds them back.
    Blocked,
    None,
}

fn first_match(e: &Evaluation, list: &ScalingDirection, direction: Direction) -> Matched {
    let mut blocked = false;
    for (index, trigger) in list.metrics_trigger.iter().enumerate() {
        let Some(policy) = trigger_policy(&trigger.r#type) else {
            continue;
        };
        let points = e.points_of(trigger);
        if points.len() < points_needed(trigger, e.period_seconds) {
            continue; // not enough history yet
        }
        let usage = trigger.usage as f64;
        let beyond = points
            .iter()
            .filter(|&&p| match direction {
                Direction::Up => p > usage,
                Direction::Down => p < usage,
            })
            .count();
        if (beyond as i64) * 100 < trigger.threshold * points.len() as i64 {
            continue;
        }
        let utilization = policy.utilization(e.load);
        let mut over_limit = false;
        if in_cooldown(e.state, list.cooldown, e.now) {
            over_limit = direction == Direction::Up
                && trigger
                    .limit
                    .zip(utilization)
                    .is_some_and(|(limit, now)| now >= limit as f64);
            if !over_limit {
                blocked = true;
                continue;
            }
        }
        let Some(delta) = policy.delta(trigger, e.load) else {
            continue;
        };
        let wanted = e.load.total() as i64 + delta;
        let (to, cap) = bounded(e.config, wanted);
        let from = e.state.desired;
        let changes = match direction {
            Direction::Up => to > from,
            Direction::Down => to < from,
        };
        if !changes {
            return Matched::NoChange;
        }
        let side = match direction {
            Direction::Up => "above",
            Direction::Down => "below",
        };
        let summary = format!(
            "{direction:?} trigger {index} ({}): {beyond} of {} points {side} {}% (threshold {}%){}; delta {delta:+} on {} rooms -> {wanted}{}",
            trigger.r#type,
            points.len(),
            trigger.usage,
            trigger.threshold,
            if over_limit {
                ", over limit during cooldown"
            } else {
                ""
            },
            e.load.total(),
            match cap {
                Some(Cap::Min) => format!(", raised to min {}", e.config.min),
                Some(Cap::Max) => format!(", capped at max {}", e.config.max),
                None => String::new(),
            }
        );
        return Matched::Scale(Box::new(e.decision(
            to,
            wanted,
            cap,
            Reason::Trigger {
                direction,
                index,
                trigger: trigger.clone(),
                points: points.to_vec(),
                beyond,
                over_limit_in_cooldown: over_limit,
            },
            utilization,
            summary,
        )));
    }
    if blocked {
        Matched::Blocked
    } else {
        Matched::None
    }
}

#[cfg(test)]
mod tests;
