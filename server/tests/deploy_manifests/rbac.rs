//! The ClusterRole against the calls the Kubernetes runtime makes: the runtime and its machine
//! source run every operation against the recording [`FakeCluster`], and the rules must grant
//! each recorded (group, resource, verb) and nothing that was not recorded.

use std::collections::BTreeSet;
use std::time::Duration;

use app::domain::scheduler::{
    Container, ContainerPort, EnvironmentVariable, GameRoomSpec, PortRange, Scheduler,
    SchedulerConfig, SchedulerState,
};
use app::ports::{InstanceEvent, Machines, Runtime};
use futures::StreamExt;
use k8s_openapi::api::rbac::v1::ClusterRole;
use server::adapters::runtime::kubernetes::{
    KubernetesRuntime, KubernetesRuntimeConfig, batch_secret_name,
};

use super::api_calls::ApiCall;
use super::fake_cluster::FakeCluster;
use super::objects::manifests;

/// What RBAC grants or a call needs: API group, resource (`pods/log` for a subresource), verb.
type Grant = (String, String, String);

const SCHEDULER: &str = "arena";
const NODE: &str = "node-a";
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_cluster_role_grants_exactly_the_calls_the_runtime_makes() {
    let cluster = FakeCluster::with_node(NODE, "10.0.0.7");
    drive_every_operation(&cluster).await;
    assert_eq!(cluster.unknown_requests(), Vec::<String>::new());
    let calls: Vec<String> = cluster.calls().iter().map(ToString::to_string).collect();
    let recorded: BTreeSet<Grant> = cluster.calls().iter().map(grant_of).collect();

    let manifests = manifests();
    let granted = match grants(manifests.cluster_role()) {
        Ok(granted) => granted,
        Err(problem) => panic!("ClusterRole: {problem}"),
    };
    let (missing, unused) = difference(&granted, &recorded);
    assert!(
        missing.is_empty() && unused.is_empty(),
        "calls made but not granted: {missing:?}\ngranted but never called: {unused:?}\n\
         every call: {calls:#?}"
    );
}

/// Runs every operation of the runtime and of its machine source, asserting each worked, so
/// that every API call they make is recorded.
async fn drive_every_operation(cluster: &FakeCluster) {
    let runtime = KubernetesRuntime::with_config(cluster.client(), config());
    let scheduler = scheduler();
    let env = [EnvironmentVariable::secret("BATON_ROOM_TOKEN", "token")];

    // A room: the namespace, the Secret of its batch (itself alone), the pod.
    let room = within(
        "creating a room",
        runtime.create_instance(&scheduler, "room-1", &env),
    )
    .await
    .expect("room-1 is created");
    assert_eq!(room.room, "room-1");
    assert!(cluster.get("", "namespaces", None, SCHEDULER).is_some());
    let secret = cluster
        .get("", "secrets", Some(SCHEDULER), &batch_secret_name("room-1"))
        .expect("the Secret");
    assert!(
        secret["data"]["room-1.game.BATON_ROOM_TOKEN"].is_string(),
        "{secret}"
    );

    // Another replica retrying the same creation finds the namespace and the pod there: it
    // reads both to check they are Baton's.
    let replica = KubernetesRuntime::with_config(cluster.client(), config());
    within(
        "creating a room again",
        replica.create_instance(&scheduler, "room-1", &env),
    )
    .await
    .expect("the existing room-1 is taken as created");
    runtime
        .create_instance(&scheduler, "room-2", &env)
        .await
        .expect("room-2 is created");

    // Reading the rooms: pods and their node's address.
    let instances = runtime.instances(SCHEDULER).await.expect("the instances");
    let rooms: Vec<&str> = instances.iter().map(|i| i.room.as_str()).collect();
    assert_eq!(rooms, ["room-1", "room-2"]);
    let address = instances[0].address.as_ref().expect("room-1's address");
    assert_eq!(address.host, "10.0.0.7");

    // What a room printed: its pod, then its container's log.
    let logs = runtime.logs(SCHEDULER, "room-1").await;
    assert_eq!(logs, ["room-1 printed this"]);

    // Usage from the metrics API.
    let usage = runtime.usage(SCHEDULER).await.expect("the usage");
    assert_eq!(usage.len(), 2);
    assert!((usage[0].cpu_cores - 0.01).abs() < 1e-9, "{usage:?}");

    // Watching: the listing, then the watch itself (which shows a room made elsewhere).
    let mut events = runtime.watch(SCHEDULER);
    let watched = within("watching", async {
        while let Some(event) = events.next().await {
            if let InstanceEvent::Created { room, .. } = event
                && room == "watched-room"
            {
                return true;
            }
        }
        false
    })
    .await;
    assert!(watched, "the watch ended before showing the watched room");
    drop(events);

    // Deleting a room: its pod, then its keys in its Secret, and the Secret it leaves empty.
    runtime
        .delete_instance(&scheduler, "room-2")
        .await
        .expect("room-2 is deleted");
    assert!(cluster.get("", "pods", Some(SCHEDULER), "room-2").is_none());
    let secret = batch_secret_name("room-2");
    assert!(
        cluster
            .get("", "secrets", Some(SCHEDULER), &secret)
            .is_none()
    );

    // The machines: nodes and the pods on them; draining one cordons it and moves its rooms.
    let machines = runtime.machines("default");
    let reports = machines.machines().await.expect("the machines");
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].rooms,
        [(SCHEDULER.to_string(), "room-1".to_string())]
    );
    machines
        .drain(NODE, &[])
        .await
        .expect("the node is drained");
    let node = cluster.get("", "nodes", None, NODE).expect("the node");
    assert_eq!(node["spec"]["unschedulable"], true);
    assert!(cluster.get("", "pods", Some(SCHEDULER), "room-1").is_none());

    // Removing the scheduler deletes its namespace.
    runtime
        .remove_scheduler(SCHEDULER)
        .await
        .expect("the scheduler is removed");
    assert!(cluster.get("", "namespaces", None, SCHEDULER).is_none());
}

