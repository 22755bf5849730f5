//! How many payloads fit: on one machine, on all of a scheduler's machines, per region.
//!
//! For each resource, payloads may use the machine's allocatable amount less what the safety
//! limits keep free ([`usable`]). A machine's payload capacity is, over every resource the quota
//! asks for, the smallest `floor(usable / quota)`; its free payload capacity is the same with
//! what is in use already taken off first. A resource with a zero quota never limits; a quota
//! of zeros fits nowhere (it is refused by validation anyway).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::{Capacity, PayloadQuota, SafetyLimits};
use super::machine::{Machine, RESOURCE_NAMES, Resources, millicores};
use super::spec::meets_min_spec;

/// What of `allocatable` payloads may use after `limits` (never below zero).
pub fn usable(allocatable: &Resources, limits: &SafetyLimits) -> Resources {
    let mut cores = allocatable
        .millicores
        .saturating_sub(millicores(limits.cpu_remaining_cores));
    let threshold = limits.core_max_usage_threshold;
    if threshold.is_finite() && threshold > 0.0 {
        let percent = threshold.min(100.0);
        // Whole millicores, rounded down: the cap is never exceeded.
        let cap = (allocatable.millicores as f64 * percent / 100.0 + 1e-6).floor() as i64;
        cores = cores.min(cap);
    }
    Resources {
        millicores: cores,
        memory_mb: allocatable.memory_mb.saturating_sub(limits.memory_mb_free),
        storage_gb: allocatable
            .storage_gb
            .saturating_sub(limits.storage_gb_free),
        io_mbps: allocatable.io_mbps.saturating_sub(limits.io_mbps_free),
        inet_mbps: allocatable.inet_mbps.saturating_sub(limits.inet_mbps_free),
    }
    .clamped()
}

impl Resources {
    fn clamped(self) -> Self {
        Self::from_array(self.as_array().map(|v| v.max(0)))
    }
}

/// How many quotas fit in `room`, and the resource that limits it (zeuz's name), `None` when
/// the quota asks for nothing.
pub fn quotas_in(room: &Resources, quota: &Resources) -> (u32, Option<&'static str>) {
    let (room, quota) = (room.as_array(), quota.as_array());
    let mut best: Option<(i64, &'static str)> = None;
    for i in 0..5 {
        if quota[i] <= 0 {
            continue;
        }
        let count = room[i].max(0) / quota[i];
        if best.is_none_or(|(b, _)| count < b) {
            best = Some((count, RESOURCE_NAMES[i]));
        }
    }
    match best {
        Some((count, name)) => (u32::try_from(count).unwrap_or(u32::MAX), Some(name)),
        None => (0, None),
    }
}

/// How many payloads of `quota` `machine` could hold in all, if it ran nothing else.
pub fn payload_capacity(machine: &Machine, quota: &PayloadQuota, limits: &SafetyLimits) -> u32 {
    quotas_in(
        &usable(&machine.allocatable, limits),
        &Resources::from(quota),
    )
    .0
}

/// How many more payloads of `quota` fit on `machine` beside what it runs now; none on a
/// draining machine.
pub fn free_payload_capacity(
    machine: &Machine,
    quota: &PayloadQuota,
    limits: &SafetyLimits,
) -> u32 {
    if machine.draining {
        return 0;
    }
    let usable = usable(&machine.allocatable, limits).as_array();
    let used = machine.in_use.as_array();
    let left = Resources::from_array(std::array::from_fn(|i| {
        usable[i].saturating_sub(used[i]).max(0)
    }));
    quotas_in(&left, &Resources::from(quota)).0
}

/// One machine's figures, for the capacity view and for decisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MachineCapacity {
    pub id: String,
    pub region: String,
    /// Whether it meets the minimum spec; one that does not holds no new payload.
    pub meets_min_spec: bool,
    /// Payloads it could hold in all.
    pub capacity: u32,
    /// Payloads that still fit (zero when draining or below the minimum spec).
    pub free: u32,
}

/// Every machine's figures.
pub fn machine_capacities(capacity: &Capacity, machines: &[Machine]) -> Vec<MachineCapacity> {
    machines
        .iter()
        .map(|machine| {
            let meets = meets_min_spec(machine, &capacity.machine_min_spec).is_ok();
            let quota = &capacity.payload_quota;
            let limits = &capacity.safety_limits;
            MachineCapacity {
                id: machine.id.clone(),
                region: machine.region.clone(),
                meets_min_spec: meets,
                capacity: payload_capacity(machine, quota, limits),
                free: if meets {
                    free_payload_capacity(machine, quota, limits)
                } else {
                    0
                },
            }
        })
        .collect()
}

/// The scheduler's free payload capacity: what still fits on its machines that meet the
/// minimum spec and are not draining.
pub fn free_capacity(capacity: &Capacity, machines: &[Machine]) -> u64 {
    machine_capacities(capacity, machines)
        .iter()
        .map(|m| u64::from(m.free))
        .sum()
}

