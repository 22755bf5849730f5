//! Autoscaling configuration as game teams write it: the seed's trigger lists (`up`, `down`) and
//! Maestro v10's policy form (`policy{type, parameters}`).

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::maestro_json::null_as_default;
use crate::domain::scheduler::Resources;

/// Policy types of the policy form.
pub const POLICY_TYPES: &[&str] = &["roomOccupancy", "fixedBuffer", "unreservedRooms"];

/// Autoscaling as written (Maestro v10's `{enabled, min, max, cooldown, policy}`, or the seed's
/// trigger lists). Read through [`AutoscalingDocument`], which applies the defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// Default: off with a `policy` (Maestro v10, where leaving it out means false), on with
    /// trigger lists (the seed's format has no such flag).
    pub enabled: bool,
    /// Hard floor on all rooms (ready, occupied and creating).
    pub min: i64,
    /// Hard cap on all rooms; `0` or `-1` (Maestro's way) mean unbounded.
    pub max: i64,
    /// Seconds between two scalings (policy form); default 0.
    pub cooldown: i64,
    /// `null` with trigger lists.
    pub policy: Option<PolicyConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up: Option<ScalingDirection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<ScalingDirection>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_panic_scale: bool,
    /// Per-room resource requests used by cpu and mem triggers (the seed's YAML puts them here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<Resources>,
}

/// [`Autoscaling`] as read, before the defaults that depend on the form.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutoscalingDocument {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    min: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    max: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    cooldown: i64,
    #[serde(default)]
    policy: Option<PolicyConfig>,
    #[serde(default)]
    up: Option<ScalingDirection>,
    #[serde(default)]
    down: Option<ScalingDirection>,
    #[serde(default, deserialize_with = "null_as_default")]
    enable_panic_scale: bool,
    #[serde(default)]
    requests: Option<Resources>,
}

