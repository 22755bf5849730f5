//! The capacity section: quotas, safety limits, the minimum spec and the scaling bounds.

use super::Errors;
use crate::domain::capacity::{Capacity, Machine, Resources, quotas_in, usable};

/// Longest OS version pattern accepted.
const MAX_PATTERN: usize = 128;

/// Whether `pattern` is a sane OS version pattern: printable ASCII letters, digits, spaces and
/// `. - _ + ~ : / ( )`, with `*` for any text, at most 128 characters, not blank.
pub fn is_os_version_pattern(pattern: &str) -> bool {
    !pattern.trim().is_empty()
        && pattern.len() <= MAX_PATTERN
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-_+~:/()*".contains(c))
}

pub(super) fn validate_capacity(capacity: &Capacity, errors: &mut Errors) {
    let quota = &capacity.payload_quota;
    let path = "capacity.payloadQuota";
    errors.check(
        quota.cpu_cores.is_finite() && quota.cpu_cores > 0.0,
        format!("{path}.cpuCores"),
        "must be above 0 (fractions allowed)",
    );
    errors.check(
        quota.memory_mb > 0,
        format!("{path}.memoryMB"),
        "must be above 0",
    );
    for (field, value) in [
        ("storageGB", quota.storage_gb),
        ("ioBandwidthMBps", quota.io_bandwidth_mbps),
        ("inetBandwidthMBps", quota.inet_bandwidth_mbps),
    ] {
        errors.check(
            value >= 0,
            format!("{path}.{field}"),
            "must be 0 (not used) or more",
        );
    }

    let limits = &capacity.safety_limits;
    let path = "capacity.safetyLimits";
    let threshold = limits.core_max_usage_threshold;
    errors.check(
        threshold.is_finite() && (0.0..=100.0).contains(&threshold),
        format!("{path}.coreMaxUsageThreshold"),
        "must be a percentage from 0 (no cap) to 100",
    );
    errors.check(
        limits.cpu_remaining_cores.is_finite() && limits.cpu_remaining_cores >= 0.0,
        format!("{path}.cpuRemainingCores"),
        "must be 0 or more",
    );
    for (field, value) in [
        ("memoryMBFree", limits.memory_mb_free),
        ("storageGBFree", limits.storage_gb_free),
        ("ioMBpsFree", limits.io_mbps_free),
        ("inetMBpsFree", limits.inet_mbps_free),
    ] {
        errors.check(value >= 0, format!("{path}.{field}"), "must be 0 or more");
    }

    let spec = &capacity.machine_min_spec;
    let path = "capacity.machineMinSpec";
    errors.check(
        spec.os.is_empty()
            || (spec.os.len() <= 63
                && spec
                    .os
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')),
        format!("{path}.os"),
        "must be an OS name such as \"linux\" (letters, digits, '-', '_'), or empty for any",
    );
    errors.check(
        spec.os_version.is_empty() || is_os_version_pattern(&spec.os_version),
        format!("{path}.osVersion"),
        "must be a version pattern such as \"Ubuntu 16.04*\" (at most 128 letters, digits, \
         spaces, '.', '-', '_', '+', '~', ':', '/', '(', ')', and '*' for any text), or empty for any",
    );
    for (field, value) in [
        ("coreCount", spec.core_count),
        ("coreMhz", spec.core_mhz),
        ("memoryMB", spec.memory_mb),
        ("storageGB", spec.storage_gb),
        ("ioBandwidthMBps", spec.io_bandwidth_mbps),
        ("inetBandwidthMBps", spec.inet_bandwidth_mbps),
    ] {
        errors.check(
            value >= 0,
            format!("{path}.{field}"),
            "must be 0 (any) or more",
        );
    }

    for (field, value) in [
        ("maxCloudMachines", capacity.max_cloud_machines),
        ("maxBareMetalMachines", capacity.max_bare_metal_machines),
        ("minFreePayloadCapacity", capacity.min_free_payload_capacity),
        ("minUnreservedPayloads", capacity.min_unreserved_payloads),
    ] {
        errors.check(value >= 0, format!("capacity.{field}"), "must be 0 or more");
    }
    for (min_field, min, max_field, max) in [
        (
            "minFreePayloadCapacity",
            capacity.min_free_payload_capacity,
            "maxFreePayloadCapacity",
            capacity.max_free_payload_capacity,
        ),
        (
            "minUnreservedPayloads",
            capacity.min_unreserved_payloads,
            "maxUnreservedPayloads",
            capacity.max_unreserved_payloads,
        ),
    ] {
        errors.check(
            max >= min,
            format!("capacity.{max_field}"),
            format!("must be at least {min_field} ({min})"),
        );
    }

    // Machines are asked for by the minimum spec: one of them must hold a payload.
    if capacity.enable_scaling {
        let machine = Machine::of_spec(spec);
        let room = usable(&machine.allocatable, limits);
        if let (0, Some(limit)) = quotas_in(&room, &Resources::from(quota)) {
            errors.add(
                path,
                format!(
                    "with enableScaling, a machine of the minimum spec must hold at least one payload \
                     after the safety limits; {limit} is short"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fields, valid};
    use crate::domain::capacity::Capacity;
    use crate::domain::capacity::test_support::seed_capacity as seed;

    fn with(change: impl FnOnce(&mut Capacity)) -> Vec<String> {
        let mut config = valid();
        let mut capacity = seed();
        change(&mut capacity);
        config.capacity = Some(capacity);
        fields(&config)
    }

    #[test]
    fn the_seed_allocation_is_valid() {
        assert_eq!(with(|_| {}), Vec::<String>::new());
    }

    #[test]
    fn every_bad_field_is_named() {
        let found = with(|c| {
            c.payload_quota.cpu_cores = 0.0;
            c.payload_quota.memory_mb = 0;
            c.payload_quota.storage_gb = -1;
            c.safety_limits.core_max_usage_threshold = 101.0;
            c.safety_limits.cpu_remaining_cores = f64::NAN;
            c.safety_limits.inet_mbps_free = -5;
            c.machine_min_spec.os = "linux 64".into();
            c.machine_min_spec.os_version = "Ubuntu 16.04*;rm".into();
            c.machine_min_spec.core_mhz = -1;
            c.max_cloud_machines = -1;
            c.min_free_payload_capacity = 9;
            c.max_unreserved_payloads = 3;
            c.enable_scaling = false;
        });
        assert_eq!(
            found,
            [
                "capacity.payloadQuota.cpuCores",
                "capacity.payloadQuota.memoryMB",
                "capacity.payloadQuota.storageGB",
                "capacity.safetyLimits.coreMaxUsageThreshold",
                "capacity.safetyLimits.cpuRemainingCores",
                "capacity.safetyLimits.inetMBpsFree",
                "capacity.machineMinSpec.os",
                "capacity.machineMinSpec.osVersion",
                "capacity.machineMinSpec.coreMhz",
                "capacity.maxCloudMachines",
                "capacity.maxFreePayloadCapacity",
                "capacity.maxUnreservedPayloads",
            ]
        );
    }

    #[test]
    fn thresholds_and_patterns_at_their_edges() {
        assert!(with(|c| c.safety_limits.core_max_usage_threshold = 100.0).is_empty());
        assert!(with(|c| c.safety_limits.core_max_usage_threshold = 62.5).is_empty());
        assert_eq!(
            with(|c| c.safety_limits.core_max_usage_threshold = -0.5),
            ["capacity.safetyLimits.coreMaxUsageThreshold"]
        );
        for fine in ["*", "Ubuntu 22.04*", "10.0.19045 (22H2)", ""] {
            assert!(
                with(|c| c.machine_min_spec.os_version = fine.into()).is_empty(),
                "{fine}"
            );
        }
        for bad in [" ", "Ubuntu\n16", &"9".repeat(129), "Ubuntu 16.04$"] {
            assert_eq!(
                with(|c| c.machine_min_spec.os_version = bad.into()),
                ["capacity.machineMinSpec.osVersion"],
                "{bad:?}"
            );
        }
        assert!(with(|c| c.max_free_payload_capacity = 4).is_empty());
    }

    #[test]
    fn scaling_needs_a_min_spec_that_holds_a_payload() {
        let found = |cores| with(|c| c.machine_min_spec.core_count = cores);
        assert_eq!(found(1), ["capacity.machineMinSpec"]);
        assert!(found(2).is_empty());
        let mut config = valid();
        let mut capacity = seed();
        capacity.machine_min_spec.core_count = 1;
        capacity.enable_scaling = false;
        config.capacity = Some(capacity);
        assert!(
            config.validate().is_ok(),
            "without scaling no machine is asked for"
        );
    }
}