/// The free payload capacity of each region the machines are in.
pub fn free_capacity_by_region(capacity: &Capacity, machines: &[Machine]) -> BTreeMap<String, u64> {
    let mut regions = BTreeMap::new();
    for machine in machine_capacities(capacity, machines) {
        *regions.entry(machine.region).or_insert(0) += u64::from(machine.free);
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::super::config::MachineSpec;
    use super::super::machine::MachineKind;
    use super::super::test_support::{seed_capacity, seed_machine};
    use super::*;

    #[test]
    fn the_seed_min_spec_machine_holds_three_payloads_limited_by_cores() {
        let capacity = seed_capacity();
        let machine = Machine::of_spec(&capacity.machine_min_spec);
        // 4 cores - 1 left free = 3 cores; memory (16384-2048)/1024 = 14; storage 400/50 = 8;
        // IO 2500/200 = 12; internet 80/10 = 8.
        let usable = usable(&machine.allocatable, &capacity.safety_limits);
        assert_eq!(usable.as_array(), [3000, 14336, 400, 2500, 80]);
        let quota = Resources::from(&capacity.payload_quota);
        assert_eq!(quotas_in(&usable, &quota), (3, Some("CpuCores")));
        assert_eq!(
            payload_capacity(&machine, &capacity.payload_quota, &capacity.safety_limits),
            3
        );
    }

    #[test]
    fn the_core_threshold_is_a_percentage_of_allocatable_cores_and_the_smaller_cap_wins() {
        let allocatable = Resources {
            millicores: 8000,
            ..Resources::default()
        };
        let limits = |threshold: f64, remaining: f64| SafetyLimits {
            core_max_usage_threshold: threshold,
            cpu_remaining_cores: remaining,
            ..SafetyLimits::default()
        };
        assert_eq!(usable(&allocatable, &limits(0.0, 1.0)).millicores, 7000);
        assert_eq!(usable(&allocatable, &limits(75.0, 1.0)).millicores, 6000);
        assert_eq!(usable(&allocatable, &limits(90.0, 1.0)).millicores, 7000);
        assert_eq!(usable(&allocatable, &limits(100.0, 0.0)).millicores, 8000);
        assert_eq!(usable(&allocatable, &limits(12.5, 0.0)).millicores, 1000);
        assert_eq!(usable(&allocatable, &limits(0.0, 9.0)).millicores, 0);
    }

    #[test]
    fn what_is_in_use_comes_off_and_a_draining_machine_has_no_room() {
        let capacity = seed_capacity();
        let (quota, limits) = (&capacity.payload_quota, &capacity.safety_limits);
        let mut machine = seed_machine("m1", "eu", MachineKind::BareMetal, 8);
        // 8 cores - 1 = 7 usable cores.
        assert_eq!(payload_capacity(&machine, quota, limits), 7);
        machine.in_use = Resources::from(quota).times(2);
        machine.payloads = 2;
        assert_eq!(free_payload_capacity(&machine, quota, limits), 5);
        machine.in_use.memory_mb = 16384 * 2 - 2048 - 1024;
        assert_eq!(free_payload_capacity(&machine, quota, limits), 1);
        machine.draining = true;
        assert_eq!(free_payload_capacity(&machine, quota, limits), 0);
    }

    #[test]
    fn free_capacity_counts_only_machines_that_meet_the_spec_and_adds_up_per_region() {
        let capacity = seed_capacity();
        let mut old = seed_machine("old", "us", MachineKind::Cloud, 8);
        old.spec.os_version = "Ubuntu 14.04".into();
        let machines = vec![
            seed_machine("a", "eu", MachineKind::BareMetal, 4),
            seed_machine("b", "eu", MachineKind::Cloud, 8),
            seed_machine("c", "us", MachineKind::Cloud, 4),
            old,
        ];
        let figures = machine_capacities(&capacity, &machines);
        assert!(!figures[3].meets_min_spec);
        assert_eq!(figures[3].capacity, 7);
        assert_eq!(figures[3].free, 0);
        assert_eq!(free_capacity(&capacity, &machines), 3 + 7 + 3);
        let regions = free_capacity_by_region(&capacity, &machines);
        assert_eq!(regions["eu"], 10);
        assert_eq!(regions["us"], 3);
    }

    #[test]
    fn a_zero_quota_resource_never_limits_and_an_empty_quota_fits_nowhere() {
        let room = Resources {
            millicores: 4000,
            memory_mb: 0,
            ..Resources::default()
        };
        let cpu_only = Resources {
            millicores: 500,
            ..Resources::default()
        };
        assert_eq!(quotas_in(&room, &cpu_only), (8, Some("CpuCores")));
        assert_eq!(quotas_in(&room, &Resources::default()), (0, None));
        let empty = Machine::of_spec(&MachineSpec::default());
        assert_eq!(
            payload_capacity(&empty, &PayloadQuota::default(), &SafetyLimits::default()),
            0
        );
    }
}
