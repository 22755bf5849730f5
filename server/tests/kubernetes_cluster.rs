//! The Kubernetes runtime against a real cluster (kind, minikube, k3d, a cloud cluster).
//!
//! Opt-in twice: every test is `#[ignore]`d and also skips unless `BATON_KUBERNETES_TESTS=1`.
//!
//! ```sh
//! BATON_KUBERNETES_TESTS=1 cargo test -p server --test kubernetes_cluster -- --ignored --test-threads=1
//! ```
//!
//! The cluster is the one of the current `KUBECONFIG` context (or the in-cluster service account).
//! Each test makes its own `baton-it-…` namespace and deletes it at the end, even when it fails.

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
use server::adapters::runtime::kubernetes::KubernetesRuntime;

/// How long a room may take to be pulled and started.
const START_TIMEOUT: Duration = Duration::from_secs(180);

fn enabled() -> bool {
    let on = std::env::var("BATON_KUBERNETES_TESTS").is_ok_and(|value| value == "1");
    if !on {
        eprintln!("skipped: set BATON_KUBERNETES_TESTS=1 to run against the current cluster");
    }
    on
}

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
        ("BATON_ROOM_TOKEN", "not-a-real-token"),
    ]
    .into_iter()
    .map(|(name, value)| EnvironmentVariable::plain(name, value))
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
#[ignore = "needs a Kubernetes cluster: BATON_KUBERNETES_TESTS=1 cargo test -p server --test kubernetes_cluster -- --ignored"]
async fn a_room_pod_starts_reports_its_address_and_goes() {
    if !enabled() {
        return;
    }
    let scheduler = scheduler(
        &["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
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

        // Metrics come a while after a pod starts, and not at all without metrics-server.
        match runtime.usage(&name).await {
            Ok(usages) => assert!(
                usages
                    .iter()
                    .all(|u| u.room == room && u.cpu_cores >= 0.0 && u.memory_bytes >= 0.0),
                "{usages:?}"
            ),
            Err(RuntimeError::Unavailable(reason)) => eprintln!("no usage measured: {reason}"),
            Err(error) => panic!("reading usage failed: {error}"),
        }

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
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: BATON_KUBERNETES_TESTS=1 cargo test -p server --test kubernetes_cluster -- --ignored"]
async fn a_failing_room_is_reported_crashed_and_ports_run_out() {
    if !enabled() {
        return;
    }
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
#[ignore = "needs a Kubernetes cluster: BATON_KUBERNETES_TESTS=1 cargo test -p server --test kubernetes_cluster -- --ignored"]
async fn removing_an_unknown_scheduler_is_fine() {
    if !enabled() {
        return;
    }
    let runtime = KubernetesRuntime::from_environment().await.unwrap();
    runtime
        .remove_scheduler("baton-it-never-created")
        .await
        .unwrap();
}
