//! Machine scaling: whether a scheduler needs more machines or can give some back, to keep its
//! free payload capacity between `minFreePayloadCapacity` and `maxFreePayloadCapacity`.
//!
//! - Below the minimum (and with `enableScaling`), machines are added: as many as it takes
//!   machines of the minimum spec to make up the shortfall, bare metal first up to
//!   `maxBareMetalMachines`, then cloud up to `maxCloudMachines`. Machines the scheduler holds
//!   (draining ones included, until released) count towards the maxima. A decision that adds
//!   never drains or releases.
//! - Above the maximum, machines are given back: cloud first, then bare metal, emptiest first;
//!   never one with a reserved or occupied payload; only while the free capacity left stays at
//!   or above the minimum (its idle payloads, which would have to start elsewhere, count against
//!   the capacity left). A machine is drained first; a draining machine with no payload left is
//!   released.
//! - A draining machine with no payload is released whenever nothing is being added.

use serde::{Deserialize, Serialize};

use super::config::Capacity;
use super::fit::{MachineCapacity, machine_capacities, payload_capacity};
use super::machine::{Machine, MachineKind};

/// What to do about one machine, or about machines to come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum MachineAction {
    /// Ask the provider for `count` machines of `kind` (of at least the minimum spec) in
    /// `region` (`None`: wherever the provider likes).
    Add {
        kind: MachineKind,
        count: u32,
        region: Option<String>,
    },
    /// Stop placing payloads on this machine, to release it once empty.
    Drain { machine: String },
    /// Give this machine back (it is draining and holds no payload).
    Release { machine: String },
}

/// Why the decision is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MachineScalingReason {
    /// `enableScaling` is off.
    ScalingDisabled,
    /// Free capacity below the minimum: machines are asked for.
    BelowMinFree,
    /// Free capacity below the minimum, but every machine allowed is held already.
    AtMaxMachines,
    /// Free capacity below the minimum, but a machine of the minimum spec holds no payload.
    MinSpecHoldsNoPayload,
    /// Free capacity above the maximum: idle machines are drained or released.
    AboveMaxFree,
    /// Free capacity within bounds (draining machines left empty may still be released).
    WithinBounds,
}

/// The figures a decision came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MachineFigures {
    pub free_payload_capacity: u64,
    pub min_free_payload_capacity: i64,
    pub max_free_payload_capacity: i64,
    /// Payloads one machine of the minimum spec holds.
    pub min_spec_machine_capacity: u32,
    pub bare_metal_machines: u32,
    pub cloud_machines: u32,
    pub max_bare_metal_machines: i64,
    pub max_cloud_machines: i64,
    /// Free capacity once the decision is carried out, as far as it can be told now (machines
    /// added are counted at the minimum spec).
    pub free_payload_capacity_after: u64,
}

/// A machine-scaling decision: what to do, why, and from which figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MachineDecision {
    pub actions: Vec<MachineAction>,
    pub reason: MachineScalingReason,
    /// The reason in words, with its figures.
    pub summary: String,
    pub figures: MachineFigures,
}

