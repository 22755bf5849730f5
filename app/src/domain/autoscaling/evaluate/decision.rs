//! What an evaluation reads (its configuration, state, load and points) and what it produces
//! (the next state and the decision that explains a change).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::config::{Autoscaling, MetricsTrigger};
use super::super::policy::Load;
use super::Points;
use super::bounded;

/// What the autoscaler remembers between evaluations.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerState {
    /// Rooms wanted now (the health controller converges to it).
    pub desired: u32,
    /// When the desired count last changed; cooldowns count from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaled_at: Option<DateTime<Utc>>,
    /// Occupied rooms at the previous evaluation: panic scale reacts to rooms newly occupied.
    #[serde(default)]
    pub occupied: u64,
}

impl AutoscalerState {
    /// The state of a scheduler the autoscaler has not seen yet: its roomsReplicas within min and max.
    pub fn initial(config: &Autoscaling, rooms_replicas: i64) -> Self {
        Self {
            desired: bounded(config, rooms_replicas).0,
            last_scaled_at: None,
            occupied: 0,
        }
    }
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// Which hard cap bounded the formula's answer.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cap {
    Min,
    Max,
}

/// Why the desired count changed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Reason {
    /// A trigger of the up or down list matched its usage points.
    #[serde(rename_all = "camelCase")]
    Trigger {
        direction: Direction,
        /// Position of the trigger in its list (the first that matched).
        index: usize,
        trigger: MetricsTrigger,
        /// The points considered, oldest first.
        points: Vec<f64>,
        /// How many of them were beyond `usage` (above for up, below for down).
        beyond: usize,
        /// The upscale happened during the cooldown because usage reached `limit`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        over_limit_in_cooldown: bool,
    },
    /// Panic scale: a room turned occupied while occupancy was at or above the trigger's limit.
    #[serde(rename_all = "camelCase")]
    Panic {
        index: usize,
        trigger: MetricsTrigger,
    },
    /// A target policy (`roomOccupancy`, `fixedBuffer`).
    #[serde(rename_all = "camelCase")]
    Policy { policy: String },
    /// The desired count was outside min and max (the configuration changed).
    Bounds,
}

/// A change of the desired room count, with everything that led to it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub from: u32,
    pub to: u32,
    pub reason: Reason,
    /// Usage in percent of the policy that decided, when it measures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
    /// The formula's answer before min and max were applied.
    pub wanted: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped: Option<Cap>,
    pub load: Load,
    /// The decision in one sentence.
    pub summary: String,
}

impl Decision {
    pub fn direction(&self) -> Direction {
        if self.to >= self.from {
            Direction::Up
        } else {
            Direction::Down
        }
    }
}

/// Everything one evaluation depends on.
pub struct Evaluation<'a> {
    pub config: &'a Autoscaling,
    pub state: &'a AutoscalerState,
    pub load: &'a Load,
    /// Recorded usage points per trigger type, oldest first, the latest included.
    pub points: &'a Points,
    /// Seconds between two points (the autoscaling period).
    pub period_seconds: f64,
    pub now: DateTime<Utc>,
    /// Whether a point was just recorded. Between points only panic scale and the caps apply.
    pub at_period: bool,
}

impl Evaluation<'_> {
    pub(super) fn decision(
        &self,
        to: u32,
        wanted: i64,
        capped: Option<Cap>,
        reason: Reason,
        utilization: Option<f64>,
        summary: String,
    ) -> Decision {
        Decision {
            at: self.now,
            from: self.state.desired,
            to,
            reason,
            utilization,
            wanted,
            capped,
            load: *self.load,
            summary,
        }
    }
}
