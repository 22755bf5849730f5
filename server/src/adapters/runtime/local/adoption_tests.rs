//! Rooms outliving their Baton process: another runtime on the same rooms dir lists, reads,
//! measures and stops them; records of processes that are gone are dropped.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::record::{self, InstanceRecord};
use super::tests::{Scratch, gone, pid_of, runtime, scheduler, wait_for_logs};
use super::*;
use app::domain::room::RoomPort;

/// A room that keeps printing: with a pipe to a dead Baton it would die of SIGPIPE.
const TICKING: &[&str] = &[
    "sh",
    "-c",
    "echo started; while :; do echo tick; sleep 0.1; done",
];

/// Whether `pid` is gone: no `/proc` entry, or a zombie (exited, not yet reaped).
fn is_gone(pid: i32) -> bool {
    record::running_since(pid).is_none()
}

/// Runtime A starts `rooms` on its own tokio runtime, then A and its tokio runtime go without
/// stopping anything, as when Baton is killed: no task of A's watches or reaps the rooms any
/// more. Returns each room's instance and pid.
fn started_by_a_baton_that_dies(dir: &Path, rooms: &[&str]) -> Vec<(RoomInstance, i32)> {
    let dir = dir.to_path_buf();
    let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
    std::thread::spawn(move || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let a = LocalRuntime::new(RoomsDir::prepare(&dir, &[]).unwrap());
        let started = rooms
            .iter()
            .map(|room| {
                let instance = tokio
                    .block_on(a.create_instance(&scheduler(TICKING), room, &[]))
                    .unwrap();
                (instance, pid_of(&a, room))
            })
            .collect();
        drop(a);
        drop(tokio);
        started
    })
    .join()
    .unwrap()
}

fn port_of(instance: &RoomInstance) -> u16 {
    instance.address.as_ref().unwrap().ports[0].port
}

#[tokio::test]
async fn another_runtime_adopts_lists_reads_measures_and_stops_the_rooms_of_a_dead_one() {
    let scratch = Scratch::new();
    let started = started_by_a_baton_that_dies(&scratch.0, &["r1", "r2"]);
    let [(r1, pid1), (r2, pid2)] = [started[0].clone(), started[1].clone()];
    let records = scratch.0.join(".instances/local");
    assert!(records.join("r1.json").exists());
    assert_eq!(
        std::fs::metadata(&records).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // The rooms run on, and keep printing, with their Baton gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!is_gone(pid1) && !is_gone(pid2));

    let b = runtime(&scratch);
    assert_eq!(
        b.instances("local").await.unwrap(),
        [r1.clone(), r2.clone()]
    );
    let logs = wait_for_logs(&b, "r1").await;
    assert_eq!(logs[0], "started");
    let ticks = logs.iter().filter(|l| *l == "tick").count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = b.logs("local", "r1");
    assert!(
        later.iter().filter(|l| *l == "tick").count() > ticks,
        "{later:?}"
    );

    // Their host ports stay theirs: B's own room gets the third port of the range.
    let s = scheduler(&["sleep", "30"]);
    let r3 = b.create_instance(&s, "r3", &[]).await.unwrap();
    let mut ports = [port_of(&r1), port_of(&r2), port_of(&r3)];
    ports.sort_unstable();
    assert_eq!(ports, [41000, 41001, 41002]);
    // Creating an adopted room again gives it as it is.
    assert_eq!(b.create_instance(&s, "r1", &[]).await.unwrap(), r1);

    let usage = b.usage("local").await.unwrap();
    let rooms: Vec<&str> = usage.iter().map(|u| u.room.as_str()).collect();
    assert_eq!(rooms, ["r1", "r2", "r3"]);
    assert!(usage.iter().all(|u| u.memory_bytes > 0.0), "{usage:?}");

    // B stops an adopted room: the process, its record, log and directory go.
    let mut events = b.watch("local");
    b.delete_instance(&s, "r1").await.unwrap();
    assert!(is_gone(pid1));
    assert!(!records.join("r1.json").exists() && !records.join("r1.log").exists());
    assert!(!scratch.0.join("local/r1").exists());
    assert_eq!(
        events.next().await,
        Some(InstanceEvent::Gone {
            scheduler: "local".into(),
            room: "r1".into()
        })
    );
    let left: Vec<String> = b
        .instances("local")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.room)
        .collect();
    assert_eq!(left, ["r2", "r3"]);

    // Removing the scheduler stops the adopted room too.
    assert!(!is_gone(pid2));
    b.remove_scheduler("local").await.unwrap();
    assert!(is_gone(pid2));
    assert!(b.instances("local").await.unwrap().is_empty());
    assert!(!records.exists() && !scratch.0.join("local").exists());
}

