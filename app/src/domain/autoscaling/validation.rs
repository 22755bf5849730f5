//! Validation of a scheduler's autoscaling (part of `SchedulerConfig::validate`).

use super::{
    Autoscaling, POLICY_TYPES, ScalingDirection, UnreservedRoomsParameters, trigger_policy,
    trigger_types,
};
use crate::domain::scheduler::{Container, Resources};
use crate::domain::validation::{Errors, validate_resources};

impl Autoscaling {
    /// Every problem with this autoscaling for rooms made of `containers`, at its path under
    /// `autoscaling` (the autoscaling form checks with this what the server checks again).
    pub fn validate(
        &self,
        containers: &[Container],
    ) -> Result<(), Vec<crate::domain::validation::FieldError>> {
        let mut errors = Errors::default();
        validate_autoscaling(self, containers, &mut errors);
        errors.into_result()
    }
}

/// Every problem with a scheduler's autoscaling, at its path under `autoscaling`.
pub(crate) fn validate_autoscaling(
    autoscaling: &Autoscaling,
    containers: &[Container],
    errors: &mut Errors,
) {
    errors.check(autoscaling.min >= 0, "autoscaling.min", "must be 0 or more");
    errors.check(
        matches!(autoscaling.max, 0 | -1) || autoscaling.max >= autoscaling.min,
        "autoscaling.max",
        "must be 0 or -1 (unbounded) or at least min",
    );
    errors.check(
        autoscaling.cooldown >= 0,
        "autoscaling.cooldown",
        "must be 0 or more seconds",
    );
    if let Some(requests) = &autoscaling.requests {
        validate_resources(requests, "autoscaling.requests", errors);
    }
    let has_triggers = autoscaling.up.is_some() || autoscaling.down.is_some();
    match &autoscaling.policy {
        Some(_) if has_triggers => errors.add(
            "autoscaling.policy",
            "use either a policy or up/down triggers, not both",
        ),
        Some(policy) => {
            let params = &policy.parameters;
            match policy.r#type.as_str() {
                "roomOccupancy" => {
                    let path = "autoscaling.policy.parameters.roomOccupancy";
                    let occupancy = params.room_occupancy.clone().unwrap_or_default();
                    match occupancy.ready_target {
                        None => errors.add(
                            format!("{path}.readyTarget"),
                            "is required for roomOccupancy",
                        ),
                        Some(v) => errors.check(
                            v > 0.0 && v < 1.0,
                            format!("{path}.readyTarget"),
                            "must be between 0 and 1, exclusive",
                        ),
                    }
                    errors.check(
                        occupancy.down_threshold > 0.0 && occupancy.down_threshold < 1.0,
                        format!("{path}.downThreshold"),
                        "must be between 0 and 1, exclusive (default 0.99)",
                    );
                }
                "fixedBuffer" => {
                    let field = "autoscaling.policy.parameters.fixedBuffer.amount";
                    match params.amount() {
                        None => errors.add(field, "is required for fixedBuffer"),
                        Some(amount) => errors.check(amount >= 1, field, "must be at least 1"),
                    }
                }
                "unreservedRooms" => validate_unreserved(params.unreserved_rooms.as_ref(), errors),
                _ => errors.add(
                    "autoscaling.policy.type",
                    format!("must be one of {}", POLICY_TYPES.join(", ")),
                ),
            }
        }
        None if !has_triggers => {
            errors.add("autoscaling", "needs a policy or up/down trigger lists")
        }
        None => {}
    }
    for (name, direction) in [("up", &autoscaling.up), ("down", &autoscaling.down)] {
        if let Some(direction) = direction {
            validate_direction(direction, name, autoscaling, containers, errors);
        }
    }
}

/// `unreservedRooms`: `min` and `max` required, `0 <= min <= max`.
fn validate_unreserved(params: Option<&UnreservedRoomsParameters>, errors: &mut Errors) {
    let path = "autoscaling.policy.parameters.unreservedRooms";
    let params = params.cloned().unwrap_or_default();
    for (field, value) in [("min", params.min), ("max", params.max)] {
        match value {
            None => errors.add(format!("{path}.{field}"), "is required for unreservedRooms"),
            Some(v) => errors.check(v >= 0, format!("{path}.{field}"), "must be 0 or more"),
        }
    }
    if let (Some(min), Some(max)) = (params.min, params.max) {
        errors.check(
            max >= min || min < 0,
            format!("{path}.max"),
            "must be at least min",
        );
    }
}

fn validate_direction(
    direction: &ScalingDirection,
    name: &str,
    autoscaling: &Autoscaling,
    containers: &[Container],
    errors: &mut Errors,
) {
    let path = format!("autoscaling.{name}");
    errors.check(
        direction.cooldown >= 0,
        format!("{path}.cooldown"),
        "must be 0 or more seconds",
    );
    errors.check(
        !direction.metrics_trigger.is_empty(),
        format!("{path}.metricsTrigger"),
        "must have at least one trigger",
    );
    for (i, trigger) in direction.metrics_trigger.iter().enumerate() {
        let path = format!("{path}.metricsTrigger[{i}]");
        if trigger_policy(&trigger.r#type).is_none() {
            errors.add(
                format!("{path}.type"),
                format!(
                    "must be one of {}",
                    trigger_types().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        for (field, value) in [("usage", trigger.usage), ("threshold", trigger.threshold)] {
            errors.check(
                (1..=100).contains(&value),
                format!("{path}.{field}"),
                "must be a percentage from 1 to 100",
            );
        }
        errors.check(
            trigger.time > 0,
            format!("{path}.time"),
            "must be at least 1 second",
        );
        if let Some(limit) = trigger.limit {
            errors.check(
                (1..=100).contains(&limit) && limit >= trigger.usage,
                format!("{path}.limit"),
                "must be a percentage from usage to 100",
            );
        }
        let resource = match trigger.r#type.as_str() {
            "cpu" => Some("cpu"),
            "mem" => Some("memory"),
            _ => None,
        };
        if let Some(resource) = resource {
            let get = |r: &Resources| match resource {
                "cpu" => r.cpu.clone(),
                _ => r.memory.clone(),
            };
            let scheduler_level = autoscaling
                .requests
                .as_ref()
                .is_some_and(|r| !get(r).is_empty());
            let every_container = !containers.is_empty()
                && containers
                    .iter()
                    .all(|c| c.requests.as_ref().is_some_and(|r| !get(r).is_empty()));
            errors.check(
                scheduler_level || every_container,
                format!("{path}.type"),
                format!(
                    "a {} trigger needs {resource} requests (autoscaling.requests.{resource} or on every container)",
                    trigger.r#type
                ),
            );
        }
    }
}
