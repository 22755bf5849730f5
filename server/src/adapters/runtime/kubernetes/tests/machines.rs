//! Nodes as machines, draining a node, and pods placed by a scheduler's capacity section.

use super::*;

use app::domain::capacity::{
    Capacity, MachineKind, MachineSpec, free_payload_capacity, payload_capacity,
};
use app::ports::Machines;

fn node(name: &str, labels: Value, allocatable: Value, unschedulable: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "ephemeral-storage": "1000Gi"},
            "allocatable": allocatable,
            "nodeInfo": {
                "operatingSystem": "linux", "osImage": "Ubuntu 16.04.7 LTS",
                "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "",
                "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion": "",
                "machineID": "", "systemUUID": "",
            },
        },
    })
}

/// A pod bound to `node` requesting `cpu` and `memory`, a room of `arena` when `room` is given.
fn bound_pod(
    name: &str,
    namespace: &str,
    node: &str,
    cpu: &str,
    memory: &str,
    room: Option<&str>,
) -> Value {
    let labels = match room {
        Some(room) => json!({SCHEDULER_LABEL: "arena", ROOM_LABEL: room, VERSION_LABEL: "v2"}),
        None => json!({"app": "other"}),
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node, "containers": [
            {"name": "main", "image": "busybox",
             "resources": {"requests": {"cpu": cpu, "memory": memory}}},
            {"name": "side", "image": "busybox"},
        ]},
        "status": {"phase": "Running"},
    })
}

fn seed_capacity() -> Capacity {
    serde_json::from_value(json!({
        "PayloadQuota": {"CpuCores": 1, "MemoryMB": 1024, "StorageGB": 50,
            "IOBandwidthMBps": 200, "InetBandwidthMBps": 10},
        "SafetyLimits": {"CoreMaxUsageThreshold": 0, "CpuRemainingCores": 1,
            "MemoryMBFree": 2048, "StorageGBFree": 100, "IOMBpsFree": 500, "InetMBpsFree": 20},
        "MachineMinSpec": {"OS": "linux", "OSVersion": "Ubuntu 16.04*", "CoreCount": 4,
            "CoreMhz": 3000, "MemoryMB": 16384, "StorageGB": 500,
            "IOBandwidthMBps": 3000, "InetBandwidthMBps": 100}
    }))
    .unwrap()
}

#[tokio::test]
async fn nodes_with_labels_and_allocatable_resources_are_machines() {
    let (runtime, mut handle) = mocked();
    let machines = runtime.machines("eu-west");
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/nodes");
        call.reply(200, &json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [
            node("metal-1", json!({
                "topology.kubernetes.io/region": "us-east",
                "baton.dev/machine-kind": "bare-metal", "baton.dev/core-mhz": "3400",
                "baton.dev/io-mbps": "4000", "baton.dev/inet-mbps": "1000",
            }), json!({"cpu": "15500m", "memory": "60Gi", "ephemeral-storage": "900Gi"}), false),
            node("cloud-1", json!({}), json!({"cpu": "4", "memory": "16Gi"}), true),
        ]}));
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/pods");
        assert!(
            call.query
                .contains("fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"),
            "{}",
            call.query
        );
        let mut ended = bound_pod("done", "arena", "metal-1", "8", "8Gi", Some("arena-old"));
        ended["status"]["phase"] = json!("Succeeded");
        call.reply(
            200,
            &pod_list(vec![
                bound_pod("arena-b", "arena", "metal-1", "1", "1Gi", Some("arena-b")),
                bound_pod(
                    "arena-a",
                    "arena",
                    "metal-1",
                    "1000m",
                    "1024Mi",
                    Some("arena-a"),
                ),
                bound_pod("dns", "kube-system", "metal-1", "500m", "512Mi", None),
                bound_pod("arena-c", "arena", "cloud-1", "1", "1Gi", Some("arena-c")),
                ended,
            ]),
        );
        no_more_calls(&mut handle).await;
    });
    let reports = machines.machines().await.unwrap();
    server.await.unwrap();

    assert_eq!(reports.len(), 2);
    let metal = &reports[0];
    assert_eq!(
        metal.rooms,
        [
            ("arena".to_string(), "arena-a".to_string()),
            ("arena".to_string(), "arena-b".to_string())
        ]
    );
    let machine = &metal.machine;
    assert_eq!(
        (machine.id.as_str(), machine.region.as_str()),
        ("metal-1", "us-east")
    );
    assert_eq!(machine.kind, MachineKind::BareMetal);
    assert!(!machine.draining);
    assert_eq!(
        machine.spec,
        MachineSpec {
            os: "linux".into(),
            os_version: "Ubuntu 16.04.7 LTS".into(),
            core_count: 16,
            core_mhz: 3400,
            memory_mb: 65536,
            storage_gb: 1000,
            io_bandwidth_mbps: 4000,
            inet_bandwidth_mbps: 1000,
        }
    );
    assert_eq!(
        machine.allocatable,
        app::domain::capacity::Resources {
            millicores: 15500,
            memory_mb: 61440,
            storage_gb: 900,
            io_mbps: 4000,
            inet_mbps: 1000,
        }
    );
    // Two rooms and the DNS pod; the pod that ended holds nothing.
    assert_eq!(machine.in_use.millicores, 2500);
    assert_eq!(machine.in_use.memory_mb, 2560);
    assert_eq!(machine.in_use.storage_gb, 0);

    let capacity = seed_capacity();
    let (quota, limits) = (&capacity.payload_quota, &capacity.safety_limits);
    // Cores: 15.5 - 1 = 14.5 -> 14; memory 58 GiB -> 58; storage 800/50 = 16;
    // disk 3500/200 = 17; internet 980/10 = 98: cores limit.
    assert_eq!(payload_capacity(machine, quota, limits), 14);
    // 14.5 - 2.5 in use = 12 more.
    assert_eq!(free_payload_capacity(machine, quota, limits), 12);
    assert!(app::domain::capacity::meets_min_spec(machine, &capacity.machine_min_spec).is_ok());

    let cloud = &reports[1].machine;
    assert_eq!(
        reports[1].rooms,
        [("arena".to_string(), "arena-c".to_string())]
    );
    // No region label: the runtime's region; no kind label: cloud; cordoned: draining.
    assert_eq!(
        (cloud.region.as_str(), cloud.kind),
        ("eu-west", MachineKind::Cloud)
    );
    assert!(cloud.draining);
    assert_eq!((cloud.spec.core_mhz, cloud.allocatable.storage_gb), (0, 0));
    assert_eq!(free_payload_capacity(cloud, quota, limits), 0);
}

