//! Autoscaling as `SchedulerConfig::validate` reports it (the rules are in
//! `domain::autoscaling::validation`).

use super::test_support::{fields, valid};
use crate::domain::autoscaling::{
    Autoscaling, MetricsTrigger, PolicyConfig, PolicyParameters, RoomOccupancyParameters,
    ScalingDirection,
};
use crate::domain::scheduler::*;

fn trigger(kind: &str, usage: i64) -> MetricsTrigger {
    MetricsTrigger {
        r#type: kind.into(),
        usage,
        threshold: 80,
        time: 600,
        limit: None,
    }
}

fn triggers(up: Vec<MetricsTrigger>) -> Autoscaling {
    Autoscaling {
        enabled: true,
        min: 1,
        max: 10,
        cooldown: 0,
        policy: None,
        up: Some(ScalingDirection {
            metrics_trigger: up,
            cooldown: 300,
        }),
        down: None,
        enable_panic_scale: false,
        requests: None,
    }
}

#[test]
fn autoscaling_triggers() {
    let mut c = valid();
    c.autoscaling = Some(triggers(vec![trigger("room", 70), trigger("cpu", 60)]));
    assert_eq!(fields(&c), Vec::<String>::new());

    let mut bad = trigger("gpu", 0);
    bad.threshold = 101;
    bad.time = 0;
    bad.limit = Some(50);
    let mut auto = triggers(vec![bad]);
    auto.min = 5;
    auto.max = 2;
    c.autoscaling = Some(auto);
    assert_eq!(
        fields(&c),
        [
            "autoscaling.max",
            "autoscaling.up.metricsTrigger[0].type",
            "autoscaling.up.metricsTrigger[0].usage",
            "autoscaling.up.metricsTrigger[0].threshold",
            "autoscaling.up.metricsTrigger[0].time",
        ]
    );
}

#[test]
fn resource_triggers_need_requests() {
    let mut c = valid();
    c.spec.containers[0].requests = None;
    c.spec.containers[0].limits = None;
    c.autoscaling = Some(triggers(vec![trigger("mem", 70)]));
    assert_eq!(fields(&c), ["autoscaling.up.metricsTrigger[0].type"]);
    let mut auto = triggers(vec![trigger("mem", 70)]);
    auto.requests = Some(Resources {
        memory: "1Gi".into(),
        cpu: "1000m".into(),
    });
    c.autoscaling = Some(auto);
    assert_eq!(fields(&c), Vec::<String>::new());
}

#[test]
fn autoscaling_policies() {
    let mut c = valid();
    let policy = |kind: &str, parameters| Autoscaling {
        policy: Some(PolicyConfig {
            r#type: kind.into(),
            parameters,
        }),
        up: None,
        ..triggers(vec![])
    };
    c.autoscaling = Some(policy(
        "roomOccupancy",
        PolicyParameters::room_occupancy(0.5, 0.9),
    ));
    assert_eq!(fields(&c), Vec::<String>::new());
    // No downThreshold: Maestro's default applies.
    c.autoscaling = Some(
        serde_json::from_value(serde_json::json!({"enabled": true, "min": 1, "max": -1,
            "policy": {"type": "roomOccupancy", "parameters": {"roomOccupancy": {"readyTarget": 0.5}}}}))
        .unwrap(),
    );
    assert_eq!(fields(&c), Vec::<String>::new());
    c.autoscaling = Some(policy(
        "roomOccupancy",
        PolicyParameters {
            room_occupancy: Some(RoomOccupancyParameters {
                ready_target: Some(1.5),
                down_threshold: 1.0,
            }),
            ..PolicyParameters::default()
        },
    ));
    assert_eq!(
        fields(&c),
        [
            "autoscaling.policy.parameters.roomOccupancy.readyTarget",
            "autoscaling.policy.parameters.roomOccupancy.downThreshold"
        ]
    );
    c.autoscaling = Some(policy("roomOccupancy", PolicyParameters::default()));
    assert_eq!(
        fields(&c),
        ["autoscaling.policy.parameters.roomOccupancy.readyTarget"]
    );
    c.autoscaling = Some(policy("fixedBuffer", PolicyParameters::default()));
    assert_eq!(
        fields(&c),
        ["autoscaling.policy.parameters.fixedBuffer.amount"]
    );
    c.autoscaling = Some(policy(
        "unreservedRooms",
        PolicyParameters::unreserved_rooms(4, 6),
    ));
    assert_eq!(fields(&c), Vec::<String>::new());
    c.autoscaling = Some(policy(
        "unreservedRooms",
        PolicyParameters::unreserved_rooms(0, 0),
    ));
    assert_eq!(fields(&c), Vec::<String>::new());
    c.autoscaling = Some(policy("unreservedRooms", PolicyParameters::default()));
    assert_eq!(
        fields(&c),
        [
            "autoscaling.policy.parameters.unreservedRooms.min",
            "autoscaling.policy.parameters.unreservedRooms.max"
        ]
    );
    c.autoscaling = Some(policy(
        "unreservedRooms",
        PolicyParameters::unreserved_rooms(6, 4),
    ));
    assert_eq!(
        fields(&c),
        ["autoscaling.policy.parameters.unreservedRooms.max"]
    );
    c.autoscaling = Some(policy(
        "unreservedRooms",
        PolicyParameters::unreserved_rooms(-1, -2),
    ));
    assert_eq!(
        fields(&c),
        [
            "autoscaling.policy.parameters.unreservedRooms.min",
            "autoscaling.policy.parameters.unreservedRooms.max"
        ]
    );
    c.autoscaling = Some(policy("magic", PolicyParameters::default()));
    assert_eq!(fields(&c), ["autoscaling.policy.type"]);
    c.autoscaling = Some(Autoscaling {
        up: None,
        ..triggers(vec![])
    });
    assert_eq!(fields(&c), ["autoscaling"]);
}