#[tokio::test]
async fn records_of_processes_that_are_gone_are_not_believed_and_are_removed() {
    let scratch = Scratch::new();
    let rooms = RoomsDir::prepare(&scratch.0, &[]).unwrap();
    // A process that has exited and been reaped.
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    let dead = finished.id() as i32;
    let dead_start = record::start_time(dead).unwrap_or(1);
    finished.wait().unwrap();
    // A live process (this one) that is not the one recorded: its pid was reused.
    let me = std::process::id() as i32;
    let reused_start = record::running_since(me).unwrap() + 1;
    let address = RoomAddress {
        host: "127.0.0.1".into(),
        ports: vec![RoomPort {
            name: "game".into(),
            protocol: "udp".into(),
            port: 41000,
        }],
    };
    for (room, pid, start_time) in [("dead", dead, dead_start), ("reused", me, reused_start)] {
        rooms.create_room("local", room).unwrap();
        record::create_log(&rooms, "local", room).unwrap();
        record::write(
            &rooms,
            &InstanceRecord {
                scheduler: "local".into(),
                room: room.into(),
                version: "v1".into(),
                pid,
                start_time,
                address: address.clone(),
                reserved: None,
            },
        )
        .unwrap();
    }
    let records = scratch.0.join(".instances/local");
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 4);

    let b = runtime(&scratch);
    // Their ports are free.
    let created = b
        .create_instance(&scheduler(&["sleep", "30"]), "fresh", &[])
        .await
        .unwrap();
    assert_eq!(port_of(&created), 41000);
    let listed: Vec<String> = b
        .instances("local")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.room)
        .collect();
    assert_eq!(listed, ["fresh"]);
    for room in ["dead", "reused"] {
        assert!(!records.join(format!("{room}.json")).exists(), "{room}");
        assert!(!records.join(format!("{room}.log")).exists(), "{room}");
        assert!(!scratch.0.join("local").join(room).exists(), "{room}");
    }
    // Deleting one of them signals nothing (this process lives on).
    b.delete_instance(&scheduler(&[]), "reused").await.unwrap();
    b.remove_scheduler("local").await.unwrap();
}

#[tokio::test]
async fn a_crashed_room_keeps_its_output_until_it_is_deleted() {
    let scratch = Scratch::new();
    let runtime = runtime(&scratch);
    let s = scheduler(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
    runtime.create_instance(&s, "r1", &[]).await.unwrap();
    assert!(gone(&scratch.0.join("local/r1")).await);
    let mut logs = runtime.logs("local", "r1");
    logs.sort();
    assert_eq!(logs, ["err", "out"]);
    runtime.delete_instance(&s, "r1").await.unwrap();
    assert!(runtime.logs("local", "r1").is_empty());
    assert!(!scratch.0.join(".instances/local/r1.json").exists());
}

#[test]
fn a_log_is_read_from_its_end() {
    let scratch = Scratch::new();
    let rooms = RoomsDir::prepare(&scratch.0, &[]).unwrap();
    let mut log = record::create_log(&rooms, "s", "r").unwrap();
    for n in 0..20_000 {
        writeln!(log, "line {n}").unwrap();
    }
    let tail = record::tail(&rooms, "s", "r", LOG_LINES);
    assert_eq!(tail.len(), LOG_LINES);
    assert_eq!(tail[0], format!("line {}", 20_000 - LOG_LINES));
    assert_eq!(tail[LOG_LINES - 1], "line 19999");
    assert!(record::tail(&rooms, "s", "none", LOG_LINES).is_empty());
}
