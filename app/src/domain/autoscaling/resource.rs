//! The `cpu` and `mem` triggers: raw usage over requests, summed over the scheduler's rooms.

use super::config::MetricsTrigger;
use super::policy::{Load, ResourceLoad, ScalingPolicy};

pub struct ResourceUsage {
    pick: fn(&Load) -> Option<ResourceLoad>,
}

impl ResourceUsage {
    pub const CPU: Self = Self { pick: |l| l.cpu };
    pub const MEMORY: Self = Self { pick: |l| l.mem };
}

impl ScalingPolicy for ResourceUsage {
    /// `currentUsage = sum(raw usage) / sum(requests)`, in percent.
    fn utilization(&self, load: &Load) -> Option<f64> {
        let resource = (self.pick)(load)?;
        (resource.requested > 0.0).then(|| resource.used * 100.0 / resource.requested)
    }

    /// `targetNumberOfRooms = ceil(currentUsage / usage * totalRooms)`; the delta is the difference.
    fn delta(&self, trigger: &MetricsTrigger, load: &Load) -> Option<i64> {
        if trigger.usage <= 0 {
            return None;
        }
        let ratio = self.utilization(load)? / trigger.usage as f64;
        let total = load.total() as f64;
        // Tolerate float noise so an exact ratio does not round up a whole room.
        let target = (ratio * total - 1e-9).ceil().max(0.0) as i64;
        Some(target - load.total() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::room::RoomCounts;

    fn load(rooms: u64, used: f64, requested: f64) -> Load {
        Load {
            rooms: RoomCounts {
                ready: rooms,
                ..RoomCounts::default()
            },
            max_matches: 1,
            cpu: Some(ResourceLoad { used, requested }),
            mem: Some(ResourceLoad {
                used: used * 1e9,
                requested: requested * 1e9,
            }),
            ..Load::default()
        }
    }

    fn trigger(kind: &str, usage: i64) -> MetricsTrigger {
        MetricsTrigger {
            r#type: kind.into(),
            usage,
            threshold: 80,
            time: 60,
            limit: None,
        }
    }

    #[test]
    fn the_seed_formula() {
        // (rooms, used, requested, target usage) -> delta
        let table = [
            // 10 rooms at 90% of requests, target 60%: ceil(1.5 * 10) = 15 -> +5
            (10, 9.0, 10.0, 60, 5),
            // 10 rooms at 30%, target 60%: ceil(0.5 * 10) = 5 -> -5
            (10, 3.0, 10.0, 60, -5),
            // at target: no change
            (10, 6.0, 10.0, 60, 0),
            // 3 rooms at 70%, target 50%: ceil(1.4 * 3) = ceil(4.2) = 5 -> +2
            (3, 2.1, 3.0, 50, 2),
        ];
        for (rooms, used, requested, usage, delta) in table {
            for kind in ["cpu", "mem"] {
                let policy = if kind == "cpu" {
                    &ResourceUsage::CPU
                } else {
                    &ResourceUsage::MEMORY
                };
                assert_eq!(
                    policy.delta(&trigger(kind, usage), &load(rooms, used, requested)),
                    Some(delta),
                    "{kind}: {rooms} rooms, {used}/{requested}, usage {usage}"
                );
            }
        }
    }

    #[test]
    fn no_metrics_no_answer() {
        let mut l = load(3, 1.0, 3.0);
        l.cpu = None;
        assert_eq!(ResourceUsage::CPU.utilization(&l), None);
        assert_eq!(ResourceUsage::CPU.delta(&trigger("cpu", 50), &l), None);
        l.mem = Some(ResourceLoad {
            used: 1.0,
            requested: 0.0,
        });
        assert_eq!(ResourceUsage::MEMORY.utilization(&l), None);
    }
}
