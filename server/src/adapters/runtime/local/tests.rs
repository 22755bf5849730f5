//! The local runtime's processes: environment, directory, events, stopping.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::*;
use app::domain::scheduler::SchedulerConfig;

/// A fresh folder under the temp dir, removed at the end.
pub(super) struct Scratch(pub PathBuf);

impl Scratch {
    pub(super) fn new() -> Self {
        let path = std::env::temp_dir().join(format!("baton-unit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path).unwrap();
        Self(path.canonicalize().unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Rooms outlive their runtime: none may outlive the test.
        kill_recorded_rooms(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runtime whose rooms live in `scratch`.
pub(super) fn runtime(scratch: &Scratch) -> LocalRuntime {
    LocalRuntime::new(RoomsDir::prepare(&scratch.0, &[]).unwrap())
}

pub(super) fn scheduler(command: &[&str]) -> Scheduler {
    let config: SchedulerConfig = serde_json::from_value(serde_json::json!({
        "name": "local", "game": "g", "roomsReplicas": 1,
        "portRange": {"start": 41000, "end": 41003},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "room", "image": "local", "command": command,
            "environment": [{"name": "FROM_SPEC", "value": "yes"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    }))
    .unwrap();
    Scheduler {
        config,
        state: Default::default(),
        version: "v1".into(),
        created_at: chrono::Utc::now(),
    }
}

pub(super) fn pid_of(runtime: &LocalRuntime, room: &str) -> i32 {
    runtime.lock().processes[&("local".to_string(), room.to_string())].pid
}

/// Waits until `path` is gone (the exit watcher removes a room's directory).
pub(super) async fn gone(path: &std::path::Path) -> bool {
    for _ in 0..250 {
        if !path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_room_runs_in_its_own_directory_with_only_its_own_environment() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let mut s = scheduler(&["sleep", "30"]);
    s.config.spec.containers[0]
        .environment
        .push(EnvironmentVariable {
            name: "HOST_IP".into(),
            value_from: Some(Default::default()),
            ..Default::default()
        });
    runtime
        .create_instance(
            &s,
            "r1",
            &[EnvironmentVariable::secret("BATON_ROOM_TOKEN", "t")],
        )
        .await
        .unwrap();
    let pid = pid_of(&runtime, "r1");
    let dir = scratch.0.join("local").join("r1");
    // The process's initial environment, as the kernel keeps it.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let names: BTreeSet<String> = environ
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| String::from_utf8_lossy(kv.split(|b| *b == b'=').next().unwrap()).into())
        .collect();
    let expected = [
        "BATON_PORT_GAME",
        "BATON_ROOM_TOKEN",
        "FROM_SPEC",
        "HOME",
        "PATH",
    ];
    assert_eq!(names, expected.into_iter().map(String::from).collect());
    let home = format!("HOME={}", dir.display());
    assert!(environ.split(|b| *b == 0).any(|kv| kv == home.as_bytes()));
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), dir);

    // Its directory goes when it stops, its scheduler's with the scheduler.
    runtime.delete_instance(&s, "r1").await.unwrap();
    assert!(!dir.exists());
    runtime.create_instance(&s, "r2", &[]).await.unwrap();
    runtime.remove_scheduler("local").await.unwrap();
    assert!(!scratch.0.join("local").exists());
    assert!(scratch.0.exists());
}

#[tokio::test]
async fn a_crashed_room_leaves_no_directory() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let s = scheduler(&["sh", "-c", "touch left-behind; exit 3"]);
    runtime.create_instance(&s, "r1", &[]).await.unwrap();
    assert!(gone(&scratch.0.join("local").join("r1")).await);
}

fn env(name: &str, value: &str) -> EnvironmentVariable {
    EnvironmentVariable::plain(name, value)
}

pub(super) async fn wait_for_logs(runtime: &LocalRuntime, room: &str) -> Vec<String> {
    for _ in 0..100 {
        let logs = runtime.logs("local", room);
        if !logs.is_empty() {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn runs_the_command_with_environment_and_ports() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let s = scheduler(&[
        "sh",
        "-c",
        "echo $FROM_SPEC $MAESTRO_ROOM_ID $BATON_PORT_GAME; sleep 30",
    ]);
    let mut events = runtime.watch("local");
    let instance = runtime
        .create_instance(&s, "r1", &[env("MAESTRO_ROOM_ID", "r1")])
        .await
        .unwrap();
    let port = instance.address.as_ref().unwrap().ports[0].port;
    assert!((41000..41003).contains(&port));
    assert_eq!(
        wait_for_logs(&runtime, "r1").await,
        [format!("yes r1 {port}")]
    );
    assert!(matches!(
        events.next().await,
        Some(InstanceEvent::Created { .. })
    ));
    assert!(matches!(
        events.next().await,
        Some(InstanceEvent::Running { .. })
    ));
    assert!(matches!(
        events.next().await,
        Some(InstanceEvent::AddressKnown { .. })
    ));

    // Ports are not shared between live rooms.
    let second = runtime.create_instance(&s, "r2", &[]).await.unwrap();
    assert_ne!(second.address.unwrap().ports[0].port, port);

    runtime.delete_instance(&s, "r1").await.unwrap();
    let gone = async {
        while let Some(event) = events.next().await {
            if matches!(&event, InstanceEvent::Gone { room, .. } if room == "r1") {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(5), gone)
            .await
            .unwrap()
    );
    runtime.remove_scheduler("local").await.unwrap();
    assert!(runtime.instances("local").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_process_that_exits_is_reported_crashed() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let s = scheduler(&["sh", "-c", "exit 3"]);
    let mut events = runtime.watch("local");
    runtime.create_instance(&s, "r1", &[]).await.unwrap();
    let crashed = loop {
        match events.next().await {
            Some(InstanceEvent::Crashed { reason, .. }) => break reason,
            Some(_) => continue,
            None => panic!("stream ended"),
        }
    };
    assert!(crashed.contains("3"), "{crashed}");
    let listed = runtime.instances("local").await.unwrap();
    assert!(listed[0].crashed.is_some());
    runtime.delete_instance(&s, "r1").await.unwrap();
    assert!(runtime.instances("local").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_room_ignoring_sigterm_is_killed_after_the_grace_period() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let s = scheduler(&[
        "sh",
        "-c",
        "trap '' TERM; echo up; while true; do sleep 1; done",
    ]);
    runtime.create_instance(&s, "r1", &[]).await.unwrap();
    wait_for_logs(&runtime, "r1").await;
    let started = std::time::Instant::now();
    runtime.delete_instance(&s, "r1").await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_missing_command_is_rejected() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let result = runtime.create_instance(&scheduler(&[]), "r1", &[]).await;
    assert!(matches!(result, Err(RuntimeError::Rejected(_))));
    let result = runtime
        .create_instance(&scheduler(&["/nonexistent/binary"]), "r1", &[])
        .await;
    assert!(matches!(result, Err(RuntimeError::Rejected(_))));
    // The ports and the directory of a failed start are released.
    assert!(runtime.lock().ports.is_empty());
    assert!(!scratch.0.join("local").join("r1").exists());
}

/// Two local runtimes (two regions) on one host: each sees, adopts and stops only the rooms of
/// its own rooms dir, and neither hands out a host port the other's rooms hold.
#[tokio::test]
async fn local_runtimes_of_two_regions_keep_their_rooms_apart_and_share_the_ports() {
    let (eu_dir, us_dir) = (Scratch::new(), Scratch::new());
    let dir = |scratch: &Scratch| RoomsDir::prepare(&scratch.0, &[]).unwrap();
    let eu = LocalRuntime::new(dir(&eu_dir)).with_neighbours(vec![dir(&us_dir)]);
    let us = LocalRuntime::new(dir(&us_dir)).with_neighbours(vec![dir(&eu_dir)]);
    let s = scheduler(&["sleep", "30"]);
    let in_eu = eu.create_instance(&s, "room-eu", &[]).await.unwrap();
    let in_us = us.create_instance(&s, "room-us", &[]).await.unwrap();
    let port = |i: &RoomInstance| i.address.as_ref().unwrap().ports[0].port;
    assert_ne!(port(&in_eu), port(&in_us));
    // Another Baton process on the us rooms dir lists (and adopts) only the us room.
    let other_us = runtime(&us_dir);
    let rooms: Vec<String> = other_us
        .instances("local")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.room)
        .collect();
    assert_eq!(rooms, vec!["room-us".to_string()]);
    // Removing the scheduler from the us runtime leaves the eu room running.
    other_us.remove_scheduler("local").await.unwrap();
    let left: Vec<String> = eu
        .instances("local")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.room)
        .collect();
    assert_eq!(left, vec!["room-eu".to_string()]);
    assert!(record::read(&dir(&eu_dir), "local", "room-eu").is_some_and(|r| r.is_alive()));
}