#[tokio::test]
async fn draining_cordons_the_node_and_deletes_only_the_free_room_pods() {
    let (runtime, mut handle) = mocked();
    let machines = runtime.machines("eu-west");
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, "/api/v1/nodes/metal-1");
        assert_eq!(call.content_type, "application/merge-patch+json");
        assert_eq!(call.body, json!({"spec": {"unschedulable": true}}));
        call.reply(200, &node("metal-1", json!({}), json!({}), true));

        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/pods");
        assert!(
            call.query.contains("fieldSelector=spec.nodeName%3Dmetal-1"),
            "{}",
            call.query
        );
        assert!(
            call.query
                .contains("labelSelector=baton.dev%2Fscheduler%2Cbaton.dev%2Froom"),
            "{}",
            call.query
        );
        call.reply(
            200,
            &pod_list(vec![
                bound_pod(
                    "arena-busy",
                    "arena",
                    "metal-1",
                    "1",
                    "1Gi",
                    Some("arena-busy"),
                ),
                bound_pod(
                    "arena-free",
                    "arena",
                    "metal-1",
                    "1",
                    "1Gi",
                    Some("arena-free"),
                ),
            ]),
        );

        // Only the free room goes (its pod names no Secret: nothing else is asked).
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-free");
        call.reply(
            200,
            &bound_pod(
                "arena-free",
                "arena",
                "metal-1",
                "1",
                "1Gi",
                Some("arena-free"),
            ),
        );
        no_more_calls(&mut handle).await;
    });
    machines
        .drain("metal-1", &["arena-busy".to_string()])
        .await
        .unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_node_that_cannot_be_cordoned_is_an_error_and_nothing_is_deleted() {
    let (runtime, mut handle) = mocked();
    let machines = runtime.machines("eu-west");
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, "/api/v1/nodes/gone");
        call.reply(404, &status(404, "NotFound", "nodes \"gone\" not found"));
        no_more_calls(&mut handle).await;
    });
    let refused = machines.drain("gone", &[]).await.unwrap_err();
    assert!(matches!(refused, RuntimeError::Rejected(_)), "{refused:?}");
    server.await.unwrap();
}

/// [`portless_scheduler`] with the seed's capacity section and no requests of its own.
fn capacity_scheduler() -> Scheduler {
    let mut scheduler = portless_scheduler();
    scheduler.config.capacity = Some(seed_capacity());
    for container in &mut scheduler.config.spec.containers {
        container.requests = None;
    }
    scheduler
}

