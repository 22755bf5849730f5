//! The form's modes (off, triggers, one per target policy) and the working copy behind them:
//! every part stays filled in, so switching modes keeps what was typed.

use crate::domain::autoscaling::{
    Autoscaling, MetricsTrigger, PolicyConfig, PolicyParameters, ScalingDirection,
};

pub(super) const MODES: &[(&str, &str)] = &[
    ("off", "Off: keep roomsReplicas"),
    ("triggers", "Triggers (room, cpu, mem)"),
    ("roomOccupancy", "Room occupancy"),
    ("fixedBuffer", "Fixed buffer"),
    ("unreservedRooms", "Free rooms between min and max"),
];

/// The modes that are target policies.
pub(super) const POLICY_MODES: &[&str] = &["roomOccupancy", "fixedBuffer", "unreservedRooms"];

pub(super) fn mode_of(autoscaling: &Option<Autoscaling>) -> &'static str {
    match autoscaling {
        None => "off",
        Some(a) if !a.enabled => "off",
        Some(a) => a
            .policy
            .as_ref()
            .and_then(|p| POLICY_MODES.iter().find(|m| **m == p.r#type))
            .copied()
            .unwrap_or("triggers"),
    }
}

pub(super) fn trigger(usage: i64) -> MetricsTrigger {
    MetricsTrigger {
        r#type: "room".into(),
        usage,
        threshold: 80,
        time: 300,
        limit: None,
    }
}

/// A working copy with every part filled in, so switching modes keeps what was typed.
pub(super) fn working_copy(initial: &Option<Autoscaling>) -> Autoscaling {
    let mut a = initial.clone().unwrap_or(Autoscaling {
        enabled: true,
        min: 1,
        max: 0,
        cooldown: 0,
        policy: None,
        up: None,
        down: None,
        enable_panic_scale: false,
        requests: None,
    });
    a.enabled = true;
    // The seed's best practice: up at 60%, down at 50%.
    a.up.get_or_insert(ScalingDirection {
        metrics_trigger: vec![trigger(60)],
        cooldown: 120,
    });
    a.down.get_or_insert(ScalingDirection {
        metrics_trigger: vec![trigger(50)],
        cooldown: 300,
    });
    if a.cooldown == 0 {
        a.cooldown = 300;
    }
    let params = &mut a
        .policy
        .get_or_insert(PolicyConfig {
            r#type: String::new(),
            parameters: PolicyParameters::default(),
        })
        .parameters;
    let occupancy = params.room_occupancy.get_or_insert_with(Default::default);
    occupancy.ready_target.get_or_insert(0.3);
    params
        .fixed_buffer
        .get_or_insert_with(Default::default)
        .amount
        .get_or_insert(5);
    // zeuz's example: 4 to 6 unreserved payloads.
    let unreserved = params.unreserved_rooms.get_or_insert_with(Default::default);
    unreserved.min.get_or_insert(4);
    unreserved.max.get_or_insert(6);
    a
}

/// What the form means in `mode`: the working copy reduced to that form.
pub(super) fn output(mode: &str, work: &Autoscaling) -> Option<Autoscaling> {
    let mut a = work.clone();
    match mode {
        "triggers" => {
            a.policy = None;
            a.cooldown = 0;
            if a.requests
                .as_ref()
                .is_some_and(|r| r.cpu.is_empty() && r.memory.is_empty())
            {
                a.requests = None;
            }
        }
        "roomOccupancy" | "fixedBuffer" | "unreservedRooms" => {
            a.up = None;
            a.down = None;
            a.enable_panic_scale = false;
            a.requests = None;
            let parameters = a.policy.take().map(|p| p.parameters).unwrap_or_default();
            a.policy = Some(PolicyConfig {
                r#type: mode.to_string(),
                parameters: match mode {
                    "roomOccupancy" => PolicyParameters {
                        room_occupancy: parameters.room_occupancy,
                        ..PolicyParameters::default()
                    },
                    "fixedBuffer" => PolicyParameters {
                        fixed_buffer: parameters.fixed_buffer,
                        ..PolicyParameters::default()
                    },
                    _ => PolicyParameters {
                        unreserved_rooms: parameters.unreserved_rooms,
                        ..PolicyParameters::default()
                    },
                },
            });
        }
        _ => return None,
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scheduler::SchedulerConfig;

    #[test]
    fn modes_round_trip_through_the_working_copy() {
        for mode in [
            "triggers",
            "roomOccupancy",
            "fixedBuffer",
            "unreservedRooms",
        ] {
            let out = output(mode, &working_copy(&None));
            assert_eq!(mode_of(&out), mode);
            let mut config = SchedulerConfig {
                autoscaling: out.clone(),
                ..SchedulerConfig::default()
            };
            config.autoscaling = out;
            let autoscaling_errors: Vec<_> = config
                .validate()
                .err()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.field.starts_with("autoscaling"))
                .collect();
            assert!(
                autoscaling_errors.is_empty(),
                "{mode}: {autoscaling_errors:?}"
            );
        }
        assert_eq!(output("off", &working_copy(&None)), None);
    }
}
