//! Reading the scheduler's rooms: listing, usage and watching.

use super::*;

#[tokio::test]
async fn instances_map_pods_and_nodes_to_addresses() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
        let mut failed = pod_json(
            "arena-b",
            Some("n2"),
            [40002, 40003],
            json!({
                "phase": "Failed", "reason": "Evicted", "message": "The node was low on memory.",
            }),
        );
        failed["metadata"]["labels"][VERSION_LABEL] = json!("v1");
        call.reply(
            200,
            &pod_list(vec![
                pod_json("arena-a", Some("n1"), [40000, 40001], running()),
                failed,
                pod_json("arena-c", None, [40004, 40005], pending()),
            ]),
        );
        for _ in 0..2 {
            let call = next_call(&mut handle).await;
            assert_eq!(call.method, Method::GET);
            match call.path.as_str() {
                "/api/v1/nodes/n1" => call.reply(
                    200,
                    &node_json(
                        "n1",
                        json!([
                            {"type": "InternalIP", "address": "10.0.0.1"},
                            {"type": "ExternalIP", "address": "203.0.113.1"},
                            {"type": "Hostname", "address": "n1"},
                        ]),
                    ),
                ),
                "/api/v1/nodes/n2" => call.reply(
                    200,
                    &node_json(
                        "n2",
                        json!([
                            {"type": "InternalIP", "address": "10.0.0.2"},
                        ]),
                    ),
                ),
                other => panic!("unexpected request for {other}"),
            }
        }
        no_more_calls(&mut handle).await;
    });
    let instances = runtime.instances("arena").await.unwrap();
    let address = |host: &str, game: u16, metrics: u16| {
        Some(RoomAddress {
            host: host.to_string(),
            ports: vec![
                RoomPort {
                    name: "game".into(),
                    protocol: "udp".into(),
                    port: game,
                },
                RoomPort {
                    name: "admin".into(),
                    protocol: "tcp".into(),
                    port: 30080,
                },
                RoomPort {
                    name: "metrics".into(),
                    protocol: "tcp".into(),
                    port: metrics,
                },
            ],
        })
    };
    assert_eq!(
        instances,
        vec![
            RoomInstance {
                scheduler: "arena".into(),
                room: "arena-a".into(),
                version: "v2".into(),
                address: address("203.0.113.1", 40000, 40001),
                machine: Some("n1".into()),
                crashed: None,
            },
            RoomInstance {
                scheduler: "arena".into(),
                room: "arena-b".into(),
                version: "v1".into(),
                address: address("10.0.0.2", 40002, 40003),
                machine: Some("n2".into()),
                crashed: Some("pod failed: Evicted: The node was low on memory.".into()),
            },
            RoomInstance {
                scheduler: "arena".into(),
                room: "arena-c".into(),
                version: "v2".into(),
                address: None,
                machine: None,
                crashed: None,
            },
        ]
    );
    server.await.unwrap();
}

/// The `PodMetrics` of room `room` of scheduler `arena`, as metrics-server returns it.
fn pod_metrics_json(room: &str, containers: Value) -> Value {
    json!({
        "metadata": {
            "name": room, "namespace": "arena",
            "creationTimestamp": "2026-01-01T00:00:10Z",
            "labels": {SCHEDULER_LABEL: "arena", ROOM_LABEL: room, VERSION_LABEL: "v2"},
        },
        "timestamp": "2026-01-01T00:00:00Z", "window": "15.021s",
        "containers": containers,
    })
}

fn container_usage(name: &str, cpu: &str, memory: &str) -> Value {
    json!({"name": name, "usage": {"cpu": cpu, "memory": memory}})
}

#[tokio::test]
async fn usage_sums_the_containers_of_each_pod_from_the_metrics_api() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(
            Method::GET,
            "/apis/metrics.k8s.io/v1beta1/namespaces/arena/pods",
        );
        assert!(
            call.query
                .contains("labelSelector=baton.dev%2Fscheduler%3Darena"),
            "{}",
            call.query
        );
        call.reply(
            200,
            &json!({
                "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {},
                "items": [
                    pod_metrics_json("arena-b", json!([
                        container_usage("room", "250m", "100Mi"),
                        container_usage("sidecar", "123456n", "2048Ki"),
                    ])),
                    pod_metrics_json("arena-a", json!([
                        container_usage("room", "1", "1Gi"),
                        container_usage("sidecar", "500u", "512Mi"),
                    ])),
                    // Started moments ago: no container measured yet.
                    pod_metrics_json("arena-c", json!([])),
                    // Malformed: left out, the others still count.
                    pod_metrics_json("arena-d", json!([
                        container_usage("room", "lots", "1Mi"),
                    ])),
                ],
            }),
        );
        no_more_calls(&mut handle).await;
    });
    let usages = runtime.usage("arena").await.unwrap();
    server.await.unwrap();
    let rooms: Vec<&str> = usages.iter().map(|u| u.room.as_str()).collect();
    assert_eq!(rooms, ["arena-a", "arena-b"]);
    let close = |actual: f64, expected: f64| (actual - expected).abs() <= expected * 1e-12;
    let mib = 1024.0 * 1024.0;
    assert!(close(usages[0].cpu_cores, 1.0005), "{usages:?}");
    assert!(close(usages[0].memory_bytes, 1536.0 * mib), "{usages:?}");
    assert!(close(usages[1].cpu_cores, 0.250123456), "{usages:?}");
    assert!(close(usages[1].memory_bytes, 102.0 * mib), "{usages:?}");
}