#[test]
fn a_capacity_section_gives_the_pod_quota_requests_and_min_spec_affinity() {
    let pod = serde_json::to_value(room_pod(&capacity_scheduler(), "arena-abc", &[], &[])).unwrap();
    let containers = &pod["spec"]["containers"];
    assert_eq!(
        containers[0]["resources"],
        json!({
            "requests": {"cpu": "1000m", "memory": "1024Mi", "ephemeral-storage": "50Gi"},
            "limits": {"cpu": "200m", "memory": "200Mi"},
        })
    );
    assert!(containers[1].get("resources").is_none());
    assert_eq!(
        pod["spec"]["affinity"],
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "game-pool", "operator": "In", "values": ["true"]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                {"key": "baton.dev/core-mhz", "operator": "Gt", "values": ["2999"]},
                {"key": "baton.dev/io-mbps", "operator": "Gt", "values": ["2999"]},
                {"key": "baton.dev/inet-mbps", "operator": "Gt", "values": ["99"]},
            ]}],
        }}})
    );
}

#[test]
fn the_specs_own_requests_win_and_configured_labels_are_used() {
    let mut scheduler = capacity_scheduler();
    scheduler.config.spec.containers[1].requests = Some(Resources {
        cpu: "250m".into(),
        memory: String::new(),
    });
    scheduler.config.spec.affinity = String::new();
    let labels = MachinesConfig {
        core_mhz_label: "example.com/mhz".into(),
        io_mbps_label: String::new(),
        inet_mbps_label: "example.com/inet".into(),
        ..MachinesConfig::default()
    };
    let pod = serde_json::to_value(room_pod_placed(
        &scheduler,
        "arena-abc",
        &[],
        &[],
        None,
        &labels,
    ))
    .unwrap();
    let containers = &pod["spec"]["containers"];
    assert_eq!(
        containers[0]["resources"],
        json!({"limits": {"cpu": "200m", "memory": "200Mi"}})
    );
    assert_eq!(
        containers[1]["resources"],
        json!({"requests": {"cpu": "250m"}})
    );
    let expressions = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0]["matchExpressions"];
    assert_eq!(
        expressions,
        &json!([
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            {"key": "example.com/mhz", "operator": "Gt", "values": ["2999"]},
            {"key": "example.com/inet", "operator": "Gt", "values": ["99"]},
        ])
    );
}

#[test]
fn without_a_capacity_section_the_pod_is_as_before() {
    let mut scheduler = capacity_scheduler();
    scheduler.config.capacity = None;
    scheduler.config.spec.affinity = String::new();
    let pod = serde_json::to_value(room_pod(&scheduler, "arena-abc", &[], &[])).unwrap();
    assert!(pod["spec"].get("affinity").is_none());
    assert_eq!(
        pod["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "200m", "memory": "200Mi"}})
    );
}

#[tokio::test]
async fn configured_labels_give_kind_mhz_and_bandwidths() {
    let (runtime, mut handle) = mocked();
    // As `[runtime.machine_labels]` in the runtimes file gives them.
    let runtime = runtime.with_machine_labels(MachinesConfig {
        kind_label: "example.com/class".into(),
        default_kind: MachineKind::BareMetal,
        core_mhz_label: "example.com/mhz".into(),
        io_mbps_label: "example.com/disk".into(),
        inet_mbps_label: String::new(),
    });
    let machines = runtime.machines("eu-west");
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/nodes");
        call.reply(
            200,
            &json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [
                node("cloud-1", json!({
                    "example.com/class": "cloud", "example.com/mhz": "3100",
                    "example.com/disk": "2500", "baton.dev/inet-mbps": "100",
                    // Baton's own labels are not read any more.
                    "baton.dev/machine-kind": "bare-metal", "baton.dev/core-mhz": "9999",
                }), json!({"cpu": "8", "memory": "32Gi", "ephemeral-storage": "500Gi"}), false),
                node("plain-1", json!({}), json!({"cpu": "4", "memory": "16Gi"}), false),
            ]}),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/pods");
        call.reply(200, &pod_list(vec![]));
        no_more_calls(&mut handle).await;
    });
    let reports = machines.machines().await.unwrap();
    server.await.unwrap();
    let cloud = &reports[0].machine;
    assert_eq!(cloud.id, "cloud-1");
    assert_eq!(cloud.kind, MachineKind::Cloud);
    assert_eq!(cloud.spec.core_mhz, 3100);
    assert_eq!(cloud.spec.io_bandwidth_mbps, 2500);
    assert_eq!(cloud.allocatable.io_mbps, 2500);
    // The internet bandwidth label is not read: unknown.
    assert_eq!(cloud.spec.inet_bandwidth_mbps, 0);
    // A node without the kind label is of the configured default kind.
    let plain = &reports[1].machine;
    assert_eq!(plain.kind, MachineKind::BareMetal);
    assert_eq!(plain.spec.core_mhz, 0);
}
