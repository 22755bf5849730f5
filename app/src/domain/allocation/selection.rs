//! Which room an allocation gets: the scheduler's strategy and the request's selector.
//!
//! - Strategy (`allocation.strategy` of the scheduler): `packed` (the default) takes a room on
//!   the machine with the most busy rooms ([`super::packing`]), and there occupied rooms first,
//!   then the room with the most running matches plus open claims, so that whole rooms and
//!   whole machines stay empty for scale-down; among equally busy rooms the greatest id goes
//!   first.
//!   `distributed` takes the least-loaded room first (spreading matches), ready before occupied
//!   at equal load, then the smallest id.
//! - Selector (per request, [`RoomSelector`]): `version` and `labels` match the scheduler version
//!   a room was created from (labels resolve, in the service, to the versions whose labels hold
//!   every pair asked for); `metadata` matches the room's own metadata (as last pinged) key by
//!   key, as equal JSON values ([`same_json`]); `regions` is a preference list: the first region
//!   that has a room able to take the claim and matching the rest wins, whatever the others
//!   hold. No regions: any region. Rooms whose region is empty (stored before Baton knew
//!   regions) run in the default runtime's region: naming that region (or `""`) finds them
//!   too, right after the rooms that carry its name ([`with_unnamed_rooms`]).
//!
//! [`pick`] applies both; the room stores apply the same rule atomically.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::can_take;
use super::packing::{Candidate, busy_machines, candidate_order, machine_busy};
use crate::domain::room::{GameRoom, RoomStatus};
use crate::domain::validation::FieldError;

/// The most regions one selector lists.
pub const MAX_SELECTOR_REGIONS: usize = 16;

/// How a scheduler chooses among the rooms that can take a claim.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The busiest room first (occupied rooms, then the most matches and claims).
    #[default]
    Packed,
    /// The least-loaded room first.
    Distributed,
}

impl Strategy {
    pub const ALL: [Strategy; 2] = [Strategy::Packed, Strategy::Distributed];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Packed => "packed",
            Strategy::Distributed => "distributed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a matchmaker may ask of the room it gets (every part optional; `{}` matches any room).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomSelector {
    /// Only rooms created from this scheduler version (e.g. `v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Only rooms created from a scheduler version whose labels hold all these pairs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Only rooms whose metadata (as the room last pinged it) has each of these keys with an
    /// equal JSON value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Regions in order of preference: a room of the first region that has one that matches,
    /// else of the next, and so on. Empty: any region. The default runtime's region also finds
    /// the rooms stored before Baton knew regions (as does `""`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

/// A scheduler version as a selector sees it: its name and labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionLabels {
    pub version: String,
    pub labels: BTreeMap<String, String>,
}

/// A selector resolved against the scheduler's versions, with the scheduler's strategy: what a
/// room store needs to pick a room.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub strategy: Strategy,
    /// The versions a room may be of; `None` for any.
    pub versions: Option<BTreeSet<String>>,
    /// Pairs the room's metadata must hold.
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Regions in order of preference; empty for any region.
    pub regions: Vec<String>,
}

impl Selection {
    /// Any room, by `strategy`.
    pub fn any(strategy: Strategy) -> Self {
        Self {
            strategy,
            ..Self::default()
        }
    }

    /// Whether a store must read a candidate room to know if it matches (version or metadata),
    /// rather than taking the first one its index orders.
    pub fn reads_rooms(&self) -> bool {
        self.versions.is_some() || !self.metadata.is_empty()
    }

    /// Whether no room can match (a version or label selector that no version satisfies).
    pub fn matches_nothing(&self) -> bool {
        self.versions.as_ref().is_some_and(BTreeSet::is_empty)
    }
}

