//! A machine as capacity sees it: where it is, what kind, its hardware, what of it can be given
//! to workloads, what is given already, and its payloads.

use serde::{Deserialize, Serialize};

use super::config::{MachineSpec, PayloadQuota};

/// Amounts of every resource a payload needs, in whole units so that counting is exact:
/// millicores, MB of memory, GB of storage, MB/s of disk and of internet bandwidth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub millicores: i64,
    #[serde(rename = "memoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "storageGB")]
    pub storage_gb: i64,
    #[serde(rename = "ioMBps")]
    pub io_mbps: i64,
    #[serde(rename = "inetMBps")]
    pub inet_mbps: i64,
}

/// The resources in a fixed order, named as in zeuz's `PayloadQuota`, for reasons.
pub const RESOURCE_NAMES: [&str; 5] = [
    "CpuCores",
    "MemoryMB",
    "StorageGB",
    "IOBandwidthMBps",
    "InetBandwidthMBps",
];

impl Resources {
    pub fn as_array(&self) -> [i64; 5] {
        [
            self.millicores,
            self.memory_mb,
            self.storage_gb,
            self.io_mbps,
            self.inet_mbps,
        ]
    }

    pub fn from_array(values: [i64; 5]) -> Self {
        let [millicores, memory_mb, storage_gb, io_mbps, inet_mbps] = values;
        Self {
            millicores,
            memory_mb,
            storage_gb,
            io_mbps,
            inet_mbps,
        }
    }

    /// `count` payloads of this size (saturating).
    pub fn times(&self, count: i64) -> Self {
        Self::from_array(self.as_array().map(|v| v.saturating_mul(count)))
    }

    pub fn plus(&self, other: &Self) -> Self {
        let (a, b) = (self.as_array(), other.as_array());
        Self::from_array(std::array::from_fn(|i| a[i].saturating_add(b[i])))
    }

    /// Whether every amount is at most `other`'s.
    pub fn fits_in(&self, other: &Self) -> bool {
        let (a, b) = (self.as_array(), other.as_array());
        (0..5).all(|i| a[i] <= b[i])
    }
}

/// Cores (fractions allowed) as whole millicores, rounded up so that a payload never gets less
/// than it asked for; negative or not a number counts as zero.
pub fn millicores(cores: f64) -> i64 {
    if cores.is_finite() && cores > 0.0 {
        // Within a hair of a whole millicore counts as it (0.1 * 1000 is 100.00000000000001).
        (cores * 1000.0 - 1e-6).ceil().min(i64::MAX as f64) as i64
    } else {
        0
    }
}

impl From<&PayloadQuota> for Resources {
    fn from(quota: &PayloadQuota) -> Self {
        Self {
            millicores: millicores(quota.cpu_cores),
            memory_mb: quota.memory_mb,
            storage_gb: quota.storage_gb,
            io_mbps: quota.io_bandwidth_mbps,
            inet_mbps: quota.inet_bandwidth_mbps,
        }
    }
}

/// Where machines come from: bare metal is asked for first, cloud machines when it runs out
/// (and given back first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum MachineKind {
    BareMetal,
    Cloud,
}

impl MachineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BareMetal => "bare-metal",
            Self::Cloud => "cloud",
        }
    }
}

/// One machine of a scheduler, as a machine provider reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    pub region: String,
    pub kind: MachineKind,
    /// Hardware and OS.
    pub spec: MachineSpec,
    /// What of the machine can be given to workloads at all (Kubernetes' allocatable).
    pub allocatable: Resources,
    /// What is given already, to payloads of every scheduler and anything else.
    pub in_use: Resources,
    /// Payloads of this scheduler on the machine.
    pub payloads: u32,
    /// Of them, those reserved or occupied: a machine with any is never released.
    pub busy_payloads: u32,
    /// Being emptied to be released: no new payload goes there.
    pub draining: bool,
}

impl Machine {
    /// A machine of exactly `spec`, all of it allocatable and none of it used: how a machine
    /// scaling asks for is sized.
    pub fn of_spec(spec: &MachineSpec) -> Self {
        Self {
            id: String::new(),
            region: String::new(),
            kind: MachineKind::BareMetal,
            spec: spec.clone(),
            allocatable: Resources {
                millicores: spec.core_count.saturating_mul(1000),
                memory_mb: spec.memory_mb,
                storage_gb: spec.storage_gb,
                io_mbps: spec.io_bandwidth_mbps,
                inet_mbps: spec.inet_bandwidth_mbps,
            },
            in_use: Resources::default(),
            payloads: 0,
            busy_payloads: 0,
            draining: false,
        }
    }

    /// Payloads that could be moved (neither reserved nor occupied).
    pub fn idle_payloads(&self) -> u32 {
        self.payloads.saturating_sub(self.busy_payloads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_become_whole_millicores_rounded_up() {
        assert_eq!(millicores(1.0), 1000);
        assert_eq!(millicores(0.1), 100);
        assert_eq!(millicores(0.0005), 1);
        assert_eq!(millicores(2.5), 2500);
        assert_eq!(millicores(-1.0), 0);
        assert_eq!(millicores(f64::NAN), 0);
    }

    #[test]
    fn kinds_have_kebab_case_names() {
        assert_eq!(
            serde_json::to_value(MachineKind::BareMetal).unwrap(),
            "bare-metal"
        );
        assert_eq!(MachineKind::Cloud.as_str(), "cloud");
    }
}
