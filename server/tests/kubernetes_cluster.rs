//! The Kubernetes runtime against a real cluster (kind, minikube, k3d, a cloud cluster).
//!
//! Opt-in twice: every test is `#[ignore]`d (cargo lists it as ignored, with the reason), and run
//! with `--ignored` but without `BATON_KUBERNETES_TESTS=1` it fails saying so, rather than pass
//! without having looked at a cluster.
//!
//! ```sh
//! BATON_KUBERNETES_TESTS=1 cargo test -p server --test kubernetes_cluster -- --ignored --test-threads=1
//! ```
//!
//! The cluster is the one of the current `KUBECONFIG` context (or the in-cluster service account).
//! Each test makes its own `baton-it-…` namespace and deletes it at the end, even when it fails.
//! `usage_of_a_running_room_is_measured` needs metrics-server in the cluster.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use app::domain::quantity::GracePeriod;
use app::domain::scheduler::{
    Container, ContainerPort, EnvironmentVariable, GameRoomSpec, PortRange, Scheduler,
    SchedulerConfig, SchedulerState,
};
use app::ports::{InstanceEvent, Runtime, RuntimeError};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use server::adapters::runtime::kubernetes::{
    KubernetesRuntime, MANAGED_BY, MANAGED_BY_LABEL, SCHEDULER_LABEL, batch_secret_name, secret_key,
};

/// How long a room may take to be pulled and started.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long metrics-server may take to measure a room that runs.
const METRICS_TIMEOUT: Duration = Duration::from_secs(150);
/// The room token the tests hand their rooms; the rooms check they read it.
const TOKEN: &str = "not-a-real-token";

/// Fails, saying how to run these tests, unless `BATON_KUBERNETES_TESTS=1`: run with `--ignored`
/// by mistake, they must not pass without having looked at a cluster.
fn require_cluster() {
    let on = std::env::var("BATON_KUBERNETES_TESTS").is_ok_and(|value| value == "1");
    assert!(
        on,
        "this test needs a Kubernetes cluster: set BATON_KUBERNETES_TESTS=1 and run with \
         --ignored (it uses the current KUBECONFIG context)"
    );
}

/// A plain client, to look at what the runtime made the way an operator would.
async fn client() -> kube::Client {
    kube::Client::try_default()
        .await
        .expect("a Kubernetes configuration (KUBECONFIG or in-cluster)")
}

/// A room that checks it reads its token, then waits to be stopped.
const TOKEN_CHECKING_ROOM: &[&str] = &[
    "sh",
    "-c",
    "test \"$BATON_ROOM_TOKEN\" = not-a-real-token || exit 7; trap 'exit 0' TERM; sleep 3600 & wait",
];