impl RoomSelector {
    /// Checks the selector's shape; every problem with its path (`selector.regions[1]`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut add = |field: String, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_string(),
            })
        };
        if self.version.as_deref().is_some_and(|v| v.trim().is_empty()) {
            add("selector.version".into(), "must not be empty");
        }
        if self.regions.len() > MAX_SELECTOR_REGIONS {
            add(
                "selector.regions".into(),
                &format!("lists at most {MAX_SELECTOR_REGIONS} regions"),
            );
        }
        for (i, region) in self.regions.iter().enumerate() {
            if self.regions[..i].contains(region) {
                add(format!("selector.regions[{i}]"), "is listed twice");
            } else if region.len() > 63 || region.chars().any(char::is_control) {
                add(
                    format!("selector.regions[{i}]"),
                    "must be at most 63 characters, none of them control characters",
                );
            }
        }
        for key in self.labels.keys() {
            if key.is_empty() {
                add("selector.labels".into(), "label keys must not be empty");
            }
        }
        for key in self.metadata.keys() {
            if key.is_empty() {
                add(
                    "selector.metadata".into(),
                    "metadata keys must not be empty",
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The selection this selector makes among the rooms of a scheduler with `versions`, by
    /// `strategy`. A `version` the scheduler does not have is an error on `selector.version`;
    /// labels that no version holds resolve to a selection that matches nothing.
    pub fn resolve(
        &self,
        strategy: Strategy,
        versions: &[VersionLabels],
    ) -> Result<Selection, FieldError> {
        if let Some(version) = &self.version
            && !versions.iter().any(|v| &v.version == version)
        {
            return Err(FieldError {
                field: "selector.version".into(),
                message: format!("the scheduler has no version {version}"),
            });
        }
        let versions = (self.version.is_some() || !self.labels.is_empty()).then(|| {
            versions
                .iter()
                .filter(|v| self.version.as_ref().is_none_or(|want| &v.version == want))
                .filter(|v| {
                    self.labels
                        .iter()
                        .all(|(key, value)| v.labels.get(key) == Some(value))
                })
                .map(|v| v.version.clone())
                .collect()
        });
        Ok(Selection {
            strategy,
            versions,
            metadata: self.metadata.clone(),
            regions: self.regions.clone(),
        })
    }
}

/// `regions` (a selector's preference list) with the rooms that carry no region (`""`, stored
/// before Baton knew regions) in their place: right after `default_region`, the region they run
/// in; `""` alone stands for both as well. Order kept, each region once.
pub fn with_unnamed_rooms(regions: &[String], default_region: &str) -> Vec<String> {
    let mut expanded: Vec<String> = Vec::with_capacity(regions.len() + 1);
    for region in regions {
        let names: &[&str] = if region == default_region || region.is_empty() {
            &[default_region, ""]
        } else {
            &[region.as_str()]
        };
        for name in names {
            if !expanded.iter().any(|r| r == name) {
                expanded.push(name.to_string());
            }
        }
    }
    expanded
}

/// Whether two JSON values are equal as a selector compares them: numbers by value (`1` and
/// `1.0` are equal), objects by their pairs, arrays in order; an empty array and an empty
/// object are equal too (the Redis store reads both as one empty Lua table).
pub fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q)),
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, p)| y.get(key).is_some_and(|q| same_json(p, q)))
        }
        (Array(x), Object(y)) | (Object(y), Array(x)) => x.is_empty() && y.is_empty(),
        _ => a == b,
    }
}

/// Whether `room` matches `selection`'s version, metadata and regions (not its capacity: see
/// [`can_take`]).
pub fn matches(room: &GameRoom, selection: &Selection) -> bool {
    selection
        .versions
        .as_ref()
        .is_none_or(|versions| versions.contains(&room.version))
        && selection.metadata.iter().all(|(key, want)| {
            room.metadata
                .get(key)
                .is_some_and(|have| same_json(have, want))
        })
        && (selection.regions.is_empty() || selection.regions.contains(&room.region))
}

/// The order of `strategy` between two candidates `(room, load)`: `Less` goes first.
pub fn order(strategy: Strategy, a: (&GameRoom, u64), b: (&GameRoom, u64)) -> Ordering {
    let occupied = |room: &GameRoom| room.status == RoomStatus::Occupied;
    match strategy {
        Strategy::Packed => (!occupied(a.0), Reverse(a.1), Reverse(&a.0.id)).cmp(&(
            !occupied(b.0),
            Reverse(b.1),
            Reverse(&b.0.id),
        )),
        Strategy::Distributed => (a.1, occupied(a.0), &a.0.id).cmp(&(b.1, occupied(b.0), &b.0.id)),
    }
}

/// The room a claim goes to among `(room, open claims)`: one that can take it
/// ([`can_take`] with `max`) and [`matches`] the selection, from the first preferred region that
/// has one (any region when none is listed), first in the strategy's order
/// ([`candidate_order`]: for `packed`, on the machine with the most busy rooms among the rooms
/// given, then by [`order`]).
pub fn pick<'a>(
    rooms: impl IntoIterator<Item = (&'a GameRoom, u32)>,
    max: u32,
    selection: &Selection,
) -> Option<&'a GameRoom> {
    let rooms: Vec<(&GameRoom, u32)> = rooms.into_iter().collect();
    let machines = match selection.strategy {
        Strategy::Packed => busy_machines(rooms.iter().copied()),
        Strategy::Distributed => Default::default(),
    };
    let candidates: Vec<Candidate> = rooms
        .iter()
        .filter(|(room, claims)| {
            can_take(room.status, room.running_matches, *claims, max) && matches(room, selection)
        })
        .map(|(room, claims)| Candidate {
            room,
            load: u64::from(room.running_matches) + u64::from(*claims),
            machine_busy: machine_busy(&machines, room),
        })
        .collect();
    let best = |region: Option<&String>| {
        candidates
            .iter()
            .filter(|c| region.is_none_or(|r| &c.room.region == r))
            .min_by(|a, b| candidate_order(selection.strategy, a, b))
            .map(|c| c.room)
    };
    if selection.regions.is_empty() {
        best(None)
    } else {
        selection
            .regions
            .iter()
            .find_map(|region| best(Some(region)))
    }
}

#[cfg(test)]
#[path = "selection_tests.rs"]
mod tests;
