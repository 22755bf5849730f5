//! The machine-scaling decision on the seed's allocation and a table of machines.

use super::MachineKind::{BareMetal, Cloud};
use super::test_support::{running, seed_capacity, seed_machine};
use super::*;

fn eu() -> Vec<String> {
    vec!["eu".into(), "us".into()]
}

fn adds(decision: &MachineDecision) -> Vec<(MachineKind, u32)> {
    decision
        .actions
        .iter()
        .filter_map(|a| match a {
            MachineAction::Add { kind, count, .. } => Some((*kind, *count)),
            _ => None,
        })
        .collect()
}

fn drains(decision: &MachineDecision) -> Vec<&str> {
    decision
        .actions
        .iter()
        .filter_map(|a| match a {
            MachineAction::Drain { machine } => Some(machine.as_str()),
            _ => None,
        })
        .collect()
}

fn releases(decision: &MachineDecision) -> Vec<&str> {
    decision
        .actions
        .iter()
        .filter_map(|a| match a {
            MachineAction::Release { machine } => Some(machine.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_seed_allocation_on_a_table_of_machines() {
    let capacity = seed_capacity();
    let full = |id: &str, kind| running(seed_machine(id, "eu", kind, 4), 3, 3);
    let idle = |id: &str, kind| seed_machine(id, "eu", kind, 8);
    // (machines, reason, machines added by kind, drained, released, free before, free after)
    type Row = (
        Vec<Machine>,
        MachineScalingReason,
        Vec<(MachineKind, u32)>,
        Vec<&'static str>,
        u64,
        u64,
    );
    let table: Vec<Row> = vec![
        // No machine: 4 payloads wanted, 3 per min-spec machine: two bare-metal machines.
        (
            vec![],
            MachineScalingReason::BelowMinFree,
            vec![(BareMetal, 2)],
            vec![],
            0,
            6,
        ),
        // One min-spec machine with one free payload: one more.
        (
            vec![running(seed_machine("a", "eu", BareMetal, 4), 2, 2)],
            MachineScalingReason::BelowMinFree,
            vec![(BareMetal, 1)],
            vec![],
            1,
            4,
        ),
        // Four full bare-metal machines: one bare metal left, then cloud.
        (
            (0..4).map(|i| full(&format!("b{i}"), BareMetal)).collect(),
            MachineScalingReason::BelowMinFree,
            vec![(BareMetal, 1), (Cloud, 1)],
            vec![],
            0,
            6,
        ),
        // Every machine allowed held, all full.
        (
            (0..5)
                .map(|i| full(&format!("b{i}"), BareMetal))
                .chain((0..3).map(|i| full(&format!("c{i}"), Cloud)))
                .collect(),
            MachineScalingReason::AtMaxMachines,
            vec![],
            vec![],
            0,
            0,
        ),
        // 7 + 2 free, above 8, but draining the idle machine would leave 2, below 4; the
        // other has an occupied payload.
        (
            vec![
                idle("big", BareMetal),
                running(seed_machine("s", "eu", Cloud, 4), 1, 1),
            ],
            MachineScalingReason::AboveMaxFree,
            vec![],
            vec![],
            9,
            9,
        ),
        // Four idle 8-core machines (28 free): cloud goes first, then bare metal, down to 7.
        (
            vec![
                idle("m1", BareMetal),
                idle("m2", Cloud),
                idle("m3", BareMetal),
                idle("m4", BareMetal),
            ],
            MachineScalingReason::AboveMaxFree,
            vec![],
            vec!["m2", "m1", "m3"],
            28,
            7,
        ),
        // Within bounds.
        (
            vec![idle("m1", BareMetal)],
            MachineScalingReason::WithinBounds,
            vec![],
            vec![],
            7,
            7,
        ),
    ];
    for (i, (machines, reason, added, drained, before, after)) in table.into_iter().enumerate() {
        let decision = decide_machines(&capacity, &machines, &eu());
        assert_eq!(decision.reason, reason, "row {i}: {}", decision.summary);
        assert_eq!(adds(&decision), added, "row {i}: {}", decision.summary);
        assert_eq!(drains(&decision), drained, "row {i}: {}", decision.summary);
        assert_eq!(decision.figures.free_payload_capacity, before, "row {i}");
        assert_eq!(
            decision.figures.free_payload_capacity_after, after,
            "row {i}"
        );
        assert_eq!(decision.figures.min_spec_machine_capacity, 3);
    }
}

#[test]
fn machines_with_reserved_or_occupied_payloads_are_never_drained() {
    let capacity = seed_capacity();
    let machines = vec![
        running(seed_machine("busy-cloud", "eu", Cloud, 8), 1, 1),
        seed_machine("idle-metal", "eu", BareMetal, 8),
        seed_machine("idle-metal-2", "eu", BareMetal, 8),
    ];
    let decision = decide_machines(&capacity, &machines, &eu());
    // 6 + 7 + 7 free: cloud would go first, but the cloud machine has an occupied payload.
    assert_eq!(decision.reason, MachineScalingReason::AboveMaxFree);
    assert_eq!(drains(&decision), ["idle-metal", "idle-metal-2"]);
    assert_eq!(decision.figures.free_payload_capacity_after, 6);
}

#[test]
fn idle_payloads_count_against_the_capacity_left() {
    let capacity = seed_capacity();
    // 1 + 4 + 6 free. Cloud first, the emptiest first: draining "b" loses its 4 free and its 3
    // idle payloads, which must start elsewhere: 11 - 7 = 4 left, the minimum; nothing more.
    let machines = vec![
        running(seed_machine("a", "eu", Cloud, 8), 6, 0),
        running(seed_machine("b", "eu", Cloud, 8), 3, 0),
        running(seed_machine("c", "eu", BareMetal, 8), 1, 0),
    ];
    let decision = decide_machines(&capacity, &machines, &eu());
    assert_eq!(decision.figures.free_payload_capacity, 1 + 4 + 6);
    assert_eq!(drains(&decision), ["b"]);
    assert_eq!(decision.figures.free_payload_capacity_after, 11 - 7);
}

#[test]
fn draining_machines_are_released_once_empty_but_not_while_adding() {
    let capacity = seed_capacity();
    let mut empty = seed_machine("gone", "eu", Cloud, 4);
    empty.draining = true;
    let mut still = running(seed_machine("moving", "eu", Cloud, 4), 2, 0);
    still.draining = true;
    let steady = vec![
        empty.clone(),
        still.clone(),
        seed_machine("m", "eu", BareMetal, 8),
    ];
    let decision = decide_machines(&capacity, &steady, &eu());
    assert_eq!(decision.reason, MachineScalingReason::WithinBounds);
    assert_eq!(releases(&decision), ["gone"]);
    // Draining machines count towards the maxima until released, and hold no new payload.
    let short = vec![empty, still];
    let decision = decide_machines(&capacity, &short, &eu());
    assert_eq!(decision.reason, MachineScalingReason::BelowMinFree);
    assert_eq!(decision.figures.cloud_machines, 2);
    assert!(releases(&decision).is_empty());
}

#[test]
fn new_machines_go_to_the_region_with_the_least_free_capacity() {
    let capacity = seed_capacity();
    let machines = vec![
        running(seed_machine("e", "eu", BareMetal, 4), 1, 1),
        running(seed_machine("u", "us", BareMetal, 4), 2, 2),
    ];
    let decision = decide_machines(&capacity, &machines, &eu());
    assert_eq!(
        decision.actions,
        [MachineAction::Add {
            kind: BareMetal,
            count: 1,
            region: Some("us".into())
        }]
    );
    assert!(decision.summary.contains("3 free payloads, below min 4"));
    let anywhere = decide_machines(&capacity, &machines, &[]);
    assert!(matches!(
        &anywhere.actions[0],
        MachineAction::Add { region: None, .. }
    ));
}

#[test]
fn disabled_scaling_and_a_min_spec_that_holds_nothing_decide_nothing() {
    let mut capacity = seed_capacity();
    capacity.enable_scaling = false;
    let decision = decide_machines(&capacity, &[], &eu());
    assert_eq!(decision.reason, MachineScalingReason::ScalingDisabled);
    assert!(decision.actions.is_empty());
    capacity.enable_scaling = true;
    capacity.machine_min_spec.core_count = 1;
    let decision = decide_machines(&capacity, &[], &eu());
    assert_eq!(decision.reason, MachineScalingReason::MinSpecHoldsNoPayload);
    assert!(decision.actions.is_empty());
}

#[test]
fn decisions_are_written_as_json_with_their_figures() {
    let decision = decide_machines(&seed_capacity(), &[], &eu());
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["reason"], "belowMinFree");
    assert_eq!(json["actions"][0]["action"], "add");
    assert_eq!(json["actions"][0]["kind"], "bare-metal");
    assert_eq!(json["figures"]["minSpecMachineCapacity"], 3);
    assert_eq!(json["figures"]["maxBareMetalMachines"], 5);
}
