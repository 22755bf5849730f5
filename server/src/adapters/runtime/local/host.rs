//! This host as one machine: read from `/proc/cpuinfo` (cores, MHz), `/proc/meminfo` (memory),
//! `statvfs` of the rooms dir (storage), `/etc/os-release` (OS version) and `/proc/stat` (CPU in
//! use, host-wide, as the busy share of the CPU time since the previous reading).
//!
//! Allocatable is the whole machine (memory: `MemTotal`; storage: the rooms dir's file system);
//! the measured in use is what the host uses now, rooms and everything else: memory `MemTotal -
//! MemAvailable`, storage the file system's used blocks, CPU the measured busy share of every
//! core. Admission and [`LocalMachines`](super::LocalMachines) replace it by what Baton's rooms
//! reserve (their payload quotas): a host busy with other work is not full of rooms.
//! Bandwidths are not measured: they are 0 (unknown) unless configured.
//!
//! Parsing is pure ([`parse_cpuinfo`], [`parse_meminfo`], [`parse_os_release`],
//! [`parse_cpu_times`]); whether a room may start here is pure too ([`admits`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use app::domain::capacity::{
    Capacity, Machine, MachineKind, MachineSpec, Resources, meets_min_spec, quotas_in, usable,
};
use app::ports::RuntimeError;

/// Between the two readings of `/proc/stat` when there is no earlier one.
const FIRST_SAMPLE_GAP: Duration = Duration::from_millis(100);
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;

/// What the host cannot measure about itself, and how it is sold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Bare metal unless configured.
    pub kind: MachineKind,
    /// Disk bandwidth, MB/s; 0 = unknown.
    pub io_mbps: i64,
    /// Internet bandwidth, MB/s; 0 = unknown.
    pub inet_mbps: i64,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            kind: MachineKind::BareMetal,
            io_mbps: 0,
            inet_mbps: 0,
        }
    }
}

/// Cumulative CPU time of every core (`/proc/stat`'s `cpu` line), in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

impl CpuTimes {
    /// The busy share of the time between `earlier` and `self`, from 0 to 1.
    pub fn busy_share_since(&self, earlier: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        (self.busy.saturating_sub(earlier.busy) as f64 / total as f64).clamp(0.0, 1.0)
    }
}

/// Logical cores (`processor` lines) and the fastest core's MHz (`cpu MHz`, rounded; 0 when
/// not given, as on many ARM machines).
pub fn parse_cpuinfo(text: &str) -> (i64, i64) {
    let mut cores = 0;
    let mut mhz: f64 = 0.0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => cores += 1,
            "cpu MHz" => {
                if let Ok(value) = value.trim().parse::<f64>() {
                    mhz = mhz.max(value);
                }
            }
            _ => {}
        }
    }
    (cores, mhz.round() as i64)
}

/// `MemTotal` and `MemAvailable`, in bytes (`None` when either is missing).
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let mut words = rest.split_whitespace();
            let value: u64 = words.next()?.parse().ok()?;
            let unit = match words.next() {
                Some("kB") => 1024,
                None => 1,
                Some(_) => return None,
            };
            Some(value.saturating_mul(unit))
        })
    };
    Some((field("MemTotal")?, field("MemAvailable")?))
}

/// The OS version as `/etc/os-release` names it: `PRETTY_NAME` (`Ubuntu 22.04.3 LTS`), else
/// `NAME VERSION_ID`, else empty.
pub fn parse_os_release(text: &str) -> String {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let value = line.trim().strip_prefix(name)?.strip_prefix('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            (!value.is_empty()).then(|| value.to_string())
        })
    };
    if let Some(pretty) = field("PRETTY_NAME") {
        return pretty;
    }
    match (field("NAME"), field("VERSION_ID")) {
        (Some(name), Some(version)) => format!("{name} {version}"),
        (Some(name), None) => name,
        (None, Some(version)) => version,
        (None, None) => String::new(),
    }
}

