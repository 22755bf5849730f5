//! Capacity, zeuz's allocation model: the machines a scheduler runs on, how many payloads (rooms)
//! each can hold without hurting the others, and when to ask for machines or give them back.
//!
//! - [`config`]: the scheduler's capacity section, in zeuz's words (`PayloadQuota`,
//!   `SafetyLimits`, `MachineMinSpec`, the scaling bounds);
//! - [`fields`]: that section field by field, as the scheduler form edits it;
//! - [`machine`]: a machine as a provider reports it, and resource amounts;
//! - [`payloads`]: a scheduler's payloads and busy payloads on each reported machine;
//! - [`record`]: a machine-scaling decision as recorded, with each action's outcome;
//! - [`spec`]: whether a machine meets the minimum spec, and where it falls short;
//! - [`fit`]: how many payloads fit on a machine, on all of them, per region;
//! - [`scaling`]: the machine-scaling decision, with its reason and figures;
//! - [`series`]: free payload capacity over time, one sample per evaluation, bounded;
//! - [`zeuz`]: zeuz's allocation document, onto a scheduler and back.
//!
//! Pure and wasm-safe: the server decides with it and the dashboard can show the same figures.

pub mod config;
pub mod fields;
pub mod fit;
pub mod machine;
pub mod managed;
pub mod payloads;
pub mod record;
pub mod scaling;
pub mod series;
pub mod spec;
// zeuz's allocation shape fills a scheduler's capacity section, which only the server reads
// (see `verbatim`).
#[cfg(feature = "ssr")]
pub mod zeuz;

#[cfg(test)]
mod props;
#[cfg(test)]
mod scaling_tests;
#[cfg(test)]
mod zeuz_tests;

pub use config::*;
pub use fit::*;
pub use machine::*;
pub use managed::*;
pub use payloads::*;
pub use record::*;
pub use scaling::*;
pub use series::*;
pub use spec::*;

/// The seed's allocation, and machines built like its minimum spec, for the tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The seed's `ScalingRules` and `MachineMinSpec`, as zeuz writes them.
    pub(crate) fn seed_zeuz() -> serde_json::Value {
        serde_json::json!({
            "MaxCloudMachines": 3, "MaxBareMetalMachines": 5,
            "PayloadQuota": {"CpuCores": 1, "MemoryMB": 1024, "StorageGB": 50,
                "IOBandwidthMBps": 200, "InetBandwidthMBps": 10},
            "MinUnreservedPayloads": 4, "MaxUnreservedPayloads": 6,
            "MinFreePayloadCapacity": 4, "MaxFreePayloadCapacity": 8,
            "SafetyLimits": {"CoreMaxUsageThreshold": 0, "CpuRemainingCores": 1,
                "MemoryMBFree": 2048, "StorageGBFree": 100, "IOMBpsFree": 500, "InetMBpsFree": 20},
            "EnableScaling": true, "ManagePayloads": true,
            "MachineMinSpec": {"OS": "linux", "OSVersion": "Ubuntu 16.04*", "CoreCount": 4,
                "CoreMhz": 3000, "MemoryMB": 16384, "StorageGB": 500,
                "IOBandwidthMBps": 3000, "InetBandwidthMBps": 100}
        })
    }

    pub(crate) fn seed_capacity() -> Capacity {
        serde_json::from_value(seed_zeuz()).expect("the seed's allocation reads")
    }

    /// A machine like the seed's minimum spec scaled to `cores` (every resource in proportion),
    /// running Ubuntu 16.04.7, empty.
    pub(crate) fn seed_machine(id: &str, region: &str, kind: MachineKind, cores: i64) -> Machine {
        let min = seed_capacity().machine_min_spec;
        let spec = MachineSpec {
            os: "linux".into(),
            os_version: "Ubuntu 16.04.7 LTS".into(),
            core_count: cores,
            core_mhz: min.core_mhz,
            memory_mb: min.memory_mb * cores / 4,
            storage_gb: min.storage_gb * cores / 4,
            io_bandwidth_mbps: min.io_bandwidth_mbps * cores / 4,
            inet_bandwidth_mbps: min.inet_bandwidth_mbps * cores / 4,
        };
        Machine {
            id: id.into(),
            region: region.into(),
            kind,
            ..Machine::of_spec(&spec)
        }
    }

    /// `machine` running `payloads` of the seed's quota, `busy` of them reserved or occupied.
    pub(crate) fn running(mut machine: Machine, payloads: u32, busy: u32) -> Machine {
        let quota = Resources::from(&seed_capacity().payload_quota);
        machine.in_use = quota.times(i64::from(payloads));
        machine.payloads = payloads;
        machine.busy_payloads = busy;
        machine
    }
}