/// The decision for a scheduler's `machines`. New machines go to the region of `regions` with
/// the least free capacity (the first on a tie), or anywhere when `regions` is empty.
pub fn decide_machines(
    capacity: &Capacity,
    machines: &[Machine],
    regions: &[String],
) -> MachineDecision {
    let per_machine = payload_capacity(
        &Machine::of_spec(&capacity.machine_min_spec),
        &capacity.payload_quota,
        &capacity.safety_limits,
    );
    let count = |kind| machines.iter().filter(|m| m.kind == kind).count() as u32;
    let by_machine = machine_capacities(capacity, machines);
    let free: u64 = by_machine.iter().map(|m| u64::from(m.free)).sum();
    let (min_free, max_free) = (
        capacity.min_free_payload_capacity,
        capacity.max_free_payload_capacity,
    );
    let mut figures = MachineFigures {
        free_payload_capacity: free,
        min_free_payload_capacity: min_free,
        max_free_payload_capacity: max_free,
        min_spec_machine_capacity: per_machine,
        bare_metal_machines: count(MachineKind::BareMetal),
        cloud_machines: count(MachineKind::Cloud),
        max_bare_metal_machines: capacity.max_bare_metal_machines,
        max_cloud_machines: capacity.max_cloud_machines,
        free_payload_capacity_after: free,
    };
    let decision = |actions, reason, summary, figures: MachineFigures| MachineDecision {
        actions,
        reason,
        summary,
        figures,
    };
    if !capacity.enable_scaling {
        let summary = format!("scaling disabled ({free} free payloads)");
        return decision(
            vec![],
            MachineScalingReason::ScalingDisabled,
            summary,
            figures,
        );
    }
    let free_i = i64::try_from(free).unwrap_or(i64::MAX);
    if free_i < min_free {
        if per_machine == 0 {
            let summary = format!(
                "{free} free payloads, below min {min_free}, but a machine of the minimum spec holds none"
            );
            return decision(
                vec![],
                MachineScalingReason::MinSpecHoldsNoPayload,
                summary,
                figures,
            );
        }
        let shortfall = (min_free - free_i) as u64;
        let wanted = shortfall.div_ceil(u64::from(per_machine));
        let room = |max: i64, held: u32| u64::try_from(max - i64::from(held)).unwrap_or(0);
        let bare = wanted.min(room(
            capacity.max_bare_metal_machines,
            figures.bare_metal_machines,
        ));
        let cloud = (wanted - bare).min(room(capacity.max_cloud_machines, figures.cloud_machines));
        let region = least_free_region(&by_machine, regions);
        let mut actions = Vec::new();
        for (kind, n) in [(MachineKind::BareMetal, bare), (MachineKind::Cloud, cloud)] {
            if n > 0 {
                actions.push(MachineAction::Add {
                    kind,
                    count: u32::try_from(n).unwrap_or(u32::MAX),
                    region: region.clone(),
                });
            }
        }
        let added = bare + cloud;
        figures.free_payload_capacity_after = free + added * u64::from(per_machine);
        if added == 0 {
            let summary = format!(
                "{free} free payloads, below min {min_free}, but every machine allowed is held ({} bare metal of {}, {} cloud of {})",
                figures.bare_metal_machines,
                capacity.max_bare_metal_machines,
                figures.cloud_machines,
                capacity.max_cloud_machines
            );
            return decision(
                actions,
                MachineScalingReason::AtMaxMachines,
                summary,
                figures,
            );
        }
        let capped = if added < wanted {
            format!(" ({wanted} wanted, capped by the maxima)")
        } else {
            String::new()
        };
        let summary = format!(
            "{free} free payloads, below min {min_free}: add {bare} bare metal and {cloud} cloud machines of {per_machine} payloads each{capped}"
        );
        return decision(
            actions,
            MachineScalingReason::BelowMinFree,
            summary,
            figures,
        );
    }

    // Nothing is added: empty draining machines go; above the maximum, idle ones start draining.
    let mut actions: Vec<MachineAction> = machines
        .iter()
        .filter(|m| m.draining && m.payloads == 0 && m.busy_payloads == 0)
        .map(|m| MachineAction::Release {
            machine: m.id.clone(),
        })
        .collect();
    if free_i <= max_free {
        let summary = format!("{free} free payloads, within {min_free}..{max_free}");
        return decision(
            actions,
            MachineScalingReason::WithinBounds,
            summary,
            figures,
        );
    }
    let mut candidates: Vec<(&Machine, u32)> = machines
        .iter()
        .zip(&by_machine)
        .filter(|(m, _)| !m.draining && m.busy_payloads == 0)
        .map(|(m, f)| (m, f.free))
        .collect();
    // Cloud first, then the emptiest, then by id so that the choice is stable.
    candidates.sort_by_key(|(m, _)| (std::cmp::Reverse(m.kind), m.payloads, m.id.clone()));
    let mut left = free_i;
    let mut drained = Vec::new();
    for (machine, machine_free) in candidates {
        if left <= max_free {
            break;
        }
        let loss = i64::from(machine_free) + i64::from(machine.idle_payloads());
        if left - loss >= min_free {
            left -= loss;
            drained.push(machine.id.clone());
            actions.push(MachineAction::Drain {
                machine: machine.id.clone(),
            });
        }
    }
    figures.free_payload_capacity_after = u64::try_from(left).unwrap_or(0);
    let what = if drained.is_empty() {
        "nothing without going below the minimum".to_string()
    } else {
        drained.join(", ")
    };
    let summary =
        format!("{free} free payloads, above max {max_free}: drain {what} ({left} free after)");
    decision(
        actions,
        MachineScalingReason::AboveMaxFree,
        summary,
        figures,
    )
}

/// The region of `regions` whose machines have the least free capacity.
fn least_free_region(machines: &[MachineCapacity], regions: &[String]) -> Option<String> {
    regions
        .iter()
        .min_by_key(|region| {
            machines
                .iter()
                .filter(|m| &m.region == *region)
                .map(|m| u64::from(m.free))
                .sum::<u64>()
        })
        .cloned()
}
