//! `ManagePayloads`: with it, a scheduler's rooms are kept between `MinUnreservedPayloads` and
//! `MaxUnreservedPayloads` rooms that can still take a match (the `unreservedRooms` policy),
//! whether machine scaling (`EnableScaling`) is on or not, as the seed says. A scheduler's own
//! enabled `autoscaling` section comes first: it decides the room count as always.

#[cfg(feature = "ssr")]
use std::borrow::Cow;

use super::config::Capacity;
#[cfg(feature = "ssr")]
use crate::domain::autoscaling::AutoscalerState;
use crate::domain::autoscaling::{Autoscaling, PolicyConfig, PolicyParameters};
#[cfg(feature = "ssr")]
use crate::domain::scheduler::SchedulerConfig;

/// The `unreservedRooms` autoscaling that `ManagePayloads` stands for, unbounded otherwise.
pub fn managed_payloads(capacity: &Capacity) -> Autoscaling {
    Autoscaling {
        enabled: true,
        min: 0,
        max: 0,
        cooldown: 0,
        policy: Some(PolicyConfig {
            r#type: "unreservedRooms".into(),
            parameters: PolicyParameters::unreserved_rooms(
                capacity.min_unreserved_payloads,
                capacity.max_unreserved_payloads,
            ),
        }),
        up: None,
        down: None,
        enable_panic_scale: false,
        requests: None,
    }
}

/// What decides the scheduler's room count: its enabled autoscaling section, else the
/// capacity section's `ManagePayloads`, else nothing (`roomsReplicas`). Server only: the
/// browser carries the capacity section without reading it (`verbatim`).
#[cfg(feature = "ssr")]
pub fn room_autoscaling(config: &SchedulerConfig) -> Option<Cow<'_, Autoscaling>> {
    if let Some(autoscaling) = config.autoscaling.as_ref().filter(|a| a.enabled) {
        return Some(Cow::Borrowed(autoscaling));
    }
    config
        .capacity
        .as_ref()
        .filter(|c| c.manage_payloads)
        .map(|c| Cow::Owned(managed_payloads(c)))
}

/// How many rooms the scheduler's controller aims for now: `roomsReplicas` when nothing
/// decides the count (`room_autoscaling`), else the autoscaler's last answer (`stored`), or,
/// before its first, `roomsReplicas` within the autoscaling bounds, as the autoscaler starts.
#[cfg(feature = "ssr")]
pub fn desired_rooms(config: &SchedulerConfig, stored: Option<&AutoscalerState>) -> u32 {
    match room_autoscaling(config) {
        None => u32::try_from(config.rooms_replicas).unwrap_or(0),
        Some(autoscaling) => stored.map_or_else(
            || AutoscalerState::initial(&autoscaling, config.rooms_replicas).desired,
            |state| state.desired,
        ),
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(
        capacity: serde_json::Value,
        autoscaling: Option<serde_json::Value>,
    ) -> SchedulerConfig {
        let mut body = json!({
            "name": "zeuz", "game": "g", "roomsReplicas": 2,
            "spec": {"containers": [{"name": "game", "image": "game:1"}]},
            "capacity": capacity,
        });
        if let Some(autoscaling) = autoscaling {
            body["autoscaling"] = autoscaling;
        }
        serde_json::from_value(body).unwrap()
    }

    fn managed(enable_scaling: bool) -> serde_json::Value {
        json!({"PayloadQuota": {"CpuCores": 1, "MemoryMB": 1024},
            "EnableScaling": enable_scaling, "ManagePayloads": true,
            "MinUnreservedPayloads": 4, "MaxUnreservedPayloads": 6})
    }

    #[test]
    fn manage_payloads_keeps_the_unreserved_rooms_with_or_without_machine_scaling() {
        for enable_scaling in [false, true] {
            let config = config(managed(enable_scaling), None);
            let autoscaling = room_autoscaling(&config).unwrap();
            assert!(autoscaling.enabled);
            let policy = autoscaling.policy.as_ref().unwrap();
            assert_eq!(policy.r#type, "unreservedRooms");
            assert_eq!(policy.parameters.unreserved_range(), Some((4, 6)));
            assert_eq!((autoscaling.min, autoscaling.max), (0, 0));
        }
    }

    #[test]
    fn without_manage_payloads_the_replicas_decide_and_an_own_autoscaling_comes_first() {
        let mut off = managed(false);
        off["ManagePayloads"] = json!(false);
        assert!(room_autoscaling(&config(off, None)).is_none());
        let own = json!({"enabled": true, "min": 1, "max": 9, "policy": {"type": "roomOccupancy",
            "parameters": {"roomOccupancy": {"readyTarget": 0.5}}}});
        let config = config(managed(false), Some(own));
        let autoscaling = room_autoscaling(&config).unwrap();
        assert!(matches!(autoscaling, Cow::Borrowed(_)));
        assert_eq!(autoscaling.policy.as_ref().unwrap().r#type, "roomOccupancy");
        // A disabled section of its own does not hide ManagePayloads.
        let mut disabled = config.clone();
        disabled.autoscaling.as_mut().unwrap().enabled = false;
        assert_eq!(
            room_autoscaling(&disabled)
                .unwrap()
                .policy
                .as_ref()
                .unwrap()
                .r#type,
            "unreservedRooms"
        );
    }

    #[test]
    fn the_desired_count_is_the_replicas_or_the_autoscalers_last_answer() {
        let mut off = managed(false);
        off["ManagePayloads"] = json!(false);
        let fixed = config(off, None);
        let answered = AutoscalerState {
            desired: 15,
            ..AutoscalerState::default()
        };
        // Without autoscaling, a stale state of the autoscaler does not count.
        assert_eq!(desired_rooms(&fixed, Some(&answered)), 2);
        let own = json!({"enabled": true, "min": 3, "max": 20, "policy": {"type": "roomOccupancy",
            "parameters": {"roomOccupancy": {"readyTarget": 0.5}}}});
        let scaled = config(managed(false), Some(own));
        assert_eq!(desired_rooms(&scaled, Some(&answered)), 15);
        // Before its first answer: roomsReplicas (2) within min (3) and max.
        assert_eq!(desired_rooms(&scaled, None), 3);
    }
}
