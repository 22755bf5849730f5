//! Properties of capacity over random machines and allocations:
//! - a machine's payload capacity never exceeds what fits: that many quotas plus the safety
//!   limits fit in its allocatable resources, and one more does not; its free capacity never
//!   exceeds its capacity;
//! - a decision never takes a kind of machine past its maximum;
//! - a decision never drains or releases a machine with a reserved or occupied payload, and
//!   releases only draining machines with no payload;
//! - a decision that adds machines drains and releases none, and one that drains never leaves
//!   the free capacity below the minimum (nor drains when it is not above the maximum).

use proptest::prelude::*;

use super::*;

fn kind() -> impl Strategy<Value = MachineKind> {
    prop_oneof![Just(MachineKind::BareMetal), Just(MachineKind::Cloud)]
}

fn resources(max: i64) -> impl Strategy<Value = Resources> {
    prop::array::uniform5(0..max).prop_map(Resources::from_array)
}

fn machine() -> impl Strategy<Value = Machine> {
    (
        kind(),
        0usize..3,
        resources(64_000),
        0i64..100,
        0u32..6,
        0u32..6,
        any::<bool>(),
        1i64..16,
    )
        .prop_map(
            |(kind, region, allocatable, used_percent, payloads, busy, draining, cores)| Machine {
                id: String::new(),
                region: ["eu", "us", "ap"][region].into(),
                kind,
                spec: MachineSpec {
                    os: "linux".into(),
                    os_version: "Ubuntu 16.04.7".into(),
                    core_count: cores,
                    ..MachineSpec::default()
                },
                allocatable,
                in_use: Resources::from_array(
                    allocatable.as_array().map(|v| v * used_percent / 100),
                ),
                payloads,
                busy_payloads: busy.min(payloads),
                draining,
            },
        )
}

fn capacity() -> impl Strategy<Value = Capacity> {
    (
        (1u32..4000, prop::array::uniform4(0i64..4000)),
        (0u32..=100, 0u32..4000, prop::array::uniform4(0i64..8000)),
        (0i64..6, 0i64..6, 0i64..30, 0i64..30, any::<bool>()),
        (1i64..16, prop::array::uniform4(0i64..32_000)),
    )
        .prop_map(|((milli, q), (threshold, remaining, free), bounds, spec)| {
            let (max_bare, max_cloud, min_free, width, enable) = bounds;
            Capacity {
                payload_quota: PayloadQuota {
                    cpu_cores: f64::from(milli) / 1000.0,
                    memory_mb: q[0],
                    storage_gb: q[1],
                    io_bandwidth_mbps: q[2],
                    inet_bandwidth_mbps: q[3],
                },
                safety_limits: SafetyLimits {
                    core_max_usage_threshold: f64::from(threshold),
                    cpu_remaining_cores: f64::from(remaining) / 1000.0,
                    memory_mb_free: free[0],
                    storage_gb_free: free[1],
                    io_mbps_free: free[2],
                    inet_mbps_free: free[3],
                },
                machine_min_spec: MachineSpec {
                    core_count: spec.0,
                    memory_mb: spec.1[0],
                    storage_gb: spec.1[1],
                    io_bandwidth_mbps: spec.1[2],
                    inet_bandwidth_mbps: spec.1[3],
                    ..MachineSpec::default()
                },
                max_bare_metal_machines: max_bare,
                max_cloud_machines: max_cloud,
                min_free_payload_capacity: min_free,
                max_free_payload_capacity: min_free + width,
                enable_scaling: enable,
                ..Capacity::default()
            }
        })
}

fn machines() -> impl Strategy<Value = Vec<Machine>> {
    prop::collection::vec(machine(), 0..10).prop_map(|mut machines| {
        for (i, m) in machines.iter_mut().enumerate() {
            m.id = format!("m{i}");
        }
        machines
    })
}

/// What payloads may use of a machine, as the safety limits say, written out independently.
fn reserve(machine: &Machine, limits: &SafetyLimits) -> Resources {
    let usable = usable(&machine.allocatable, limits);
    let a = machine.allocatable.as_array();
    let u = usable.as_array();
    Resources::from_array(std::array::from_fn(|i| a[i] - u[i]))
}