/// The outcome of `operation`, failing the test when it takes longer than [`WAIT`].
async fn within<T>(what: &str, operation: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, operation).await {
        Ok(outcome) => outcome,
        Err(_) => panic!("{what} took longer than {WAIT:?}"),
    }
}

fn grant_of(call: &ApiCall) -> Grant {
    (call.group.clone(), call.resource.clone(), call.verb.clone())
}

/// Every (group, resource, verb) the rules grant. Wildcards, `resourceNames`, non-resource URLs
/// and aggregation are refused: each would grant more than a list of calls can show.
fn grants(role: &ClusterRole) -> Result<BTreeSet<Grant>, String> {
    if role.aggregation_rule.is_some() {
        return Err("an aggregationRule".into());
    }
    let mut granted = BTreeSet::new();
    for (index, rule) in role.rules.iter().flatten().enumerate() {
        let resources = rule.resources.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        if rule.non_resource_urls.is_some() || rule.resource_names.is_some() {
            return Err(format!("rule {index}: nonResourceURLs or resourceNames"));
        }
        let all = groups.iter().chain(resources).chain(&rule.verbs);
        if let Some(wildcard) = all.clone().find(|word| word.contains('*')) {
            return Err(format!("rule {index}: wildcard {wildcard:?}"));
        }
        if groups.is_empty() || resources.is_empty() || rule.verbs.is_empty() {
            return Err(format!("rule {index} grants nothing"));
        }
        for group in groups {
            for resource in resources {
                for verb in &rule.verbs {
                    granted.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    Ok(granted)
}

/// What was called without being granted, and what is granted without being called.
fn difference(granted: &BTreeSet<Grant>, recorded: &BTreeSet<Grant>) -> (Vec<Grant>, Vec<Grant>) {
    let missing = recorded.difference(granted).cloned().collect();
    let unused = granted.difference(recorded).cloned().collect();
    (missing, unused)
}

/// The comparison can fail both ways, and wildcards are refused.
#[test]
fn a_missing_or_extra_grant_is_reported() {
    let grant = |g: &str, r: &str, v: &str| (g.to_string(), r.to_string(), v.to_string());
    let recorded = BTreeSet::from([grant("", "pods", "get"), grant("", "pods", "list")]);
    let granted = BTreeSet::from([grant("", "pods", "get"), grant("", "secrets", "get")]);
    assert_eq!(
        difference(&granted, &recorded),
        (
            vec![grant("", "pods", "list")],
            vec![grant("", "secrets", "get")]
        )
    );

    let role: ClusterRole = serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "wide"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}],
    }))
    .expect("a ClusterRole");
    assert_eq!(grants(&role), Err("rule 0: wildcard \"*\"".to_string()));
}

fn config() -> KubernetesRuntimeConfig {
    KubernetesRuntimeConfig {
        attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        call_timeout: Duration::from_secs(5),
        ..KubernetesRuntimeConfig::default()
    }
}

/// A scheduler of one container with a port from the range.
fn scheduler() -> Scheduler {
    let config = SchedulerConfig {
        name: SCHEDULER.to_string(),
        game: "arena-game".to_string(),
        rooms_replicas: 2,
        port_range: Some(PortRange {
            start: 20000,
            end: 20010,
        }),
        spec: GameRoomSpec {
            containers: vec![Container {
                name: "game".to_string(),
                image: "game:1".to_string(),
                image_pull_policy: "IfNotPresent".to_string(),
                ports: vec![ContainerPort {
                    name: "game".to_string(),
                    protocol: "udp".to_string(),
                    port: 7777,
                    host_port: None,
                    host_port_range: None,
                }],
                ..Container::default()
            }],
            ..GameRoomSpec::default()
        },
        ..SchedulerConfig::default()
    };
    Scheduler {
        config,
        state: SchedulerState::InSync,
        version: "v1".to_string(),
        created_at: chrono::Utc::now(),
    }
}