impl<'de> Deserialize<'de> for Autoscaling {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let doc = AutoscalingDocument::deserialize(d)?;
        Ok(Self {
            enabled: doc.enabled.unwrap_or(doc.policy.is_none()),
            min: doc.min,
            max: doc.max,
            cooldown: doc.cooldown,
            policy: doc.policy,
            up: doc.up,
            down: doc.down,
            enable_panic_scale: doc.enable_panic_scale,
            requests: doc.requests,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyConfig {
    /// `roomOccupancy`, `fixedBuffer` or `unreservedRooms`.
    pub r#type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub parameters: PolicyParameters,
}

/// Maestro v10's policy parameters: one object per policy type. Baton's earlier flat form
/// (`{readyTarget, downThreshold}`, `{amount}`) is still read, and answered in Maestro's form.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_occupancy: Option<RoomOccupancyParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_buffer: Option<FixedBufferParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreserved_rooms: Option<UnreservedRoomsParameters>,
}

/// Down threshold of `roomOccupancy` when it is left out (or `0`), as in Maestro.
pub const DEFAULT_DOWN_THRESHOLD: f64 = 0.99;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoomOccupancyParameters {
    /// The fraction of rooms to keep ready, in (0, 1); required.
    pub ready_target: Option<f64>,
    /// Scale down only when the occupied share is below `(1 - readyTarget) * downThreshold`,
    /// in (0, 1); default 0.99.
    pub down_threshold: f64,
}

impl Default for RoomOccupancyParameters {
    fn default() -> Self {
        Self {
            ready_target: None,
            down_threshold: DEFAULT_DOWN_THRESHOLD,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FixedBufferParameters {
    /// How many ready rooms to keep on top of the occupied ones; required.
    #[serde(default)]
    pub amount: Option<i64>,
}

/// zeuz's `MinUnreservedPayloads` / `MaxUnreservedPayloads`: the rooms that can still take a
/// match (every live room not occupied; for multi-match rooms, the spare match capacity in whole
/// rooms) are kept between `min` and `max`. zeuz's names are read too.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UnreservedRoomsParameters {
    /// Fewest free rooms; below it the scheduler grows by the shortfall. Required, 0 or more.
    #[serde(
        default,
        alias = "minUnreservedPayloads",
        alias = "MinUnreservedPayloads"
    )]
    pub min: Option<i64>,
    /// Most free rooms; above it the scheduler shrinks by the excess. Required, at least `min`.
    #[serde(
        default,
        alias = "maxUnreservedPayloads",
        alias = "MaxUnreservedPayloads"
    )]
    pub max: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OccupancyDocument {
    #[serde(default)]
    ready_target: Option<f64>,
    #[serde(default)]
    down_threshold: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParametersDocument {
    #[serde(default)]
    room_occupancy: Option<OccupancyDocument>,
    #[serde(default)]
    fixed_buffer: Option<FixedBufferParameters>,
    #[serde(default)]
    unreserved_rooms: Option<UnreservedRoomsParameters>,
    // Baton's earlier flat form.
    #[serde(default)]
    ready_target: Option<f64>,
    #[serde(default)]
    down_threshold: Option<f64>,
    #[serde(default)]
    amount: Option<i64>,
}

impl<'de> Deserialize<'de> for PolicyParameters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let doc = ParametersDocument::deserialize(d)?;
        let flat_occupancy = doc.ready_target.is_some() || doc.down_threshold.is_some();
        let room_occupancy = match doc.room_occupancy {
            Some(nested) => Some(nested),
            None if flat_occupancy => Some(OccupancyDocument::default()),
            None => None,
        }
        .map(|nested| RoomOccupancyParameters {
            ready_target: nested.ready_target.or(doc.ready_target),
            down_threshold: nested
                .down_threshold
                .or(doc.down_threshold)
                .filter(|t| *t != 0.0)
                .unwrap_or(DEFAULT_DOWN_THRESHOLD),
        });
        let fixed_buffer = match doc.fixed_buffer {
            Some(nested) => Some(FixedBufferParameters {
                amount: nested.amount.or(doc.amount),
            }),
            None => doc.amount.map(|amount| FixedBufferParameters {
                amount: Some(amount),
            }),
        };
        Ok(Self {
            room_occupancy,
            fixed_buffer,
            unreserved_rooms: doc.unreserved_rooms,
        })
    }
}

impl PolicyParameters {
    /// `roomOccupancy` parameters.
    pub fn room_occupancy(ready_target: f64, down_threshold: f64) -> Self {
        Self {
            room_occupancy: Some(RoomOccupancyParameters {
                ready_target: Some(ready_target),
                down_threshold,
            }),
            ..Self::default()
        }
    }

    /// `fixedBuffer` parameters.
    pub fn fixed_buffer(amount: i64) -> Self {
        Self {
            fixed_buffer: Some(FixedBufferParameters {
                amount: Some(amount),
            }),
            ..Self::default()
        }
    }

    /// `unreservedRooms` parameters.
    pub fn unreserved_rooms(min: i64, max: i64) -> Self {
        Self {
            unreserved_rooms: Some(UnreservedRoomsParameters {
                min: Some(min),
                max: Some(max),
            }),
            ..Self::default()
        }
    }

    pub fn ready_target(&self) -> Option<f64> {
        self.room_occupancy.as_ref()?.ready_target
    }

    /// The down threshold in force (the default when none was given).
    pub fn down_threshold(&self) -> Option<f64> {
        Some(self.room_occupancy.as_ref()?.down_threshold)
    }

    pub fn amount(&self) -> Option<i64> {
        self.fixed_buffer.as_ref()?.amount
    }

