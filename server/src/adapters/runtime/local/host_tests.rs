use super::*;

use app::domain::capacity::{PayloadQuota, SafetyLimits};

const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 2893.204\n\
cache size\t: 36608 KB\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 3400.000\n\n\
processor\t: 2\ncpu MHz\t\t: 1200.5\n\nprocessor\t: 3\n";

const MEMINFO: &str = "MemTotal:       16303428 kB\nMemFree:          512000 kB\n\
MemAvailable:    8151714 kB\nBuffers:          123456 kB\n";

#[test]
fn cpuinfo_gives_the_cores_and_the_fastest_mhz() {
    assert_eq!(parse_cpuinfo(CPUINFO), (4, 3400));
    // ARM: no `cpu MHz` lines.
    assert_eq!(
        parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 48.00\n\nprocessor\t: 1\n"),
        (2, 0)
    );
    assert_eq!(parse_cpuinfo(""), (0, 0));
}

#[test]
fn meminfo_gives_total_and_available_bytes() {
    assert_eq!(
        parse_meminfo(MEMINFO),
        Some((16303428 * 1024, 8151714 * 1024))
    );
    assert_eq!(parse_meminfo("MemTotal: 100 kB\n"), None);
    assert_eq!(parse_meminfo("MemTotal: x kB\nMemAvailable: 1 kB\n"), None);
}

#[test]
fn os_release_gives_the_pretty_name_else_name_and_version() {
    let ubuntu =
        "NAME=\"Ubuntu\"\nVERSION_ID=\"16.04\"\nPRETTY_NAME=\"Ubuntu 16.04.7 LTS\"\nID=ubuntu\n";
    assert_eq!(parse_os_release(ubuntu), "Ubuntu 16.04.7 LTS");
    assert_eq!(
        parse_os_release("NAME='Alpine Linux'\nVERSION_ID=3.19.1\n"),
        "Alpine Linux 3.19.1"
    );
    assert_eq!(parse_os_release("ID=x\n"), "");
}

#[test]
fn proc_stat_splits_busy_from_idle_time() {
    let first = parse_cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
    assert_eq!(
        first,
        CpuTimes {
            busy: 150,
            total: 1000
        }
    );
    let second = parse_cpu_times("cpu  400 0 50 1300 50 0 0 0 0 0\n").unwrap();
    assert!((second.busy_share_since(&first) - 0.375).abs() < 1e-9);
    assert_eq!(first.busy_share_since(&first), 0.0);
    assert_eq!(parse_cpu_times("intr 1 2 3\n"), None);
}

#[test]
fn this_machine_reads_with_sane_values() {
    let probe = HostProbe::new(std::env::temp_dir(), HostConfig::default());
    let machine = probe.machine("here", "local").unwrap();
    let spec = &machine.spec;
    assert_eq!(
        (machine.id.as_str(), machine.region.as_str()),
        ("here", "local")
    );
    assert_eq!(machine.kind, MachineKind::BareMetal);
    assert_eq!(spec.os, "linux");
    assert!(spec.core_count >= 1, "{spec:?}");
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        spec.core_count as usize >= usable,
        "cpuinfo lists every core this process may use"
    );
    assert!(spec.memory_mb > 64, "{spec:?}");
    assert!(spec.storage_gb >= 1, "{spec:?}");
    assert_eq!(machine.allocatable.millicores, spec.core_count * 1000);
    assert_eq!(machine.allocatable.memory_mb, spec.memory_mb);
    let used = &machine.in_use;
    assert!(
        (0..=machine.allocatable.millicores).contains(&used.millicores),
        "{used:?}"
    );
    assert!(
        (1..=machine.allocatable.memory_mb).contains(&used.memory_mb),
        "{used:?}"
    );
    assert!(
        (0..=machine.allocatable.storage_gb).contains(&used.storage_gb),
        "{used:?}"
    );
    assert_eq!((spec.io_bandwidth_mbps, spec.inet_bandwidth_mbps), (0, 0));
    // The second reading measures since the first.
    assert!(probe.machine("here", "local").is_ok());
}

