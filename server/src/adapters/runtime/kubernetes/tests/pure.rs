//! The pure parts: what a pod means, the pod Baton sends, host port bookkeeping.

use super::*;
use crate::adapters::runtime::kubernetes::ports::SchedulerPorts;

#[test]
fn pod_events_follow_a_room_from_creation_to_its_address() {
    let events = |seen: Option<&PodSighting>, pod: &Pod, host: Option<&str>| {
        pod_events("arena", seen, pod, host)
    };
    let created = pod(pod_json("arena-a", None, [40000, 40001], pending()));
    let (first, seen) = events(None, &created, None);
    assert_eq!(
        first,
        vec![InstanceEvent::Created {
            scheduler: "arena".into(),
            room: "arena-a".into()
        }]
    );
    assert_eq!(
        events(Some(&seen), &created, None).0,
        vec![],
        "nothing new, nothing said"
    );

    let scheduled = pod(pod_json("arena-a", Some("n1"), [40000, 40001], pending()));
    let (events_now, seen) = events(Some(&seen), &scheduled, Some("203.0.113.1"));
    assert!(
        matches!(&events_now[..], [
            InstanceEvent::Placed { machine, .. },
            InstanceEvent::AddressKnown { address, .. },
        ] if machine == "n1" && address.host == "203.0.113.1"),
        "{events_now:?}"
    );
    let started = pod(pod_json("arena-a", Some("n1"), [40000, 40001], running()));
    let (events_now, seen) = events(Some(&seen), &started, Some("203.0.113.1"));
    assert_eq!(
        events_now,
        vec![InstanceEvent::Running {
            scheduler: "arena".into(),
            room: "arena-a".into()
        }]
    );
    assert!(seen.running && seen.address.is_some() && !seen.crashed);
    assert_eq!(events(Some(&seen), &started, Some("203.0.113.1")).0, vec![]);
}

#[test]
fn crash_reasons() {
    let with_status = |status: Value| pod(pod_json("r", Some("n1"), [1, 2], status));
    assert_eq!(crash_reason(&with_status(running())), None);
    assert_eq!(crash_reason(&with_status(pending())), None);
    assert_eq!(
        crash_reason(&with_status(crash_looping())).as_deref(),
        Some("container game: CrashLoopBackOff: back-off 40s restarting")
    );
    for reason in ["ErrImagePull", "ImagePullBackOff"] {
        let status = json!({"phase": "Pending", "containerStatuses": [
            {"name": "game", "image": "nope", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": reason}}},
        ]});
        assert_eq!(
            crash_reason(&with_status(status)),
            Some(format!("container game: {reason}"))
        );
    }
    // Still pulling or creating is not a failure.
    let creating = json!({"phase": "Pending", "containerStatuses": [
        {"name": "game", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "ContainerCreating"}}},
    ]});
    assert_eq!(crash_reason(&with_status(creating)), None);
    let exited = |code: i32| {
        json!({"phase": if code == 0 { "Succeeded" } else { "Failed" }, "containerStatuses": [
            {"name": "game", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }}}},
        ]})
    };
    assert_eq!(
        crash_reason(&with_status(exited(2))).as_deref(),
        Some("container game exited with code 2 (Error)")
    );
    assert_eq!(crash_reason(&with_status(exited(0))), None);
    assert_eq!(
        crash_reason(&with_status(json!({"phase": "Failed"}))).as_deref(),
        Some("pod failed")
    );
    // A pod being deleted has its containers stopped: that is no crash.
    let mut stopping = pod_json("r", Some("n1"), [1, 2], exited(143));
    stopping["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(crash_reason(&pod(stopping)), None);
}

