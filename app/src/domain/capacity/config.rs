//! The capacity section of a scheduler, in zeuz's words: how much one payload (room) needs, how
//! much of each machine is never given to payloads, what a machine must have at least, and the
//! bounds machine scaling keeps the free payload capacity within.
//!
//! On Baton's JSON every field is camelCase (`payloadQuota.memoryMB`); zeuz's own spelling
//! (`PayloadQuota.MemoryMB`) is read as well, so a zeuz `ScalingRules` document can be pasted in.
//! A field left out is zero (or `false`), which for a quota, a limit or a spec means "none".

use serde::{Deserialize, Serialize};

/// What one payload needs of a machine (zeuz's `PayloadQuota`). A zero quota means the payload
/// does not use that resource, so that resource never limits how many payloads fit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PayloadQuota {
    /// Cores, fractions allowed (`0.5`); counted in whole millicores, rounded up.
    #[serde(default, rename = "cpuCores", alias = "CpuCores")]
    pub cpu_cores: f64,
    #[serde(default, rename = "memoryMB", alias = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(default, rename = "storageGB", alias = "StorageGB")]
    pub storage_gb: i64,
    /// Disk bandwidth, MB/s.
    #[serde(default, rename = "ioBandwidthMBps", alias = "IOBandwidthMBps")]
    pub io_bandwidth_mbps: i64,
    /// Internet bandwidth, MB/s.
    #[serde(default, rename = "inetBandwidthMBps", alias = "InetBandwidthMBps")]
    pub inet_bandwidth_mbps: i64,
}

/// What of each machine is never given to payloads (zeuz's `SafetyLimits`).
///
/// Cores: payloads may use at most `allocatable cores - cpuRemainingCores`, and, when
/// `coreMaxUsageThreshold` is above zero, at most `coreMaxUsageThreshold` percent of the
/// allocatable cores; the smaller of the two applies. `coreMaxUsageThreshold` is a percentage
/// from 0 to 100 (`75` = three quarters of the cores); `0`, zeuz's default, means no such cap.
/// Every other resource: payloads may use at most `allocatable - <resource>Free`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SafetyLimits {
    /// Percent (0-100) of a machine's allocatable cores payloads may use; 0 = no cap.
    #[serde(
        default,
        rename = "coreMaxUsageThreshold",
        alias = "CoreMaxUsageThreshold"
    )]
    pub core_max_usage_threshold: f64,
    /// Cores always left free, fractions allowed.
    #[serde(default, rename = "cpuRemainingCores", alias = "CpuRemainingCores")]
    pub cpu_remaining_cores: f64,
    #[serde(default, rename = "memoryMBFree", alias = "MemoryMBFree")]
    pub memory_mb_free: i64,
    #[serde(default, rename = "storageGBFree", alias = "StorageGBFree")]
    pub storage_gb_free: i64,
    #[serde(default, rename = "ioMBpsFree", alias = "IOMBpsFree")]
    pub io_mbps_free: i64,
    #[serde(default, rename = "inetMBpsFree", alias = "InetMBpsFree")]
    pub inet_mbps_free: i64,
}

/// A machine's hardware and OS (zeuz's `MachineSpec`). As a minimum spec, `osVersion` is a
/// pattern where `*` stands for any text (`"Ubuntu 16.04*"`), and a zero or empty field asks
/// for nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MachineSpec {
    /// `linux`, `windows`, ... (compared without regard to case).
    #[serde(default, rename = "os", alias = "OS")]
    pub os: String,
    #[serde(default, rename = "osVersion", alias = "OSVersion")]
    pub os_version: String,
    #[serde(default, rename = "coreCount", alias = "CoreCount")]
    pub core_count: i64,
    #[serde(default, rename = "coreMhz", alias = "CoreMhz")]
    pub core_mhz: i64,
    #[serde(default, rename = "memoryMB", alias = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(default, rename = "storageGB", alias = "StorageGB")]
    pub storage_gb: i64,
    #[serde(default, rename = "ioBandwidthMBps", alias = "IOBandwidthMBps")]
    pub io_bandwidth_mbps: i64,
    #[serde(default, rename = "inetBandwidthMBps", alias = "InetBandwidthMBps")]
    pub inet_bandwidth_mbps: i64,
}