fn host() -> Machine {
    let spec = MachineSpec {
        os: "linux".into(),
        os_version: "Ubuntu 22.04.3 LTS".into(),
        core_count: 8,
        core_mhz: 3200,
        memory_mb: 32768,
        storage_gb: 1000,
        io_bandwidth_mbps: 0,
        inet_bandwidth_mbps: 0,
    };
    let mut host = Machine::of_spec(&spec);
    host.in_use = Resources {
        millicores: 2000,
        memory_mb: 8192,
        storage_gb: 100,
        io_mbps: 0,
        inet_mbps: 0,
    };
    host
}

fn capacity() -> Capacity {
    Capacity {
        payload_quota: PayloadQuota {
            cpu_cores: 1.0,
            memory_mb: 1024,
            storage_gb: 50,
            io_bandwidth_mbps: 200,
            inet_bandwidth_mbps: 10,
        },
        safety_limits: SafetyLimits {
            cpu_remaining_cores: 1.0,
            memory_mb_free: 2048,
            storage_gb_free: 100,
            io_mbps_free: 500,
            inet_mbps_free: 20,
            ..SafetyLimits::default()
        },
        machine_min_spec: MachineSpec {
            os: "linux".into(),
            os_version: "Ubuntu 22.04*".into(),
            core_count: 4,
            core_mhz: 3000,
            memory_mb: 16384,
            storage_gb: 500,
            io_bandwidth_mbps: 3000,
            inet_bandwidth_mbps: 100,
        },
        ..Capacity::default()
    }
}

#[test]
fn a_host_meeting_the_spec_with_room_left_admits_a_payload_unknown_bandwidths_aside() {
    assert_eq!(admits(&host(), &capacity()), Ok(()));
}

#[test]
fn a_host_below_the_min_spec_admits_nothing_and_says_why() {
    let mut capacity = capacity();
    capacity.machine_min_spec.core_mhz = 3500;
    capacity.machine_min_spec.os_version = "Ubuntu 16.04*".into();
    let reason = admits(&host(), &capacity).unwrap_err();
    assert!(
        reason.starts_with("this host is below the machine minimum spec"),
        "{reason}"
    );
    assert!(
        reason.contains("OSVersion") && reason.contains("CoreMhz"),
        "{reason}"
    );
}

#[test]
fn a_payload_that_would_break_a_safety_limit_is_not_admitted() {
    let mut busy = host();
    // 8 cores, 1 kept free, 6.5 in use: half a core left, the quota needs one.
    busy.in_use.millicores = 6500;
    let reason = admits(&busy, &capacity()).unwrap_err();
    assert_eq!(
        reason,
        "a new payload would break this host's safety limits: CpuCores left after the limits 0.5 cores, the payload quota needs 1 cores"
    );
    // Memory: 32768 - 2048 free = 30720 usable, 30000 used: 720 MB left for a 1024 MB quota.
    let mut full = host();
    full.in_use.memory_mb = 30000;
    assert!(admits(&full, &capacity()).unwrap_err().contains("MemoryMB"));
}

#[test]
fn a_known_bandwidth_is_checked() {
    let mut fast = host();
    fast.spec.io_bandwidth_mbps = 600;
    fast.allocatable.io_mbps = 600;
    let mut capacity = capacity();
    capacity.machine_min_spec.io_bandwidth_mbps = 0;
    // 600 - 500 kept free = 100 MB/s for a 200 MB/s quota.
    assert!(
        admits(&fast, &capacity)
            .unwrap_err()
            .contains("IOBandwidthMBps")
    );
    capacity.machine_min_spec.io_bandwidth_mbps = 3000;
    assert!(
        admits(&fast, &capacity)
            .unwrap_err()
            .contains("below the machine minimum spec")
    );
}
