//! The capacity section field by field, as the scheduler form edits it: each field's label, its
//! path below `capacity.` (the path validation and the API name it by) and where its value is.
//! The form draws one input per field from these tables and shows at it the errors validation
//! finds at `capacity.<path>`; the rules themselves stay in `validation::capacity`.

use super::Capacity;

/// Where a field's value is in the section, by its kind.
#[derive(Clone, Copy)]
pub enum Slot {
    /// A whole number.
    Whole(fn(&mut Capacity) -> &mut i64),
    /// A number with fractions (cores, a percentage).
    Decimal(fn(&mut Capacity) -> &mut f64),
    Text(fn(&mut Capacity) -> &mut String),
    /// On or off.
    Flag(fn(&mut Capacity) -> &mut bool),
}

/// One field of the capacity section.
#[derive(Clone, Copy)]
pub struct CapacityField {
    /// What the form's label says.
    pub label: &'static str,
    /// The field's path below `capacity.`, as validation and the API's JSON name it.
    pub path: &'static str,
    pub slot: Slot,
}

/// Fields shown together, under a title. Errors about the group as a whole are reported at
/// `capacity.<path>` (empty: none).
pub struct CapacityGroup {
    pub title: &'static str,
    pub path: &'static str,
    pub hint: &'static str,
    pub fields: &'static [CapacityField],
}

const fn field(label: &'static str, path: &'static str, slot: Slot) -> CapacityField {
    CapacityField { label, path, slot }
}