#[test]
fn node_addresses_prefer_the_external_ip() {
    let node =
        |addresses: Value| -> Node { serde_json::from_value(node_json("n", addresses)).unwrap() };
    assert_eq!(
        node_address(&node(json!([
            {"type": "InternalIP", "address": "10.0.0.1"},
            {"type": "ExternalIP", "address": "203.0.113.1"},
        ]))),
        Some("203.0.113.1".into())
    );
    assert_eq!(
        node_address(&node(json!([
            {"type": "Hostname", "address": "n"},
            {"type": "InternalIP", "address": "10.0.0.1"},
        ]))),
        Some("10.0.0.1".into())
    );
    assert_eq!(
        node_address(&node(json!([{"type": "Hostname", "address": "n"}]))),
        None
    );
}

#[test]
fn pods_without_toleration_affinity_or_resources_leave_them_out() {
    let mut scheduler = portless_scheduler();
    scheduler.config.spec.toleration.clear();
    scheduler.config.spec.affinity.clear();
    scheduler.config.annotations.clear();
    scheduler.config.labels.clear();
    scheduler.config.spec.containers.truncate(1);
    let container = &mut scheduler.config.spec.containers[0];
    container.requests = None;
    container.limits = Some(Resources {
        memory: "64Mi".into(),
        cpu: String::new(),
    });
    container.command.clear();
    let pod = serde_json::to_value(room_pod(&scheduler, "r", &[], &[])).unwrap();
    assert_eq!(
        pod["spec"],
        json!({
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 100,
            "containers": [{
                "name": "game",
                "image": "registry.example/game:1.2",
                "imagePullPolicy": "Always",
                "env": [
                    {"name": "MODE", "value": "ranked"},
                    {"name": "MAESTRO_ROOM_ID", "value": "overridden"},
                ],
                "resources": {"limits": {"memory": "64Mi"}},
            }],
        })
    );
    assert_eq!(pod["metadata"].get("annotations"), None);
}

#[test]
fn ports_are_handed_out_round_the_range() {
    let mut ports = SchedulerPorts::default();
    let range = (100, 105);
    assert_eq!(ports.reserve("a", &[], 2, range), Some(vec![100, 101]));
    assert_eq!(ports.reserve("b", &[102], 1, range), Some(vec![103]));
    assert_eq!(ports.reserve("c", &[], 2, range), None, "only 104 is left");
    ports.settle("a", vec![100, 101]);
    ports.release("a");
    // After 103 comes 104, then the search wraps round to the freed ports.
    assert_eq!(ports.reserve("c", &[], 2, range), Some(vec![104, 100]));
    // A room reserving again gets ports as if it held none.
    assert_eq!(ports.reserve("c", &[], 2, range), Some(vec![101, 104]));
    ports.cancel("c");
    assert!(!ports.rooms.contains_key("c"));
}

#[test]
fn listings_forget_gone_rooms_but_not_newer_ones() {
    let mut ports = SchedulerPorts::default();
    let now = Instant::now();
    assert!(ports.is_stale(now, Duration::from_secs(30)));
    ports.settle("old", vec![100]);
    ports.settle("listed", vec![101]);
    let started = ports.begin_sync();
    // Recorded while the listing was on its way: it may not show them yet.
    ports.settle("fresh", vec![102]);
    ports.reserve("creating", &[], 1, (100, 110)).unwrap();
    ports.finish_sync(
        started,
        [
            ("listed".to_string(), vec![101]),
            ("other".to_string(), vec![104]),
        ],
        now,
    );
    let mut rooms: Vec<&str> = ports.rooms.keys().map(String::as_str).collect();
    rooms.sort();
    assert_eq!(rooms, ["creating", "fresh", "listed", "other"]);
    assert!(!ports.is_stale(now, Duration::from_secs(30)));
    // A watch seeing a pod being created does not take its reservation away.
    ports.observe("creating", vec![]);
    assert!(ports.rooms["creating"].pending);
    ports.release("creating");
    assert!(ports.rooms.contains_key("creating"));
}

#[test]
fn pods_follow_the_spec_restart_policy() {
    let mut scheduler = portless_scheduler();
    scheduler.config.spec.restart_policy = "OnFailure".into();
    let pod = serde_json::to_value(room_pod(&scheduler, "r", &[], &[])).unwrap();
    assert_eq!(pod["spec"]["restartPolicy"], "OnFailure");
}
