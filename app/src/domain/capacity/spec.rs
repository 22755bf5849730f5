//! Whether a machine meets a minimum spec, and if not, which fields fall short.

use serde::{Deserialize, Serialize};

use super::config::MachineSpec;
use super::machine::Machine;

/// One field of the minimum spec a machine does not meet, with both values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Shortfall {
    /// zeuz's name of the field: `OS`, `OSVersion`, `CoreCount`, `CoreMhz`, `MemoryMB`, ...
    pub field: String,
    pub wanted: String,
    pub found: String,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {:?}, the minimum spec wants {:?}",
            self.field, self.found, self.wanted
        )
    }
}

/// `Ok` when `machine` meets `spec` on every field, else every field it falls short on, in the
/// order of the spec. Zero or empty fields of the spec ask for nothing; the OS is compared
/// without regard to case; the OS version must match the spec's pattern (see
/// [`os_version_matches`]).
pub fn meets_min_spec(machine: &Machine, spec: &MachineSpec) -> Result<(), Vec<Shortfall>> {
    let have = &machine.spec;
    let mut short = Vec::new();
    let mut add = |field: &str, wanted: String, found: String| {
        short.push(Shortfall {
            field: field.to_string(),
            wanted,
            found,
        })
    };
    if !spec.os.is_empty() && !spec.os.trim().eq_ignore_ascii_case(have.os.trim()) {
        add("OS", spec.os.clone(), have.os.clone());
    }
    if !spec.os_version.is_empty() && !os_version_matches(&spec.os_version, &have.os_version) {
        add(
            "OSVersion",
            spec.os_version.clone(),
            have.os_version.clone(),
        );
    }
    for (field, wanted, found) in [
        ("CoreCount", spec.core_count, have.core_count),
        ("CoreMhz", spec.core_mhz, have.core_mhz),
        ("MemoryMB", spec.memory_mb, have.memory_mb),
        ("StorageGB", spec.storage_gb, have.storage_gb),
        (
            "IOBandwidthMBps",
            spec.io_bandwidth_mbps,
            have.io_bandwidth_mbps,
        ),
        (
            "InetBandwidthMBps",
            spec.inet_bandwidth_mbps,
            have.inet_bandwidth_mbps,
        ),
    ] {
        if found < wanted {
            add(field, format!("at least {wanted}"), found.to_string());
        }
    }
    if short.is_empty() { Ok(()) } else { Err(short) }
}

/// Whether `version` matches `pattern`, where `*` stands for any text (none included) and every
/// other character for itself, ASCII case aside: `"Ubuntu 16.04*"` matches `"Ubuntu 16.04.7 LTS"`
/// but not `"Ubuntu 18.04"`. Surrounding spaces are ignored on both.
pub fn os_version_matches(pattern: &str, version: &str) -> bool {
    let pattern: Vec<char> = pattern.trim().to_ascii_lowercase().chars().collect();
    let text: Vec<char> = version.trim().to_ascii_lowercase().chars().collect();
    // Greedy wildcard matching with one backtrack point: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::super::machine::MachineKind;
    use super::*;

    fn machine(spec: MachineSpec) -> Machine {
        Machine {
            kind: MachineKind::Cloud,
            ..Machine::of_spec(&spec)
        }
    }

    fn seed_min_spec() -> MachineSpec {
        MachineSpec {
            os: "linux".into(),
            os_version: "Ubuntu 16.04*".into(),
            core_count: 4,
            core_mhz: 3000,
            memory_mb: 16384,
            storage_gb: 500,
            io_bandwidth_mbps: 3000,
            inet_bandwidth_mbps: 100,
        }
    }

    #[test]
    fn wildcards_match_any_text() {
        for (pattern, version, expected) in [
            ("Ubuntu 16.04*", "Ubuntu 16.04.7 LTS", true),
            ("Ubuntu 16.04*", "Ubuntu 16.04", true),
            ("Ubuntu 16.04*", "ubuntu 16.04.1", true),
            ("Ubuntu 16.04*", "Ubuntu 18.04", false),
            ("Ubuntu 16.04*", "Debian Ubuntu 16.04", false),
            ("*", "", true),
            ("*", "anything", true),
            ("Ubuntu *.04*", "Ubuntu 22.04.3 LTS", true),
            ("Ubuntu *.04*", "Ubuntu 22.10", false),
            ("*LTS", "Ubuntu 22.04 LTS", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("Ubuntu 16.04", "Ubuntu 16.04.7", false),
        ] {
            assert_eq!(
                os_version_matches(pattern, version),
                expected,
                "{pattern} ~ {version}"
            );
        }
    }

    #[test]
    fn a_machine_of_the_spec_meets_it_and_a_smaller_one_says_where_it_falls_short() {
        let spec = seed_min_spec();
        let mut exact = spec.clone();
        exact.os_version = "Ubuntu 16.04.7 LTS".into();
        assert_eq!(meets_min_spec(&machine(exact.clone()), &spec), Ok(()));

        let mut small = exact;
        small.os = "Windows".into();
        small.core_count = 2;
        small.memory_mb = 8192;
        let short = meets_min_spec(&machine(small), &spec).unwrap_err();
        let fields: Vec<&str> = short.iter().map(|s| s.field.as_str()).collect();
        assert_eq!(fields, ["OS", "CoreCount", "MemoryMB"]);
        assert_eq!(short[1].wanted, "at least 4");
        assert_eq!(short[1].found, "2");
        assert_eq!(
            short[1].to_string(),
            "CoreCount is \"2\", the minimum spec wants \"at least 4\""
        );
    }

    #[test]
    fn an_empty_spec_asks_for_nothing() {
        assert_eq!(
            meets_min_spec(&machine(MachineSpec::default()), &MachineSpec::default()),
            Ok(())
        );
    }

    #[test]
    fn the_os_version_must_match_the_pattern() {
        let mut found = seed_min_spec();
        found.os_version = "Ubuntu 18.04".into();
        let short = meets_min_spec(&machine(found), &seed_min_spec()).unwrap_err();
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].field, "OSVersion");
    }
}