/// Every field of the capacity section, in the form's order.
pub const CAPACITY_GROUPS: &[CapacityGroup] = &[
    CapacityGroup {
        title: "Payload quota",
        path: "payloadQuota",
        hint: "What one room (payload) needs of a machine; 0 means it does not use that resource.",
        fields: &[
            field(
                "Cores per payload",
                "payloadQuota.cpuCores",
                Slot::Decimal(|c| &mut c.payload_quota.cpu_cores),
            ),
            field(
                "Memory per payload (MB)",
                "payloadQuota.memoryMB",
                Slot::Whole(|c| &mut c.payload_quota.memory_mb),
            ),
            field(
                "Storage per payload (GB)",
                "payloadQuota.storageGB",
                Slot::Whole(|c| &mut c.payload_quota.storage_gb),
            ),
            field(
                "Disk bandwidth per payload (MB/s)",
                "payloadQuota.ioBandwidthMBps",
                Slot::Whole(|c| &mut c.payload_quota.io_bandwidth_mbps),
            ),
            field(
                "Internet bandwidth per payload (MB/s)",
                "payloadQuota.inetBandwidthMBps",
                Slot::Whole(|c| &mut c.payload_quota.inet_bandwidth_mbps),
            ),
        ],
    },
    CapacityGroup {
        title: "Safety limits",
        path: "safetyLimits",
        hint: "What of each machine is never given to payloads.",
        fields: &[
            field(
                "Core usage cap (% of cores, 0 = none)",
                "safetyLimits.coreMaxUsageThreshold",
                Slot::Decimal(|c| &mut c.safety_limits.core_max_usage_threshold),
            ),
            field(
                "Cores left free",
                "safetyLimits.cpuRemainingCores",
                Slot::Decimal(|c| &mut c.safety_limits.cpu_remaining_cores),
            ),
            field(
                "Memory left free (MB)",
                "safetyLimits.memoryMBFree",
                Slot::Whole(|c| &mut c.safety_limits.memory_mb_free),
            ),
            field(
                "Storage left free (GB)",
                "safetyLimits.storageGBFree",
                Slot::Whole(|c| &mut c.safety_limits.storage_gb_free),
            ),
            field(
                "Disk bandwidth left free (MB/s)",
                "safetyLimits.ioMBpsFree",
                Slot::Whole(|c| &mut c.safety_limits.io_mbps_free),
            ),
            field(
                "Internet bandwidth left free (MB/s)",
                "safetyLimits.inetMBpsFree",
                Slot::Whole(|c| &mut c.safety_limits.inet_mbps_free),
            ),
        ],
    },
    CapacityGroup {
        title: "Machine minimum spec",
        path: "machineMinSpec",
        hint: "What a machine must have at least; 0 or empty asks for nothing. The OS version is a pattern, '*' for any text.",
        fields: &[
            field(
                "Minimum spec: OS",
                "machineMinSpec.os",
                Slot::Text(|c| &mut c.machine_min_spec.os),
            ),
            field(
                "Minimum spec: OS version",
                "machineMinSpec.osVersion",
                Slot::Text(|c| &mut c.machine_min_spec.os_version),
            ),
            field(
                "Minimum spec: cores",
                "machineMinSpec.coreCount",
                Slot::Whole(|c| &mut c.machine_min_spec.core_count),
            ),
            field(
                "Minimum spec: core speed (MHz)",
                "machineMinSpec.coreMhz",
                Slot::Whole(|c| &mut c.machine_min_spec.core_mhz),
            ),
            field(
                "Minimum spec: memory (MB)",
                "machineMinSpec.memoryMB",
                Slot::Whole(|c| &mut c.machine_min_spec.memory_mb),
            ),
            field(
                "Minimum spec: storage (GB)",
                "machineMinSpec.storageGB",
                Slot::Whole(|c| &mut c.machine_min_spec.storage_gb),
            ),
            field(
                "Minimum spec: disk bandwidth (MB/s)",
                "machineMinSpec.ioBandwidthMBps",
                Slot::Whole(|c| &mut c.machine_min_spec.io_bandwidth_mbps),
            ),
            field(
                "Minimum spec: internet bandwidth (MB/s)",
                "machineMinSpec.inetBandwidthMBps",
                Slot::Whole(|c| &mut c.machine_min_spec.inet_bandwidth_mbps),
            ),
        ],
    },
    CapacityGroup {
        title: "Machines and payloads",
        path: "",
        hint: "With scaling, machines are added below the minimum free payload capacity and idle ones released above the maximum; managing payloads keeps the unreserved rooms within their bounds.",
        fields: &[
            field(
                "Most bare-metal machines",
                "maxBareMetalMachines",
                Slot::Whole(|c| &mut c.max_bare_metal_machines),
            ),
            field(
                "Most cloud machines",
                "maxCloudMachines",
                Slot::Whole(|c| &mut c.max_cloud_machines),
            ),
            field(
                "Enable machine scaling",
                "enableScaling",
                Slot::Flag(|c| &mut c.enable_scaling),
            ),
            field(
                "Minimum free payload capacity",
                "minFreePayloadCapacity",
                Slot::Whole(|c| &mut c.min_free_payload_capacity),
            ),
            field(
                "Maximum free payload capacity",
                "maxFreePayloadCapacity",
                Slot::Whole(|c| &mut c.max_free_payload_capacity),
            ),
            field(
                "Manage payloads (keep unreserved rooms within bounds)",
                "managePayloads",
                Slot::Flag(|c| &mut c.manage_payloads),
            ),
            field(
                "Minimum unreserved payloads",
                "minUnreservedPayloads",
                Slot::Whole(|c| &mut c.min_unreserved_payloads),
            ),
            field(
                "Maximum unreserved payloads",
                "maxUnreservedPayloads",
                Slot::Whole(|c| &mut c.max_unreserved_payloads),
            ),
        ],
    },
];