    /// `unreservedRooms`' `(min, max)`, when both are given.
    pub fn unreserved_range(&self) -> Option<(i64, i64)> {
        let p = self.unreserved_rooms.as_ref()?;
        Some((p.min?, p.max?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: serde_json::Value) -> Autoscaling {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn room_occupancy_without_down_threshold_gets_maestros_default() {
        for parameters in [
            json!({"roomOccupancy": {"readyTarget": 0.5}}),
            json!({"roomOccupancy": {"readyTarget": 0.5, "downThreshold": 0}}),
            json!({"readyTarget": 0.5}),
        ] {
            let a = read(json!({"enabled": true, "min": 1, "max": 10,
                "policy": {"type": "roomOccupancy", "parameters": parameters}}));
            let parameters = &a.policy.unwrap().parameters;
            assert_eq!(parameters.ready_target(), Some(0.5));
            assert_eq!(parameters.down_threshold(), Some(0.99));
        }
    }

    #[test]
    fn both_parameter_forms_read_alike_and_are_answered_in_maestros() {
        let nested = read(json!({"policy": {"type": "roomOccupancy",
            "parameters": {"roomOccupancy": {"readyTarget": 0.3, "downThreshold": 0.9}}}}));
        let flat = read(json!({"policy": {"type": "roomOccupancy",
            "parameters": {"readyTarget": 0.3, "downThreshold": 0.9}}}));
        assert_eq!(nested, flat);
        assert_eq!(
            serde_json::to_value(&flat).unwrap()["policy"]["parameters"],
            json!({"roomOccupancy": {"readyTarget": 0.3, "downThreshold": 0.9}})
        );
        let nested = read(json!({"policy": {"type": "fixedBuffer",
            "parameters": {"fixedBuffer": {"amount": 4}}}}));
        let flat = read(json!({"policy": {"type": "fixedBuffer", "parameters": {"amount": 4}}}));
        assert_eq!(nested, flat);
        assert_eq!(nested.policy.unwrap().parameters.amount(), Some(4));
    }

    #[test]
    fn unreserved_rooms_reads_baton_and_zeuz_names_and_answers_batons() {
        let baton = read(json!({"policy": {"type": "unreservedRooms",
            "parameters": {"unreservedRooms": {"min": 4, "max": 6}}}}));
        let zeuz = read(json!({"policy": {"type": "unreservedRooms",
            "parameters": {"unreservedRooms": {"MinUnreservedPayloads": 4, "maxUnreservedPayloads": 6}}}}));
        assert_eq!(baton, zeuz);
        let parameters = &baton.policy.as_ref().unwrap().parameters;
        assert_eq!(parameters.unreserved_range(), Some((4, 6)));
        assert_eq!(
            serde_json::to_value(&zeuz).unwrap()["policy"]["parameters"],
            json!({"unreservedRooms": {"min": 4, "max": 6}})
        );
    }

    #[test]
    fn enabled_defaults_to_maestros_false_with_a_policy_and_true_with_triggers() {
        let policy = read(json!({"min": 1, "max": -1,
            "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 1}}}}));
        assert!(!policy.enabled);
        assert_eq!(policy.cooldown, 0);
        let triggers = read(json!({"min": 1, "max": 5, "up": {"metricsTrigger": [
            {"type": "room", "usage": 70, "threshold": 80, "time": 60}], "cooldown": 30}}));
        assert!(triggers.enabled);
        assert!(read(json!({"enabled": true, "policy": {"type": "fixedBuffer"}})).enabled);
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        for a in [
            read(json!({"policy": {"type": "roomOccupancy", "parameters": {"readyTarget": 0.5}}})),
            read(json!({"min": 2, "up": {"metricsTrigger": [
                {"type": "cpu", "usage": 70, "threshold": 80, "time": 60, "limit": 90}]}})),
            read(json!({"policy": {"type": "fixedBuffer"}, "cooldown": null})),
        ] {
            let written = serde_json::to_value(&a).unwrap();
            assert!(written["cooldown"].is_number(), "{written}");
            assert!(written.get("policy").is_some(), "{written}");
            assert_eq!(read(written), a);
        }
    }
}
