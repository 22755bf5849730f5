//! The `room` trigger: the share of rooms that are occupied.

use super::config::MetricsTrigger;
use super::policy::{Load, ScalingPolicy};

pub struct RoomUsage;

impl ScalingPolicy for RoomUsage {
    fn utilization(&self, load: &Load) -> Option<f64> {
        let total = load.total();
        (total > 0).then(|| load.occupied() as f64 * 100.0 / total as f64)
    }

    /// `roomsOccupied / (totalRooms + delta) = usage / 100`, so
    /// `delta = round((roomsOccupied * 100 - usage * totalRooms) / usage)`.
    fn delta(&self, trigger: &MetricsTrigger, load: &Load) -> Option<i64> {
        if trigger.usage <= 0 {
            return None;
        }
        let occupied = load.occupied() as f64;
        let total = load.total() as f64;
        let usage = trigger.usage as f64;
        Some(((occupied * 100.0 - usage * total) / usage).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::room::RoomCounts;

    fn load(ready: u64, occupied: u64) -> Load {
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

    fn trigger(usage: i64) -> MetricsTrigger {
        MetricsTrigger {
            r#type: "room".into(),
            usage,
            threshold: 80,
            time: 60,
            limit: None,
        }
    }

    #[test]
    fn the_seed_formula() {
        // (occupied, ready, usage) -> delta, worked by hand from the seed's formula.
        let table = [
            // 8 of 10 occupied, target 70%: 8/(10+d) = 0.7 -> d = 1.43 -> 1
            (8, 2, 70, 1),
            // 9 of 10 at 50%: 18 rooms wanted -> +8
            (9, 1, 50, 8),
            // 2 of 10 at 50%: 4 rooms wanted -> -6
            (2, 8, 50, -6),
            // nothing occupied: every room is surplus
            (0, 5, 60, -5),
            // exactly at target: no change
            (6, 4, 60, 0),
            // 7 of 10 at 60%: 11.67 -> +2 (rounding half away from zero)
            (7, 3, 60, 2),
        ];
        for (occupied, ready, usage, delta) in table {
            assert_eq!(
                RoomUsage.delta(&trigger(usage), &load(ready, occupied)),
                Some(delta),
                "occupied {occupied}, ready {ready}, usage {usage}"
            );
        }
    }

    #[test]
    fn utilization_is_the_occupied_share() {
        assert_eq!(RoomUsage.utilization(&load(3, 1)), Some(25.0));
        assert_eq!(RoomUsage.utilization(&load(0, 0)), None);
    }

    #[test]
    fn multi_match_rooms_count_the_rooms_their_matches_fill() {
        let mut l = load(4, 0);
        l.max_matches = 4;
        l.running_matches = 5; // two rooms' worth
        l.rooms.occupied = 2;
        l.rooms.ready = 2;
        assert_eq!(l.occupied(), 2);
        assert_eq!(RoomUsage.utilization(&l), Some(50.0));
    }
}