/// zeuz's name for the minimum spec of an allocation's machines.
pub type MachineMinSpec = MachineSpec;

/// A scheduler's capacity section: zeuz's `ScalingRules` (less `PayloadDef`, which is the room
/// spec) plus `MachineMinSpec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Capacity {
    #[serde(default, rename = "payloadQuota", alias = "PayloadQuota")]
    pub payload_quota: PayloadQuota,
    #[serde(default, rename = "safetyLimits", alias = "SafetyLimits")]
    pub safety_limits: SafetyLimits,
    #[serde(default, rename = "machineMinSpec", alias = "MachineMinSpec")]
    pub machine_min_spec: MachineSpec,
    /// Cloud machines this scheduler may hold at most.
    #[serde(default, rename = "maxCloudMachines", alias = "MaxCloudMachines")]
    pub max_cloud_machines: i64,
    /// Bare-metal machines this scheduler may hold at most (asked for before cloud ones).
    #[serde(
        default,
        rename = "maxBareMetalMachines",
        alias = "MaxBareMetalMachines"
    )]
    pub max_bare_metal_machines: i64,
    /// Below this many free payloads, machines are added (with `enableScaling`).
    #[serde(
        default,
        rename = "minFreePayloadCapacity",
        alias = "MinFreePayloadCapacity"
    )]
    pub min_free_payload_capacity: i64,
    /// Above this many free payloads, idle machines are drained and released.
    #[serde(
        default,
        rename = "maxFreePayloadCapacity",
        alias = "MaxFreePayloadCapacity"
    )]
    pub max_free_payload_capacity: i64,
    /// Whether machines are added and released to keep the free payload capacity in bounds.
    #[serde(default, rename = "enableScaling", alias = "EnableScaling")]
    pub enable_scaling: bool,
    /// Whether rooms are kept between `minUnreservedPayloads` and `maxUnreservedPayloads`
    /// (even with scaling off).
    #[serde(default, rename = "managePayloads", alias = "ManagePayloads")]
    pub manage_payloads: bool,
    #[serde(
        default,
        rename = "minUnreservedPayloads",
        alias = "MinUnreservedPayloads"
    )]
    pub min_unreserved_payloads: i64,
    #[serde(
        default,
        rename = "maxUnreservedPayloads",
        alias = "MaxUnreservedPayloads"
    )]
    pub max_unreserved_payloads: i64,
}

#[cfg(test)]
mod tests {
    use super::super::test_support::seed_zeuz;
    use super::*;

    #[test]
    fn zeuz_spelling_reads_and_camel_case_writes_back() {
        let capacity: Capacity = serde_json::from_value(seed_zeuz()).unwrap();
        assert_eq!(capacity.payload_quota.memory_mb, 1024);
        assert_eq!(capacity.safety_limits.cpu_remaining_cores, 1.0);
        assert_eq!(capacity.machine_min_spec.os_version, "Ubuntu 16.04*");
        assert_eq!(capacity.max_bare_metal_machines, 5);
        assert!(capacity.enable_scaling && capacity.manage_payloads);
        let written = serde_json::to_value(&capacity).unwrap();
        assert_eq!(written["payloadQuota"]["memoryMB"], 1024);
        assert_eq!(written["safetyLimits"]["ioMBpsFree"], 500);
        assert_eq!(written["machineMinSpec"]["osVersion"], "Ubuntu 16.04*");
        assert_eq!(written["minFreePayloadCapacity"], 4);
        assert!(written.get("MaxCloudMachines").is_none());
        let back: Capacity = serde_json::from_value(written).unwrap();
        assert_eq!(back, capacity);
    }

    #[test]
    fn left_out_fields_are_zero() {
        let capacity: Capacity = serde_json::from_str("{}").unwrap();
        assert_eq!(capacity, Capacity::default());
    }
}
