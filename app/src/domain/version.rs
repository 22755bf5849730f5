//! Scheduler versions: `v1`, `v2` for changes that need new rooms, `v1.1` for those that don't.

use super::scheduler::SchedulerConfig;

/// A parsed version: `v{major}` or `v{major}.{minor}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionNumber {
    pub major: u32,
    pub minor: u32,
}

impl VersionNumber {
    pub const FIRST: Self = Self { major: 1, minor: 0 };

    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix('v')?;
        let (major, minor) = match rest.split_once('.') {
            Some((major, minor)) => (major, minor.parse().ok()?),
            None => (rest, 0),
        };
        Some(Self {
            major: major.parse().ok()?,
            minor,
        })
    }
}

impl std::fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.minor {
            0 => write!(f, "v{}", self.major),
            minor => write!(f, "v{}.{minor}", self.major),
        }
    }
}

/// Whether moving from `old` to `new` changes the rooms themselves (so they must be replaced).
pub fn needs_new_rooms(old: &SchedulerConfig, new: &SchedulerConfig) -> bool {
    old.spec != new.spec
        || old.port_range != new.port_range
        || old.annotations != new.annotations
        || old.labels != new.labels
}

/// The version a change from the active configuration gets, given every version that exists:
/// a new major after the highest one when rooms change, else the next minor of the active major.
pub fn next_version(
    active: &str,
    old: &SchedulerConfig,
    new: &SchedulerConfig,
    existing: &[String],
) -> String {
    let existing: Vec<VersionNumber> = existing
        .iter()
        .filter_map(|v| VersionNumber::parse(v))
        .collect();
    let active = VersionNumber::parse(active).unwrap_or(VersionNumber::FIRST);
    let next = if needs_new_rooms(old, new) {
        let major = existing.iter().map(|v| v.major).max().unwrap_or(0) + 1;
        VersionNumber { major, minor: 0 }
    } else {
        let minor = existing
            .iter()
            .filter(|v| v.major == active.major)
            .map(|v| v.minor)
            .max()
            .unwrap_or(0)
            + 1;
        VersionNumber {
            major: active.major,
            minor,
        }
    };
    next.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[&str]) -> Vec<String> {
        list.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(VersionNumber::parse("v1"), Some(VersionNumber::FIRST));
        assert_eq!(
            VersionNumber::parse("v2.3"),
            Some(VersionNumber { major: 2, minor: 3 })
        );
        assert_eq!(VersionNumber::parse("2"), None);
        assert_eq!(VersionNumber::parse("vx"), None);
        assert_eq!(VersionNumber { major: 2, minor: 3 }.to_string(), "v2.3");
        assert_eq!(VersionNumber::FIRST.to_string(), "v1");
    }

    #[test]
    fn room_changes_bump_the_major_others_the_minor() {
        let old = SchedulerConfig::default();
        let mut replicas = old.clone();
        replicas.rooms_replicas = 5;
        let mut image = old.clone();
        image.spec.termination_grace_period.0 = "5s".into();
        assert_eq!(
            next_version("v1", &old, &replicas, &versions(&["v1"])),
            "v1.1"
        );
        assert_eq!(
            next_version("v1.1", &old, &replicas, &versions(&["v1", "v1.1"])),
            "v1.2"
        );
        assert_eq!(
            next_version("v1.1", &old, &image, &versions(&["v1", "v1.1"])),
            "v2"
        );
        // After a rollback to v1, a room change still gets a fresh major.
        assert_eq!(
            next_version("v1", &old, &image, &versions(&["v1", "v2"])),
            "v3"
        );
        assert_eq!(
            next_version("v1", &old, &replicas, &versions(&["v1", "v1.1", "v2"])),
            "v1.2"
        );
    }
}