/// A scheduler of one busybox container, in a namespace of its own.
fn scheduler(command: &[&str], port_range: PortRange) -> Scheduler {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let config = SchedulerConfig {
        name: format!("baton-it-{}", &suffix[..10]),
        game: "baton-it".to_string(),
        rooms_replicas: 1,
        port_range: Some(port_range),
        spec: GameRoomSpec {
            termination_grace_period: GracePeriod("5s".to_string()),
            containers: vec![Container {
                name: "room".to_string(),
                image: "busybox:1.36".to_string(),
                image_pull_policy: "IfNotPresent".to_string(),
                command: command.iter().map(|part| part.to_string()).collect(),
                environment: vec![EnvironmentVariable::plain("MODE", "test")],
                ports: vec![ContainerPort {
                    name: "game".to_string(),
                    protocol: "tcp".to_string(),
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

fn room_env(scheduler: &Scheduler, room: &str) -> Vec<EnvironmentVariable> {
    [
        ("MAESTRO_SCHEDULER_NAME", scheduler.config.name.as_str()),
        ("MAESTRO_ROOM_ID", room),
        ("BATON_API_URL", "http://baton.invalid:3000"),
    ]
    .into_iter()
    .map(|(name, value)| EnvironmentVariable::plain(name, value))
    .chain([EnvironmentVariable::secret("BATON_ROOM_TOKEN", TOKEN)])
    .collect()
}

/// Runs `test`, then removes the scheduler's namespace whatever happened.
async fn with_scheduler<F, Fut>(name: String, test: F)
where
    F: FnOnce(KubernetesRuntime) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = KubernetesRuntime::from_environment()
        .await
        .expect("a Kubernetes configuration (KUBECONFIG or in-cluster)");
    let outcome = AssertUnwindSafe(test(runtime.clone())).catch_unwind().await;
    let removed = runtime.remove_scheduler(&name).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    removed.expect("the scheduler's namespace is deleted");
}

/// Reads events until one matches, failing after `timeout`; returns the events read.
async fn until(
    events: &mut (impl Stream<Item = InstanceEvent> + Unpin),
    timeout: Duration,
    mut done: impl FnMut(&InstanceEvent) -> bool,
) -> Vec<InstanceEvent> {
    let mut seen = Vec::new();
    let waiting = async {
        while let Some(event) = events.next().await {
            let finished = done(&event);
            seen.push(event);
            if finished {
                return;
            }
        }
        panic!("the watch stream ended");
    };
    if tokio::time::timeout(timeout, waiting).await.is_err() {
        panic!("timed out; events so far: {seen:#?}");
    }
    seen
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set BATON_KUBERNETES_TESTS=1 and run with --ignored"]
async fn a_room_pod_starts_reports_its_address_and_goes() {
    require_cluster();
    let scheduler = scheduler(
        TOKEN_CHECKING_ROOM,
        PortRange {
            start: 41000,
            end: 41100,
        },
    );
    let name = scheduler.config.name.clone();
    let room = format!("{name}-room-1");
    with_scheduler(name.clone(), |runtime| async move {
        let mut events = runtime.watch(&name);
        let instance = runtime
            .create_instance(&scheduler, &room, &room_env(&scheduler, &room))
            .await
            .expect("the room's pod is created");
        assert_eq!(
            (instance.room.as_str(), instance.version.as_str()),
            (room.as_str(), "v1")
        );

        let mut running = false;
        let mut address = None;
        let seen = until(&mut events, START_TIMEOUT, |event| {
            match event {
                InstanceEvent::Running { room: r, .. } if *r == room => running = true,
                InstanceEvent::AddressKnown {
                    room: r,
                    address: a,
                    ..
                } if *r == room => address = Some(a.clone()),
                InstanceEvent::Crashed { reason, .. } => panic!("the room crashed: {reason}"),
                _ => {}
            }
            running && address.is_some()
        })
        .await;
        assert_eq!(
            seen.first(),
            Some(&InstanceEvent::Created {
                scheduler: name.clone(),
                room: room.clone(),
            }),
            "{seen:#?}"
        );
        let address = address.unwrap();
        assert!(!address.host.is_empty());
        assert_eq!(address.ports.len(), 1);
        assert_eq!(address.ports[0].name, "game");
        assert!(
            (41000..41100).contains(&address.ports[0].port),
            "{address:?}"
        );

        let instances = runtime
            .instances(&name)
            .await
            .expect("instances are listed");
        assert_eq!(instances.len(), 1, "{instances:#?}");
        assert_eq!(instances[0].room, room);
        assert_eq!(instances[0].address.as_ref(), Some(&address));
        assert_eq!(instances[0].crashed, None);

        // The room runs, so it read its token (it exits 7 otherwise); where an operator looks,
        // the token is only in the Secret of the room's batch (itself alone), and everything is
        // labelled as Baton's.
        let client = client().await;
        let labels = |scheduler: &str| {
            [
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
                (SCHEDULER_LABEL.to_string(), scheduler.to_string()),
            ]
        };
        let namespace = Api::<Namespace>::all(client.clone())
            .get(&name)
            .await
            .expect("the scheduler's namespace");
        for (key, value) in labels(&name) {
            assert_eq!(
                namespace.metadata.labels.as_ref().and_then(|l| l.get(&key)),
                Some(&value)
            );
        }
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &name);
        let secret_name = batch_secret_name(&room);
        let secret = secrets.get(&secret_name).await.expect("the room's Secret");
        for (key, value) in labels(&name) {
            assert_eq!(
                secret.metadata.labels.as_ref().and_then(|l| l.get(&key)),
                Some(&value)
            );
        }
        let key = secret_key(&room, "room", "BATON_ROOM_TOKEN");
        let data = secret.data.clone().unwrap_or_default();
        assert_eq!(
            data.get(&key).map(|value| value.0.as_slice()),
            Some(TOKEN.as_bytes()),
            "{:?}",
            data.keys().collect::<Vec<_>>()
        );
        let pod = Api::<Pod>::namespaced(client.clone(), &name)
            .get(&room)
            .await
            .expect("the room's pod");
        let pod_text = serde_json::to_string(&pod).unwrap();
        assert!(
            !pod_text.contains(TOKEN),
            "the token is in the pod: {pod_text}"
        );
        let env = pod.spec.as_ref().unwrap().containers[0]
            .env
            .clone()
            .unwrap_or_default();
        let token = env
            .iter()
            .find(|var| var.name == "BATON_ROOM_TOKEN")
            .expect("the token variable");
        let reference = token
            .value_from
            .as_ref()
            .and_then(|from| from.secret_key_ref.as_ref())
            .expect("the token is read from a Secret");
        assert_eq!(
            (
                reference.name.as_str(),
                reference.key.as_str(),
                token.value.as_deref()
            ),
            (secret_name.as_str(), key.as_str(), None)
        );

        runtime
            .delete_instance(&scheduler, &room)
            .await
            .expect("the room's pod is deleted");
        let gone = InstanceEvent::Gone {
            scheduler: name.clone(),
            room: room.clone(),
        };
        until(&mut events, Duration::from_secs(90), |event| *event == gone).await;
        runtime
            .delete_instance(&scheduler, &room)
            .await
            .expect("deleting a room that is gone is fine");
        assert_eq!(runtime.instances(&name).await.unwrap(), vec![]);
        // Its keys went with it, and the Secret they left empty.
        assert!(secrets.get_opt(&secret_name).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set BATON_KUBERNETES_TESTS=1 and run with --ignored"]
async fn usage_of_a_running_room_is_measured() {
    require_cluster();
    let scheduler = scheduler(
        TOKEN_CHECKING_ROOM,
        PortRange {
            start: 41200,
            end: 41210,
        },
    );
    let name = scheduler.config.name.clone();
    let room = format!("{name}-room-1");
    with_scheduler(name.clone(), |runtime| async move {
        let mut events = runtime.watch(&name);
        runtime
            .create_instance(&scheduler, &room, &room_env(&scheduler, &room))
            .await
            .expect("the room's pod is created");
        until(
            &mut events,
            START_TIMEOUT,
            |event| matches!(event, InstanceEvent::Running { room: r, .. } if *r == room),
        )
        .await;

        // metrics-server measures a pod some 15-60 s after it starts; until then the room is
        // left out. Without metrics-server the metrics API is not served at all.
        let deadline = tokio::time::Instant::now() + METRICS_TIMEOUT;
        let usages = loop {
            match runtime.usage(&name).await {
                Ok(usages) if !usages.is_empty() => break usages,
                Ok(_) if tokio::time::Instant::now() < deadline => {}
                Ok(_) => panic!("metrics-server measured no room within {METRICS_TIMEOUT:?}"),
                Err(RuntimeError::Unavailable(reason)) => panic!(
                    "this test needs metrics-server in the cluster (kind: install it with \
                     --kubelet-insecure-tls; or leave this test out with --skip usage): {reason}"
                ),
                Err(error) => panic!("reading usage failed: {error}"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        assert_eq!(usages.len(), 1, "{usages:?}");
        let usage = &usages[0];
        assert_eq!(usage.room, room);
        // A shell and a sleep hold some memory; their CPU may round to nothing.
        assert!(
            usage.memory_bytes > 64.0 * 1024.0 && usage.memory_bytes < 256.0 * 1024.0 * 1024.0,
            "{usage:?}"
        );
        assert!(
            usage.cpu_cores.is_finite() && (0.0..1.0).contains(&usage.cpu_cores),
            "{usage:?}"
        );
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set BATON_KUBERNETES_TESTS=1 and run with --ignored"]
async fn a_namespace_baton_did_not_create_is_neither_adopted_nor_deleted() {
    require_cluster();
    let scheduler = scheduler(
        TOKEN_CHECKING_ROOM,
        PortRange {
            start: 41300,
            end: 41310,
        },
    );
    let name = scheduler.config.name.clone();
    let namespaces = Api::<Namespace>::all(client().await);
    // Made by someone else, with Baton's scheduler label but not its managed-by label.
    let foreign = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([(SCHEDULER_LABEL.to_string(), name.clone())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &foreign)
        .await
        .expect("the foreign namespace is created");
    let outcome = AssertUnwindSafe(async {
        let runtime = KubernetesRuntime::from_environment().await.unwrap();
        let room = format!("{name}-room-1");
        let refused = runtime
            .create_instance(&scheduler, &room, &room_env(&scheduler, &room))
            .await;
        assert!(
            matches!(&refused, Err(RuntimeError::Rejected(message))
                if message.contains(&format!("namespace {name} was not created by Baton"))),
            "{refused:?}"
        );
        let kept = runtime.remove_scheduler(&name).await;
        assert!(
            matches!(&kept, Err(RuntimeError::Rejected(message)) if message.contains("left alone")),
            "{kept:?}"
        );
        let namespace = namespaces
            .get(&name)
            .await
            .expect("the namespace is still there");
        assert_eq!(namespace.metadata.deletion_timestamp, None);
        let secrets: Api<Secret> = Api::namespaced(namespaces.clone().into_client(), &name);
        let written = secrets.list(&Default::default()).await.unwrap().items;
        assert!(
            written.is_empty(),
            "nothing is written into it: {written:?}"
        );
    })
    .catch_unwind()
    .await;
    let deleted = namespaces.delete(&name, &DeleteParams::default()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    deleted.expect("the foreign namespace is deleted");
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set BATON_KUBERNETES_TESTS=1 and run with --ignored"]
async fn a_failing_room_is_reported_crashed_and_ports_run_out() {
    require_cluster();
    // One host port only: the second room finds none.
    let scheduler = scheduler(
        &["sh", "-c", "exit 3"],
        PortRange {
            start: 41100,
            end: 41101,
        },
    );
    let name = scheduler.config.name.clone();
    let room = format!("{name}-room-1");
    with_scheduler(name.clone(), |runtime| async move {
        let mut events = runtime.watch(&name);
        runtime
            .create_instance(&scheduler, &room, &room_env(&scheduler, &room))
            .await
            .expect("the room's pod is created");
        let other = format!("{name}-room-2");
        assert_eq!(
            runtime
                .create_instance(&scheduler, &other, &room_env(&scheduler, &other))
                .await,
            Err(RuntimeError::PortsExhausted(name.clone()))
        );

        let seen = until(&mut events, START_TIMEOUT, |event| {
            matches!(event, InstanceEvent::Crashed { .. })
        })
        .await;
        let Some(InstanceEvent::Crashed {
            room: r, reason, ..
        }) = seen.last()
        else {
            unreachable!()
        };
        assert_eq!(r, &room);
        assert!(reason.contains("exited with code 3"), "{reason}");
        let instances = runtime.instances(&name).await.unwrap();
        assert!(instances[0].crashed.is_some(), "{instances:#?}");
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set BATON_KUBERNETES_TESTS=1 and run with --ignored"]
async fn removing_an_unknown_scheduler_is_fine() {
    require_cluster();
    let runtime = KubernetesRuntime::from_environment().await.unwrap();
    runtime
        .remove_scheduler("baton-it-never-created")
        .await
        .unwrap();
}
