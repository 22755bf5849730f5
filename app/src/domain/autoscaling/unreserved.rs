//! zeuz's unreserved-payload rule (`MinUnreservedPayloads`, `MaxUnreservedPayloads`) as the
//! `unreservedRooms` target policy: keep the rooms that can still take a match between a minimum
//! and a maximum.
//!
//! Free rooms are every live room that is not occupied (ready, and pending or unready ones that
//! will be ready: counting only ready rooms would ask again for rooms already starting at every
//! period). For multi-match rooms they are the spare match capacity in whole rooms,
//! `floor((rooms * maxMatches - runningMatches) / maxMatches)`, which is `rooms - occupied`.
//! Below `min` the scheduler grows by the shortfall, above `max` it shrinks by the excess (so
//! never below the occupied rooms), otherwise it keeps its rooms.

use super::policy::Load;
use super::target::Target;

/// Rooms that can still take a match.
pub(super) fn free_rooms(load: &Load) -> u64 {
    load.total().saturating_sub(load.occupied())
}

pub(super) fn unreserved_target(min: i64, max: i64, load: &Load) -> Option<Target> {
    if min < 0 || max < min {
        return None;
    }
    let total = i64::try_from(load.total()).ok()?;
    let free = i64::try_from(free_rooms(load)).ok()?;
    let (desired, verdict) = if free < min {
        (
            total + (min - free),
            format!("below min {min}, grow by {}", min - free),
        )
    } else if free > max {
        (
            total - (free - max),
            format!("above max {max}, shrink by {}", free - max),
        )
    } else {
        (total, format!("within {min}..{max}, keep"))
    };
    Some(Target {
        desired,
        may_scale_down: true,
        summary: format!("unreservedRooms: {free} free of {total} rooms, {verdict} -> {desired}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::room::RoomCounts;

    fn load(pending: u64, ready: u64, occupied: u64) -> Load {
        Load {
            rooms: RoomCounts {
                pending,
                ready,
                occupied,
                ..RoomCounts::default()
            },
            max_matches: 1,
            ..Load::default()
        }
    }

    #[test]
    fn grows_by_the_shortfall_shrinks_by_the_excess_and_keeps_in_between() {
        // (pending, ready, occupied) with min 4, max 6 -> desired
        let table = [
            ((0, 1, 7), 11), // 1 free: grow by 3
            ((0, 0, 0), 4),  // nothing at all: min rooms
            ((0, 5, 3), 8),  // 5 free: keep
            ((0, 4, 3), 7),  // exactly min: keep
            ((0, 6, 3), 9),  // exactly max: keep
            ((0, 10, 3), 9), // 10 free: shrink by 4
            ((3, 1, 2), 6),  // starting rooms count as free: keep, not grow again
            ((0, 9, 0), 6),  // no occupied rooms: down to max
        ];
        for ((pending, ready, occupied), desired) in table {
            let t = unreserved_target(4, 6, &load(pending, ready, occupied)).unwrap();
            assert_eq!(t.desired, desired, "{pending}/{ready}/{occupied}");
            assert!(t.may_scale_down);
        }
    }

    #[test]
    fn never_shrinks_below_the_occupied_rooms() {
        let t = unreserved_target(0, 0, &load(0, 5, 7)).unwrap();
        assert_eq!(t.desired, 7);
    }

    #[test]
    fn multi_match_rooms_count_spare_capacity_in_whole_rooms() {
        // 5 rooms of 3 matches, 7 running: 8 spare matches, 2 whole rooms free.
        let mut l = load(0, 0, 5);
        l.max_matches = 3;
        l.running_matches = 7;
        assert_eq!(free_rooms(&l), 2);
        assert_eq!(unreserved_target(4, 6, &l).unwrap().desired, 7);
        l.running_matches = 0;
        assert_eq!(free_rooms(&l), 5);
        assert_eq!(unreserved_target(1, 2, &l).unwrap().desired, 2);
    }

    #[test]
    fn refuses_a_range_validation_would_refuse() {
        assert!(unreserved_target(5, 4, &load(0, 1, 1)).is_none());
        assert!(unreserved_target(-1, 4, &load(0, 1, 1)).is_none());
    }
}

/// Through the evaluation the server runs: after the scheduler's caps, the free rooms are within
/// `[min, max]` whenever the caps allow it, and the rooms within the caps always.
#[cfg(test)]
mod props {
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    use super::super::config::{Autoscaling, PolicyConfig, PolicyParameters};
    use super::super::evaluate::{AutoscalerState, Evaluation, Points, step};
    use super::*;
    use crate::domain::room::RoomCounts;

    fn load() -> impl Strategy<Value = Load> {
        (0u64..30, 0u64..30, 0u64..30, 1u64..5, 0u64..=100).prop_map(
            |(pending, ready, occupied, max_matches, busy)| {
                let rooms = RoomCounts {
                    pending,
                    ready,
                    occupied,
                    ..RoomCounts::default()
                };
                // Multi-match rooms run up to every match of every room.
                let running_matches = rooms.live() * max_matches * busy / 100;
                Load {
                    rooms,
                    running_matches,
                    max_matches,
                    ..Load::default()
                }
            },
        )
    }

    proptest! {
        #[test]
        fn free_rooms_end_within_the_range_whenever_the_caps_allow(
            load in load(),
            min in 0i64..20,
            width in 0i64..20,
            cap_min in 0i64..60,
            cap_width in prop_oneof![Just(None), (0i64..60).prop_map(Some)],
        ) {
            let max = min + width;
            let cap_max = cap_width.map_or(0, |w| cap_min + w.max(1));
            let config = Autoscaling {
                enabled: true,
                min: cap_min,
                max: cap_max,
                cooldown: 0,
                policy: Some(PolicyConfig {
                    r#type: "unreservedRooms".into(),
                    parameters: PolicyParameters::unreserved_rooms(min, max),
                }),
                up: None,
                down: None,
                enable_panic_scale: false,
                requests: None,
            };
            let mut state = AutoscalerState {
                desired: u32::try_from(load.total()).unwrap(),
                last_scaled_at: None,
                occupied: 0,
            };
            // A count outside the caps is first brought within them, then the policy applies.
            for _ in 0..2 {
                state = step(&Evaluation {
                    config: &config,
                    state: &state,
                    load: &load,
                    points: &Points::new(),
                    period_seconds: 10.0,
                    now: DateTime::<Utc>::UNIX_EPOCH,
                    at_period: true,
                })
                .0;
            }
            let desired = i64::from(state.desired);
            prop_assert!(desired >= cap_min);
            prop_assert!(cap_max == 0 || desired <= cap_max);
            let occupied = load.occupied() as i64;
            let caps_allow = cap_min <= occupied + max && (cap_max == 0 || cap_max >= occupied + min);
            if caps_allow {
                let free = desired - occupied;
                prop_assert!((min..=max).contains(&free), "{free} free, range {min}..{max}");
            }
        }
    }
}
