use super::super::fixtures::*;
use crate::domain::autoscaling::{Load, Points, Reason, ResourceLoad};

#[test]
fn threshold_and_time_semantics() {
    let high = [90.0; 6];
    let cases = [
        Case {
            name: "all 6 points above usage: scale up with the room formula",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&high),
            at_period: true,
            // 9 occupied at 60% -> 15 rooms
            expect: 15,
        },
        Case {
            name: "5 of 6 above (83% >= 80%): scale up",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&[50.0, 90.0, 90.0, 90.0, 90.0, 90.0]),
            at_period: true,
            expect: 15,
        },
        Case {
            name: "4 of 6 above (67% < 80%): no scale",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&[50.0, 50.0, 90.0, 90.0, 90.0, 90.0]),
            at_period: true,
            expect: 10,
        },
        Case {
            name: "only the last time/period points count: older low points are ignored",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&[10.0, 10.0, 10.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0]),
            at_period: true,
            expect: 15,
        },
        Case {
            name: "fewer points than time/period: wait for history",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&[90.0; 5]),
            at_period: true,
            expect: 10,
        },
        Case {
            name: "points exactly at usage are not above it",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(4, 6),
            points: room_points(&[60.0; 6]),
            at_period: true,
            expect: 10,
        },
        Case {
            name: "down: points below usage scale down to the target usage",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(8, 2),
            points: room_points(&[20.0; 6]),
            at_period: true,
            // 2 occupied at 50% -> 4 rooms
            expect: 4,
        },
        Case {
            name: "between points nothing but caps and panic is evaluated",
            config: config(up60(), down50()),
            state: state(10, None),
            load: load(1, 9),
            points: room_points(&high),
            at_period: false,
            expect: 10,
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn limit_versus_cooldown() {
    let mut with_limit = config(vec![trigger("room", 60, 80, 60, Some(85))], down50());
    with_limit.up.as_mut().unwrap().cooldown = 300;
    let cases = [
        Case {
            name: "in up cooldown, below limit: held back",
            config: with_limit.clone(),
            state: state(10, Some(100)),
            load: load(2, 8), // 80% < 85%
            points: room_points(&[90.0; 6]),
            at_period: true,
            expect: 10,
        },
        Case {
            name: "in up cooldown, at limit: scales anyway",
            config: with_limit.clone(),
            state: state(10, Some(100)),
            load: load(1, 9), // 90% >= 85%
            points: room_points(&[90.0; 6]),
            at_period: true,
            expect: 15,
        },
        Case {
            name: "cooldown over: scales without reaching the limit",
            config: with_limit.clone(),
            state: state(10, Some(301)),
            load: load(2, 8),
            points: room_points(&[90.0; 6]),
            at_period: true,
            // 8 / 0.6 = 13.3 -> 13
            expect: 13,
        },
        Case {
            name: "limit never forces a downscale in cooldown",
            config: with_limit.clone(),
            state: state(10, Some(100)),
            load: load(9, 1),
            points: room_points(&[10.0; 6]),
            at_period: true,
            expect: 10,
        },
        Case {
            name: "an up trigger held back by cooldown prevents a down trigger of another type",
            config: config(
                vec![trigger("room", 60, 80, 60, None)],
                vec![trigger("cpu", 50, 80, 60, None)],
            ),
            state: state(10, Some(100)),
            load: load(1, 9),
            points: Points::from([
                ("room".to_string(), vec![90.0; 6]),
                ("cpu".to_string(), vec![10.0; 6]),
            ]),
            at_period: true,
            expect: 10,
        },
    ];
    for case in &cases {
        run(case);
    }
    let decision = run(&cases[1]).unwrap();
    assert!(matches!(
        decision.reason,
        Reason::Trigger {
            over_limit_in_cooldown: true,
            ..
        }
    ));
}

#[test]
fn the_first_matching_trigger_scales() {
    let loaded = Load {
        cpu: Some(ResourceLoad {
            used: 9.0,
            requested: 10.0,
        }),
        ..load(5, 5)
    };
    let both_high = Points::from([
        ("room".to_string(), vec![90.0; 6]),
        ("cpu".to_string(), vec![90.0; 6]),
    ]);
    let cpu_first = config(
        vec![
            trigger("cpu", 60, 80, 60, None),
            trigger("room", 40, 80, 60, None),
        ],
        down50(),
    );
    let room_first = config(
        vec![
            trigger("room", 40, 80, 60, None),
            trigger("cpu", 60, 80, 60, None),
        ],
        down50(),
    );
    let cases = [
        Case {
            name: "cpu listed first: its formula decides (ceil(90/60 * 10) = 15)",
            config: cpu_first,
            state: state(10, None),
            load: loaded,
            points: both_high.clone(),
            at_period: true,
            expect: 15,
        },
        Case {
            name: "room listed first: its formula decides (5 / 0.4 = 12.5 -> 13)",
            config: room_first,
            state: state(10, None),
            load: loaded,
            points: both_high,
            at_period: true,
            expect: 13,
        },
        Case {
            name: "the first trigger does not match: the second one scales",
            config: config(
                vec![
                    trigger("cpu", 95, 80, 60, None),
                    trigger("room", 40, 80, 60, None),
                ],
                down50(),
            ),
            state: state(10, None),
            load: loaded,
            points: Points::from([
                ("room".to_string(), vec![90.0; 6]),
                ("cpu".to_string(), vec![90.0; 6]),
            ]),
            at_period: true,
            expect: 13,
        },
    ];
    for case in &cases {
        run(case);
    }
    match run(&cases[2]).unwrap().reason {
        Reason::Trigger { index, .. } => assert_eq!(index, 1),
        other => panic!("unexpected {other:?}"),
    }
}