/// Turns a scheduler's capacity section on or off. Turned off, the section is put aside in
/// `aside`; turned on again, it comes back from there (a new section otherwise), so switching
/// it off and on loses nothing.
pub fn switch_capacity(capacity: &mut Option<Capacity>, aside: &mut Option<Capacity>, on: bool) {
    if on {
        if capacity.is_none() {
            *capacity = Some(aside.take().unwrap_or_default());
        }
    } else if let Some(kept) = capacity.take() {
        *aside = Some(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::capacity::test_support::seed_capacity;
    use crate::domain::validation::test_support::{fields, valid};

    fn every_field() -> impl Iterator<Item = &'static CapacityField> {
        CAPACITY_GROUPS.iter().flat_map(|g| g.fields.iter())
    }

    /// `value`'s member at a dotted `path`.
    fn at<'a>(value: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
        path.split('.').fold(value, |v, key| &v[key])
    }

    #[test]
    fn every_field_of_the_section_is_listed_once_by_its_json_path() {
        let mut capacity = Capacity::default();
        for (i, f) in every_field().enumerate() {
            let n = i64::try_from(i).unwrap() + 1;
            match f.slot {
                Slot::Whole(at) => *at(&mut capacity) = n,
                Slot::Decimal(at) => *at(&mut capacity) = n as f64 + 0.5,
                Slot::Text(at) => *at(&mut capacity) = format!("t{n}"),
                Slot::Flag(at) => *at(&mut capacity) = true,
            }
        }
        let json = serde_json::to_value(&capacity).unwrap();
        for (i, f) in every_field().enumerate() {
            let n = i64::try_from(i).unwrap() + 1;
            let expected = match f.slot {
                Slot::Whole(_) => serde_json::json!(n),
                Slot::Decimal(_) => serde_json::json!(n as f64 + 0.5),
                Slot::Text(_) => serde_json::json!(format!("t{n}")),
                Slot::Flag(_) => serde_json::json!(true),
            };
            assert_eq!(at(&json, f.path), &expected, "{} in {json}", f.path);
        }
        // Each field written once: no two entries share a value, so none was left out.
        let leaves = |v: &serde_json::Value| -> usize {
            v.as_object()
                .unwrap()
                .values()
                .map(|v| v.as_object().map_or(1, serde_json::Map::len))
                .sum()
        };
        assert_eq!(every_field().count(), leaves(&json));
        let mut labels: Vec<&str> = every_field().map(|f| f.label).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), every_field().count(), "labels are unique");
    }

    #[test]
    fn validation_names_each_bad_field_by_the_path_the_form_shows_it_at() {
        let shown: Vec<String> = every_field()
            .map(|f| format!("capacity.{}", f.path))
            .chain(
                CAPACITY_GROUPS
                    .iter()
                    .filter(|g| !g.path.is_empty())
                    .map(|g| format!("capacity.{}", g.path)),
            )
            .collect();
        for f in every_field() {
            let mut capacity = seed_capacity();
            match f.slot {
                Slot::Whole(at) => *at(&mut capacity) = -1,
                // 0 cores per payload and -1 for the others are refused.
                Slot::Decimal(at) => {
                    *at(&mut capacity) = if f.path.ends_with("cpuCores") {
                        0.0
                    } else {
                        -1.0
                    }
                }
                Slot::Text(at) => *at(&mut capacity) = "bad;".into(),
                Slot::Flag(_) => continue,
            }
            let mut config = valid();
            config.capacity = Some(capacity);
            let found = fields(&config);
            let own = format!("capacity.{}", f.path);
            assert!(found.contains(&own), "{own} not in {found:?}");
            for other in &found {
                assert!(shown.contains(other), "{other} has no place in the form");
            }
        }
    }

    #[test]
    fn switching_the_section_off_and_on_keeps_it() {
        let (mut capacity, mut aside) = (None, None);
        switch_capacity(&mut capacity, &mut aside, true);
        assert_eq!(capacity, Some(Capacity::default()));
        capacity = Some(seed_capacity());
        switch_capacity(&mut capacity, &mut aside, false);
        assert_eq!(
            (capacity.is_none(), aside.clone()),
            (true, Some(seed_capacity()))
        );
        switch_capacity(&mut capacity, &mut aside, false);
        assert_eq!(aside, Some(seed_capacity()));
        switch_capacity(&mut capacity, &mut aside, true);
        assert_eq!((capacity, aside), (Some(seed_capacity()), None));
    }
}