/// The first line of `/proc/stat` (`cpu  user nice system idle iowait irq softirq steal ...`):
/// idle and iowait are idle, the rest (guest time is already in user) busy.
pub fn parse_cpu_times(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 4 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// Size and free space (for unprivileged users) of the file system holding `path`, in bytes.
fn statvfs(path: &Path) -> Result<(u64, u64), String> {
    use std::os::unix::ffi::OsStrExt;
    let path_c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL byte", path.display()))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path_c` is a valid C string and `stat` a valid out pointer for the call.
    let answer = unsafe { libc::statvfs(path_c.as_ptr(), &mut stat) };
    if answer != 0 {
        return Err(format!(
            "statvfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let block = stat.f_frsize as u64;
    Ok((
        (stat.f_blocks as u64).saturating_mul(block),
        (stat.f_bavail as u64).saturating_mul(block),
    ))
}

fn read(path: &str) -> Result<String, RuntimeError> {
    std::fs::read_to_string(path)
        .map_err(|err| RuntimeError::Unavailable(format!("reading {path}: {err}")))
}

/// Reads this host; keeps the previous `/proc/stat` reading so that CPU in use is the busy
/// share since the previous call (the first call samples twice, [`FIRST_SAMPLE_GAP`] apart).
#[derive(Debug)]
pub struct HostProbe {
    root: PathBuf,
    config: HostConfig,
    last_cpu: Mutex<Option<CpuTimes>>,
}

impl HostProbe {
    /// Storage is that of the file system holding `root` (the rooms dir).
    pub fn new(root: PathBuf, config: HostConfig) -> Self {
        Self {
            root,
            config,
            last_cpu: Mutex::new(None),
        }
    }

    fn cpu_busy_share(&self) -> Result<f64, RuntimeError> {
        let now = || {
            parse_cpu_times(&read("/proc/stat")?)
                .ok_or_else(|| RuntimeError::Unavailable("unreadable /proc/stat".into()))
        };
        let previous = *self.last_cpu.lock().unwrap_or_else(|e| e.into_inner());
        let previous = match previous {
            Some(previous) => previous,
            None => {
                let first = now()?;
                std::thread::sleep(FIRST_SAMPLE_GAP);
                first
            }
        };
        let current = now()?;
        *self.last_cpu.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
        Ok(current.busy_share_since(&previous))
    }

    /// This host as a machine with `id` in `region` (blocking: call it off the async threads).
    pub fn machine(&self, id: &str, region: &str) -> Result<Machine, RuntimeError> {
        let (cores, mut mhz) = parse_cpuinfo(&read("/proc/cpuinfo")?);
        if mhz == 0 {
            // No `cpu MHz` (ARM): the kernel's maximum frequency, in kHz, when it has one.
            mhz = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
                .ok()
                .and_then(|khz| khz.trim().parse::<i64>().ok())
                .map_or(0, |khz| khz / 1000);
        }
        let (mem_total, mem_available) = parse_meminfo(&read("/proc/meminfo")?)
            .ok_or_else(|| RuntimeError::Unavailable("unreadable /proc/meminfo".into()))?;
        let (disk_total, disk_free) = statvfs(&self.root).map_err(RuntimeError::Unavailable)?;
        let os_version = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .map(|text| parse_os_release(&text))
            .unwrap_or_default();
        let busy = self.cpu_busy_share()?;
        let memory_mb = (mem_total / MIB) as i64;
        let storage_gb = (disk_total / GIB) as i64;
        let spec = MachineSpec {
            os: std::env::consts::OS.to_string(),
            os_version,
            core_count: cores,
            core_mhz: mhz,
            memory_mb,
            storage_gb,
            io_bandwidth_mbps: self.config.io_mbps,
            inet_bandwidth_mbps: self.config.inet_mbps,
        };
        let mut machine = Machine {
            id: id.to_string(),
            region: region.to_string(),
            kind: self.config.kind,
            ..Machine::of_spec(&spec)
        };
        machine.in_use = Resources {
            millicores: (busy * (cores * 1000) as f64).round() as i64,
            memory_mb: (mem_total.saturating_sub(mem_available) / MIB) as i64,
            storage_gb: (disk_total.saturating_sub(disk_free) / GIB) as i64,
            io_mbps: 0,
            inet_mbps: 0,
        };
        Ok(machine)
    }
}

/// This host's name (`/proc/sys/kernel/hostname`), `localhost` when unreadable.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether one more payload of `capacity` may start on `host`: `Err` says why not (the host is
/// below the minimum spec, or a payload more would break a safety limit, naming the resource).
///
/// A bandwidth the host does not know (0) is not held against it: neither the minimum spec nor
/// the quota is checked on it.
pub fn admits(host: &Machine, capacity: &Capacity) -> Result<(), String> {
    let mut min_spec = capacity.machine_min_spec.clone();
    let mut quota = Resources::from(&capacity.payload_quota);
    let mut limits = capacity.safety_limits.clone();
    if host.spec.io_bandwidth_mbps == 0 {
        min_spec.io_bandwidth_mbps = 0;
        quota.io_mbps = 0;
        limits.io_mbps_free = 0;
    }
    if host.spec.inet_bandwidth_mbps == 0 {
        min_spec.inet_bandwidth_mbps = 0;
        quota.inet_mbps = 0;
        limits.inet_mbps_free = 0;
    }
    if let Err(short) = meets_min_spec(host, &min_spec) {
        let reasons: Vec<String> = short.iter().map(ToString::to_string).collect();
        return Err(format!(
            "this host is below the machine minimum spec: {}",
            reasons.join("; ")
        ));
    }
    let usable = usable(&host.allocatable, &limits).as_array();
    let used = host.in_use.as_array();
    let left = Resources::from_array(std::array::from_fn(|i| {
        usable[i].saturating_sub(used[i]).max(0)
    }));
    match quotas_in(&left, &quota) {
        (0, Some(resource)) => Err(format!(
            "a new payload would break this host's safety limits: {resource} left after the limits {}, the payload quota needs {}",
            figure(&left, resource),
            figure(&quota, resource)
        )),
        _ => Ok(()),
    }
}

/// Reads this host and admits one more payload of `capacity` when the rooms already there
/// hold `reserved` (their quotas, not what the host measures: a busy host is not full of
/// rooms); answers what the new room holds. A room it cannot hold: `NoCapacity`, with the reason.
pub(super) async fn check(
    probe: &std::sync::Arc<HostProbe>,
    capacity: &Capacity,
    reserved: Resources,
) -> Result<Resources, RuntimeError> {
    let probe = probe.clone();
    let mut host = tokio::task::spawn_blocking(move || probe.machine(&host_name(), ""))
        .await
        .map_err(|err| RuntimeError::Unavailable(format!("reading this host: {err}")))??;
    host.in_use = reserved;
    admits(&host, capacity)
        .map_err(|reason| RuntimeError::NoCapacity(format!("room not started: {reason}")))?;
    Ok(Resources::from(&capacity.payload_quota))
}

/// The amount of `resource` (zeuz's name) in `resources`, in zeuz's unit.
fn figure(resources: &Resources, resource: &str) -> String {
    match resource {
        "CpuCores" => format!("{} cores", resources.millicores as f64 / 1000.0),
        "MemoryMB" => format!("{} MB", resources.memory_mb),
        "StorageGB" => format!("{} GB", resources.storage_gb),
        "IOBandwidthMBps" => format!("{} MB/s", resources.io_mbps),
        _ => format!("{} MB/s", resources.inet_mbps),
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
