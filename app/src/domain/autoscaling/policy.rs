//! The trigger policy interface (the seed's `CalculateDelta` / `GetCurrentUtilization`) and the
//! registry of trigger types.
//!
//! A new trigger type is one new module implementing [`ScalingPolicy`] plus one line in
//! [`TRIGGER_POLICIES`]; validation, the server and the dashboard pick it up from there.

use serde::{Deserialize, Serialize};

use super::config::MetricsTrigger;
use super::resource::ResourceUsage;
use super::room::RoomUsage;
use crate::domain::room::RoomCounts;

/// Usage of one resource summed over a scheduler's measured rooms.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceLoad {
    /// Raw usage (cores or bytes).
    pub used: f64,
    /// The requests of the same rooms (cores or bytes).
    pub requested: f64,
}

/// What the autoscaler knows of a scheduler's load at one moment.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    pub rooms: RoomCounts,
    /// Matches running over all rooms (multi-match rooms report them in their pings).
    pub running_matches: u64,
    /// How many matches one room holds (`matchAllocation.maxMatches`, 1 when unset).
    pub max_matches: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<ResourceLoad>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<ResourceLoad>,
}

impl Load {
    /// Every room that exists or is being created: the `totalRooms` of the seed's formulas.
    pub fn total(&self) -> u64 {
        self.rooms.live()
    }

    /// Occupied rooms; for multi-match rooms, the rooms the running matches fill.
    pub fn occupied(&self) -> u64 {
        if self.max_matches > 1 {
            self.running_matches.div_ceil(self.max_matches)
        } else {
            self.rooms.occupied
        }
    }
}

/// One trigger type: how busy a scheduler is, and how many rooms bring it to a target usage.
pub trait ScalingPolicy: Sync {
    /// Current usage in percent; `None` when it cannot be measured (no rooms, no metrics).
    fn utilization(&self, load: &Load) -> Option<f64>;
    /// Rooms to add (positive) or remove (negative) so that usage becomes `trigger.usage`.
    fn delta(&self, trigger: &MetricsTrigger, load: &Load) -> Option<i64>;
}

/// The trigger types: name as written in the scheduler, and its policy.
pub const TRIGGER_POLICIES: &[(&str, &dyn ScalingPolicy)] = &[
    ("room", &RoomUsage),
    ("cpu", &ResourceUsage::CPU),
    ("mem", &ResourceUsage::MEMORY),
];

pub fn trigger_policy(kind: &str) -> Option<&'static dyn ScalingPolicy> {
    TRIGGER_POLICIES
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, policy)| *policy)
}

pub fn trigger_types() -> impl Iterator<Item = &'static str> {
    TRIGGER_POLICIES.iter().map(|(name, _)| *name)
}