#[tokio::test]
async fn usage_without_a_metrics_api_is_unavailable() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(
            Method::GET,
            "/apis/metrics.k8s.io/v1beta1/namespaces/arena/pods",
        );
        call.reply(
            404,
            &status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
        // Not found is not retried.
        no_more_calls(&mut handle).await;
    });
    let error = runtime.usage("arena").await.unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(&error, RuntimeError::Unavailable(message) if message.contains("metrics-server")),
        "{error:?}"
    );
}

fn watch_line(kind: &str, object: Value) -> String {
    format!("{}\n", json!({"type": kind, "object": object}))
}

#[tokio::test]
async fn watch_turns_pod_events_into_instance_events() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        // Watches after the scripted one are left hanging, as a quiet cluster would.
        let mut hanging = Vec::new();
        let mut watched = false;
        loop {
            let call = next_call(&mut handle).await;
            assert_eq!(call.method, Method::GET);
            match call.path.as_str() {
                "/api/v1/namespaces/arena/pods" if !call.query.contains("watch=true") => {
                    assert!(
                        call.query
                            .contains("labelSelector=baton.dev%2Fscheduler%3Darena")
                    );
                    let a = pod_json("arena-a", None, [40000, 40001], pending());
                    call.reply(200, &pod_list(vec![a]));
                }
                "/api/v1/namespaces/arena/pods" if !watched => {
                    watched = true;
                    assert!(
                        call.query
                            .contains("labelSelector=baton.dev%2Fscheduler%3Darena")
                    );
                    assert!(call.query.contains("resourceVersion=100"), "{}", call.query);
                    let a = pod_json("arena-a", Some("n1"), [40000, 40001], running());
                    let b = pod_json("arena-b", Some("n1"), [40002, 40003], crash_looping());
                    let body = [
                        watch_line("MODIFIED", a.clone()),
                        watch_line("MODIFIED", a.clone()),
                        watch_line("ADDED", b),
                        watch_line("DELETED", a),
                    ]
                    .concat();
                    call.reply_raw(200, body.into_bytes());
                }
                "/api/v1/namespaces/arena/pods" => hanging.push(call),
                "/api/v1/nodes/n1" => call.reply(
                    200,
                    &node_json(
                        "n1",
                        json!([
                            {"type": "InternalIP", "address": "10.0.0.1"},
                        ]),
                    ),
                ),
                other => panic!("unexpected request for {other}"),
            }
        }
    });

    let events: Vec<InstanceEvent> =
        tokio::time::timeout(TIMEOUT, runtime.watch("arena").take(9).collect())
            .await
            .expect("the watch stream stalled");
    let (scheduler, a, b) = (
        "arena".to_string(),
        "arena-a".to_string(),
        "arena-b".to_string(),
    );
    let address = RoomAddress {
        host: "10.0.0.1".into(),
        ports: vec![
            RoomPort {
                name: "game".into(),
                protocol: "udp".into(),
                port: 40000,
            },
            RoomPort {
                name: "admin".into(),
                protocol: "tcp".into(),
                port: 30080,
            },
            RoomPort {
                name: "metrics".into(),
                protocol: "tcp".into(),
                port: 40001,
            },
        ],
    };
    let mut address_b = address.clone();
    address_b.ports[0].port = 40002;
    address_b.ports[2].port = 40003;
    assert_eq!(
        events,
        vec![
            InstanceEvent::Created {
                scheduler: scheduler.clone(),
                room: a.clone()
            },
            InstanceEvent::Running {
                scheduler: scheduler.clone(),
                room: a.clone()
            },
            // The pod's node is the room's machine (packing counts busy rooms per machine).
            InstanceEvent::Placed {
                scheduler: scheduler.clone(),
                room: a.clone(),
                machine: "n1".into(),
            },
            InstanceEvent::AddressKnown {
                scheduler: scheduler.clone(),
                room: a.clone(),
                address,
            },
            InstanceEvent::Created {
                scheduler: scheduler.clone(),
                room: b.clone()
            },
            InstanceEvent::Placed {
                scheduler: scheduler.clone(),
                room: b.clone(),
                machine: "n1".into(),
            },
            InstanceEvent::AddressKnown {
                scheduler: scheduler.clone(),
                room: b.clone(),
                address: address_b,
            },
            InstanceEvent::Crashed {
                scheduler: scheduler.clone(),
                room: b,
                reason: "container game: CrashLoopBackOff: back-off 40s restarting".into(),
            },
            InstanceEvent::Gone { scheduler, room: a },
        ]
    );
    // The watch keeps the port book: arena-a's ports are free again, arena-b's are held.
    let held: BTreeSet<String> = runtime
        .ports
        .with("arena", |ports| ports.rooms.keys().cloned().collect());
    assert_eq!(held, BTreeSet::from(["arena-b".to_string()]));
    server.abort();
}

#[tokio::test]
async fn usage_before_any_pod_is_measured_is_empty() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(
            Method::GET,
            "/apis/metrics.k8s.io/v1beta1/namespaces/arena/pods",
        );
        call.reply(
            200,
            &json!({
                "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {}, "items": [],
            }),
        );
        no_more_calls(&mut handle).await;
    });
    // The metrics API answers, with nothing measured: no usage, and no error.
    assert_eq!(runtime.usage("arena").await, Ok(vec![]));
    server.await.unwrap();
}