proptest! {
    #[test]
    fn capacity_is_exactly_what_fits(machine in machine(), capacity in capacity()) {
        let (quota, limits) = (&capacity.payload_quota, &capacity.safety_limits);
        let n = payload_capacity(&machine, quota, limits);
        let per = Resources::from(quota);
        let reserved = reserve(&machine, limits);
        // n quotas and the reserve fit in what is allocatable ...
        prop_assert!(per.times(i64::from(n)).plus(&reserved).fits_in(&machine.allocatable));
        // ... and one more does not.
        prop_assert!(!per.times(i64::from(n) + 1).plus(&reserved).fits_in(&machine.allocatable));
        // The safety limits are kept: the cores left free and the threshold.
        let cores = per.millicores * i64::from(n);
        prop_assert!(cores <= machine.allocatable.millicores - millicores(limits.cpu_remaining_cores)
            || n == 0);
        if limits.core_max_usage_threshold > 0.0 {
            prop_assert!(cores as f64 <= machine.allocatable.millicores as f64
                * limits.core_max_usage_threshold / 100.0 + 1e-6);
        }
        let free = free_payload_capacity(&machine, quota, limits);
        prop_assert!(free <= n);
        // The free payloads fit beside what is in use, on every resource a payload uses (one
        // it does not use may already be past its limit: payloads do not make that worse).
        let (needed, per_one) = (per.times(i64::from(free)).as_array(), per.as_array());
        let (reserved, used) = (reserved.as_array(), machine.in_use.as_array());
        let allocatable = machine.allocatable.as_array();
        for i in 0..needed.len() {
            prop_assert!(per_one[i] == 0 || free == 0
                || needed[i] + reserved[i] + used[i] <= allocatable[i], "resource {}", i);
        }
    }

    #[test]
    fn decisions_keep_the_rules(
        capacity in capacity(),
        machines in machines(),
        regions in prop::sample::subsequence(vec!["eu".to_string(), "us".into(), "ap".into()], 0..=3),
    ) {
        let decision = decide_machines(&capacity, &machines, &regions);
        let held = |kind| machines.iter().filter(|m| m.kind == kind).count() as i64;
        let mut added = 0;
        for action in &decision.actions {
            match action {
                MachineAction::Add { kind, count, region } => {
                    let max = match kind {
                        MachineKind::BareMetal => capacity.max_bare_metal_machines,
                        MachineKind::Cloud => capacity.max_cloud_machines,
                    };
                    prop_assert!(held(*kind) + i64::from(*count) <= max, "{}", decision.summary);
                    prop_assert!(region.as_ref().is_none_or(|r| regions.contains(r)));
                    prop_assert!(capacity.enable_scaling);
                    added += count;
                }
                MachineAction::Drain { machine } | MachineAction::Release { machine } => {
                    let m = machines.iter().find(|m| &m.id == machine).unwrap();
                    prop_assert_eq!(m.busy_payloads, 0);
                    if matches!(action, MachineAction::Release { .. }) {
                        prop_assert!(m.draining && m.payloads == 0);
                    } else {
                        prop_assert!(!m.draining);
                    }
                }
            }
        }
        let removes = decision.actions.iter().any(|a| !matches!(a, MachineAction::Add { .. }));
        prop_assert!(added == 0 || !removes, "adds and removes: {:?}", decision.actions);
        let f = &decision.figures;
        if decision.actions.iter().any(|a| matches!(a, MachineAction::Drain { .. })) {
            prop_assert!(f.free_payload_capacity as i64 > capacity.max_free_payload_capacity);
            prop_assert!(f.free_payload_capacity_after as i64 >= capacity.min_free_payload_capacity);
            prop_assert!(f.free_payload_capacity_after <= f.free_payload_capacity);
        }
        if added > 0 {
            prop_assert!((f.free_payload_capacity as i64) < capacity.min_free_payload_capacity);
        }
        prop_assert_eq!(f.free_payload_capacity, free_capacity(&capacity, &machines));
    }

    #[test]
    fn region_figures_add_up_to_the_whole(capacity in capacity(), machines in machines()) {
        let total: u64 = free_capacity_by_region(&capacity, &machines).values().sum();
        prop_assert_eq!(total, free_capacity(&capacity, &machines));
    }
}
