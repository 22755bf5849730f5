//! Autoscaling configuration as game teams write it: the seed's trigger lists (`up`, `down`) and
//! Maestro v10's policy form (`policy{type, parameters}`).

use serde::{Deserialize, Serialize};

use crate::domain::scheduler::Resources;

/// Policy types of the policy form.
pub const POLICY_TYPES: &[&str] = &["roomOccupancy", "fixedBuffer"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Hard floor on all rooms (ready, occupied and creating).
    #[serde(default)]
    pub min: i64,
    /// Hard cap on all rooms; 0 means unbounded.
    #[serde(default)]
    pub max: i64,
    /// Seconds between two scalings (policy form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<ScalingDirection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<ScalingDirection>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_panic_scale: bool,
    /// Per-room resource requests used by cpu and mem triggers (the seed's YAML puts them here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Resources>,
}

fn default_enabled() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyConfig {
    /// `roomOccupancy` or `fixedBuffer`.
    pub r#type: String,
    #[serde(default)]
    pub parameters: PolicyParameters,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyParameters {
    /// roomOccupancy: the fraction of rooms to keep ready, in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_target: Option<f64>,
    /// roomOccupancy: scale down only when the ready fraction is below this, in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_threshold: Option<f64>,
    /// fixedBuffer: how many ready rooms to keep on top of the occupied ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// Maestro v10 nests the roomOccupancy parameters under this key; both forms are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_occupancy: Option<RoomOccupancyParameters>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoomOccupancyParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_threshold: Option<f64>,
}

impl PolicyParameters {
    pub fn ready_target(&self) -> Option<f64> {
        self.ready_target
            .or_else(|| self.room_occupancy.as_ref()?.ready_target)
    }

    pub fn down_threshold(&self) -> Option<f64> {
        self.down_threshold
            .or_else(|| self.room_occupancy.as_ref()?.down_threshold)
    }
}

/// One direction (up or down) of the trigger autoscaler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScalingDirection {
    /// Checked in order; the first that matches scales.
    #[serde(default)]
    pub metrics_trigger: Vec<MetricsTrigger>,
    /// Seconds to wait after a scaling in this direction.
    #[serde(default)]
    pub cooldown: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricsTrigger {
    /// `room`, `cpu` or `mem`.
    pub r#type: String,
    /// Target usage in percent.
    pub usage: i64,
    /// Percent of the considered points that must be beyond `usage`.
    pub threshold: i64,
    /// Seconds of points considered.
    pub time: i64,
    /// Usage in percent that scales up even during cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}
