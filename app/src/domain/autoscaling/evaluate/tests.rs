use super::fixtures::*;
use super::*;
use crate::domain::autoscaling::{PolicyConfig, PolicyParameters};

#[test]
fn min_and_max_are_hard_caps() {
    let mut capped = config(up60(), down50());
    capped.min = 6;
    capped.max = 12;
    let cases = [
        Case {
            name: "up capped at max",
            config: capped.clone(),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&[90.0; 6]),
            at_period: true,
            expect: 12,
        },
        Case {
            name: "down raised to min",
            config: capped.clone(),
            state: state(10, None),
            load: load(9, 1),
            points: room_points(&[10.0; 6]),
            at_period: true,
            expect: 6,
        },
        Case {
            name: "already at max: no decision",
            config: capped.clone(),
            state: state(12, None),
            load: load(1, 11),
            points: room_points(&[95.0; 6]),
            at_period: true,
            expect: 12,
        },
        Case {
            name: "a count outside the caps is corrected at once, even between points",
            config: capped.clone(),
            state: state(20, Some(10)),
            load: load(20, 0),
            points: Points::new(),
            at_period: false,
            expect: 12,
        },
        Case {
            name: "max 0 is unbounded",
            config: config(up60(), down50()),
            state: state(1000, None),
            load: load(0, 1000),
            points: room_points(&[100.0; 6]),
            at_period: true,
            // 1000 / 0.6 = 1666.7 -> 1667
            expect: 1667,
        },
    ];
    for case in &cases {
        run(case);
    }
    let up = run(&cases[0]).unwrap();
    assert_eq!((up.wanted, up.capped), (15, Some(Cap::Max)));
    let down = run(&cases[1]).unwrap();
    assert_eq!((down.wanted, down.capped), (2, Some(Cap::Min)));
}

#[test]
fn panic_scale_on_and_off() {
    let triggers = vec![trigger("room", 60, 80, 600, Some(80))];
    let mut on = config(triggers.clone(), down50());
    on.enable_panic_scale = true;
    let off = config(triggers, down50());
    let newly_occupied = |desired| AutoscalerState {
        desired,
        last_scaled_at: Some(t0() - Duration::seconds(10)),
        occupied: 8,
    };
    let cases = [
        Case {
            name: "on: a room turned occupied at 90% >= limit 80%: scale now, cooldown and all",
            config: on.clone(),
            state: newly_occupied(10),
            load: load(1, 9),
            points: Points::new(),
            at_period: false,
            expect: 15,
        },
        Case {
            name: "off (the default): nothing between points",
            config: off.clone(),
            state: newly_occupied(10),
            load: load(1, 9),
            points: Points::new(),
            at_period: false,
            expect: 10,
        },
        Case {
            name: "on, but below the limit: nothing",
            config: on.clone(),
            state: AutoscalerState {
                occupied: 6,
                ..newly_occupied(10)
            },
            load: load(3, 7),
            points: Points::new(),
            at_period: false,
            expect: 10,
        },
        Case {
            name: "on, but no room newly occupied: nothing",
            config: on,
            state: AutoscalerState {
                occupied: 9,
                ..newly_occupied(10)
            },
            load: load(1, 9),
            points: Points::new(),
            at_period: false,
            expect: 10,
        },
    ];
    for case in &cases {
        run(case);
    }
    assert!(matches!(
        run(&cases[0]).unwrap().reason,
        Reason::Panic { .. }
    ));
}

#[test]
fn target_policies_scale_down_after_their_cooldown_only() {
    let buffer = Autoscaling {
        min: 1,
        cooldown: 120,
        policy: Some(PolicyConfig {
            r#type: "fixedBuffer".into(),
            parameters: PolicyParameters::fixed_buffer(3),
        }),
        ..config(vec![], vec![])
    };
    let buffer = Autoscaling {
        up: None,
        down: None,
        ..buffer
    };
    let cases = [
        Case {
            name: "up at once, even right after a scaling",
            config: buffer.clone(),
            state: state(5, Some(10)),
            load: load(0, 5),
            points: Points::new(),
            at_period: true,
            expect: 8,
        },
        Case {
            name: "down held back during the cooldown",
            config: buffer.clone(),
            state: state(8, Some(10)),
            load: load(7, 1),
            points: Points::new(),
            at_period: true,
            expect: 8,
        },
        Case {
            name: "down after the cooldown",
            config: buffer,
            state: state(8, Some(121)),
            load: load(7, 1),
            points: Points::new(),
            at_period: true,
            expect: 4,
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn the_initial_count_is_rooms_replicas_within_the_caps() {
    let mut c = config(up60(), down50());
    c.min = 3;
    c.max = 8;
    assert_eq!(AutoscalerState::initial(&c, 1).desired, 3);
    assert_eq!(AutoscalerState::initial(&c, 5).desired, 5);
    assert_eq!(AutoscalerState::initial(&c, 50).desired, 8);
}
