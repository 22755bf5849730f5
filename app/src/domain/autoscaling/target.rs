//! Target policies: Maestro v10's `roomOccupancy`, Agones' `fixedBuffer` and zeuz's
//! `unreservedRooms` (in [`super::unreserved`]). They compute the desired number of rooms
//! directly from the load, with no usage points.

use super::config::PolicyConfig;
use super::policy::Load;
use super::unreserved::unreserved_target;

/// A target policy's answer.
pub(super) struct Target {
    pub desired: i64,
    /// Whether the load is low enough for a downscale to be allowed.
    pub may_scale_down: bool,
    pub summary: String,
}

pub(super) fn target(policy: &PolicyConfig, load: &Load) -> Option<Target> {
    let occupied = load.occupied();
    match policy.r#type.as_str() {
        // Keep `readyTarget` of all rooms ready: desired = ceil(occupied / (1 - readyTarget)),
        // and at least one ready room. Scale down only when the occupied share falls below
        // (1 - readyTarget) * downThreshold, so small dips do not shrink the scheduler.
        "roomOccupancy" => {
            let ready_target = policy.parameters.ready_target()?;
            let down_threshold = policy.parameters.down_threshold()?;
            if !(0.0..1.0).contains(&ready_target) {
                return None;
            }
            let wanted = (occupied as f64 / (1.0 - ready_target) - 1e-9).ceil() as i64;
            let desired = wanted.max(occupied as i64 + 1);
            let total = load.total();
            let occupancy = if total == 0 {
                0.0
            } else {
                occupied as f64 / total as f64
            };
            let floor = (1.0 - ready_target) * down_threshold;
            Some(Target {
                desired,
                may_scale_down: occupancy < floor,
                summary: format!(
                    "roomOccupancy: {occupied} occupied / (1 - readyTarget {ready_target}) -> {desired}; occupancy {:.1}% vs down floor {:.1}%",
                    occupancy * 100.0,
                    floor * 100.0
                ),
            })
        }
        // Keep `amount` ready rooms on top of the occupied ones.
        "fixedBuffer" => {
            let amount = policy.parameters.amount()?;
            let desired = occupied as i64 + amount;
            Some(Target {
                desired,
                may_scale_down: true,
                summary: format!("fixedBuffer: {occupied} occupied + {amount} buffer -> {desired}"),
            })
        }
        "unreservedRooms" => {
            let (min, max) = policy.parameters.unreserved_range()?;
            unreserved_target(min, max, load)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::autoscaling::PolicyParameters;
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

    fn occupancy(ready_target: f64, down_threshold: f64) -> PolicyConfig {
        PolicyConfig {
            r#type: "roomOccupancy".into(),
            parameters: PolicyParameters::room_occupancy(ready_target, down_threshold),
        }
    }

    #[test]
    fn room_occupancy_keeps_the_ready_share() {
        // (ready, occupied, readyTarget) -> desired
        let table = [
            (2, 8, 0.5, 16),
            (5, 5, 0.5, 10),
            (0, 10, 0.2, 13), // 10 / 0.8 = 12.5 -> 13
            (3, 0, 0.5, 1),   // at least one ready room
            (1, 3, 0.25, 4),  // 3 / 0.75 = 4 exactly
        ];
        for (ready, occupied, ready_target, desired) in table {
            let t = target(&occupancy(ready_target, 0.99), &load(ready, occupied)).unwrap();
            assert_eq!(
                t.desired, desired,
                "{ready} ready, {occupied} occupied, {ready_target}"
            );
        }
    }

    #[test]
    fn room_occupancy_scales_down_only_below_the_threshold() {
        // readyTarget 0.5: the occupied share must fall below 0.5 * 0.9 = 45%.
        let policy = occupancy(0.5, 0.9);
        assert!(!target(&policy, &load(11, 9)).unwrap().may_scale_down); // 45%
        assert!(target(&policy, &load(12, 8)).unwrap().may_scale_down); // 40%
    }

    #[test]
    fn room_occupancy_with_multi_match_rooms() {
        let mut l = load(2, 2);
        l.max_matches = 3;
        l.running_matches = 6; // 2 full rooms
        let t = target(&occupancy(0.5, 0.99), &l).unwrap();
        assert_eq!(t.desired, 4);
    }

    #[test]
    fn fixed_buffer_keeps_amount_ready() {
        let policy = PolicyConfig {
            r#type: "fixedBuffer".into(),
            parameters: PolicyParameters::fixed_buffer(5),
        };
        assert_eq!(target(&policy, &load(1, 7)).unwrap().desired, 12);
        assert_eq!(target(&policy, &load(9, 0)).unwrap().desired, 5);
    }
}
