//! Usage points: which ones a configuration records, and how many of them a trigger judges.

use std::collections::BTreeMap;

use super::super::config::{Autoscaling, MetricsTrigger};
use super::super::policy::{Load, trigger_policy};
use super::Evaluation;

/// Usage points in percent per trigger type, oldest first.
pub type Points = BTreeMap<String, Vec<f64>>;

/// How many of the latest points a trigger considers: `time / period`, at least one.
pub fn points_needed(trigger: &MetricsTrigger, period_seconds: f64) -> usize {
    let period = period_seconds.max(0.001);
    ((trigger.time.max(0) as f64 / period).ceil() as usize).max(1)
}

fn triggers(config: &Autoscaling) -> impl Iterator<Item = &MetricsTrigger> {
    [&config.up, &config.down]
        .into_iter()
        .flatten()
        .flat_map(|direction| &direction.metrics_trigger)
}

/// How many points per type the store must keep for this configuration.
pub fn points_to_keep(config: &Autoscaling, period_seconds: f64) -> usize {
    triggers(config)
        .map(|t| points_needed(t, period_seconds))
        .max()
        .unwrap_or(0)
}

/// The usage point of each trigger type the configuration uses, as of `load`.
/// Types that cannot be measured now (no rooms, no metrics) are left out.
pub fn usage_points(config: &Autoscaling, load: &Load) -> Vec<(String, f64)> {
    let mut points: Vec<(String, f64)> = Vec::new();
    for trigger in triggers(config) {
        if points.iter().any(|(kind, _)| *kind == trigger.r#type) {
            continue;
        }
        if let Some(usage) = trigger_policy(&trigger.r#type).and_then(|p| p.utilization(load)) {
            points.push((trigger.r#type.clone(), usage));
        }
    }
    points
}

/// Whether the configuration has trigger types measured from resources (cpu, mem).
pub fn uses_resources(config: &Autoscaling) -> bool {
    triggers(config).any(|t| t.r#type != "room")
}

impl Evaluation<'_> {
    pub(super) fn points_of(&self, trigger: &MetricsTrigger) -> &[f64] {
        let all = self
            .points
            .get(&trigger.r#type)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let needed = points_needed(trigger, self.period_seconds);
        &all[all.len().saturating_sub(needed)..]
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{config, load, trigger};
    use super::*;
    use crate::domain::autoscaling::ResourceLoad;

    #[test]
    fn points_and_keep() {
        let c = config(
            vec![trigger("room", 60, 80, 600, None)],
            vec![trigger("cpu", 50, 80, 900, None)],
        );
        assert_eq!(points_to_keep(&c, 30.0), 30);
        assert_eq!(points_needed(&trigger("room", 1, 1, 5, None), 30.0), 1);
        let l = Load {
            cpu: Some(ResourceLoad {
                used: 1.0,
                requested: 4.0,
            }),
            ..load(3, 1)
        };
        assert_eq!(
            usage_points(&c, &l),
            vec![("room".to_string(), 25.0), ("cpu".to_string(), 25.0)]
        );
        assert!(uses_resources(&c));
    }
}
