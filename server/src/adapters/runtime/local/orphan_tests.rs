//! A Baton process killed between starting a room and recording it: the room's process is found
//! and stopped by another runtime; nothing is taken while a room is being created.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::super::environment::ROOM_PATH;
use super::super::tests::{Scratch, runtime, scheduler};
use super::super::*;
use super::*;
use app::ports::Runtime;

/// A child killed and reaped when dropped, whatever the test did to it.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sleep 60` in its own process group with `cwd` = `dir` and `HOME` = `home`, as a room's
/// process is started, with nothing recorded.
fn sleeping_in(dir: &Path, home: &Path) -> Killed {
    let child = Command::new("sleep")
        .arg("60")
        .env_clear()
        .env("PATH", ROOM_PATH)
        .env("HOME", home)
        .env("BATON_PORT_GAME", "41000")
        .current_dir(dir)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    Killed(child)
}

fn pid(child: &Killed) -> i32 {
    child.0.id() as i32
}

#[tokio::test]
async fn a_room_process_left_without_a_record_is_listed_and_stopped() {
    let scratch = Scratch::new();
    let rooms = RoomsDir::prepare(&scratch.0, &[]).unwrap();
    // Started, then its Baton died: a directory and a process, no record.
    let lost = rooms.create_room("local", "lost").unwrap();
    let room = sleeping_in(&lost, &lost);
    // Its Baton died before starting it: a directory only.
    let never = rooms.create_room("local", "never-started").unwrap();
    // An operator's shell in the room's directory is not the room.
    let bystander = sleeping_in(&lost, &scratch.0);

    let b = runtime(&scratch);
    let listed = b.instances("local").await.unwrap();
    assert_eq!(
        listed,
        [RoomInstance {
            scheduler: "local".into(),
            room: "lost".into(),
            version: String::new(),
            address: Some(RoomAddress {
                host: "127.0.0.1".into(),
                ports: vec![RoomPort {
                    name: "game".into(),
                    protocol: String::new(),
                    port: 41000,
                }],
            }),
            machine: Some(host::host_name()),
            crashed: None,
        }]
    );
    assert!(!never.exists());
    let recorded = record::read(&rooms, "local", "lost").unwrap();
    assert_eq!(recorded.pid, pid(&room));
    // Its port stays held.
    let s = scheduler(&["sleep", "30"]);
    let fresh = b.create_instance(&s, "fresh", &[]).await.unwrap();
    assert_eq!(fresh.address.unwrap().ports[0].port, 41001);

    b.delete_instance(&s, "lost").await.unwrap();
    assert!(record::running_since(pid(&room)).is_none());
    assert!(!lost.exists() && !record::exists(&rooms, "local", "lost"));
    assert!(record::running_since(pid(&bystander)).is_some());
    let left: Vec<String> = b
        .instances("local")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.room)
        .collect();
    assert_eq!(left, ["fresh"]);
    b.remove_scheduler("local").await.unwrap();
}

#[tokio::test]
async fn nothing_is_taken_while_a_room_is_being_created() {
    let scratch = Scratch::new();
    let rooms = RoomsDir::prepare(&scratch.0, &[]).unwrap();
    let b = runtime(&scratch);
    // Another creator, between making the room's directory and recording its process.
    let creating = creating(&rooms, "local").unwrap();
    let dir = rooms.create_room("local", "r1").unwrap();
    let room = sleeping_in(&dir, &dir);
    assert!(b.instances("local").await.unwrap().is_empty());
    assert!(dir.exists() && !record::exists(&rooms, "local", "r1"));
    // That creator died: its lock went with it.
    drop(creating);
    let listed = b.instances("local").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(record::read(&rooms, "local", "r1").unwrap().pid, pid(&room));
    b.remove_scheduler("local").await.unwrap();
    assert!(record::running_since(pid(&room)).is_none());
}

#[test]
fn the_group_and_start_time_of_a_running_process() {
    let stat = b"4242 (a) b (c)) S 1 4200 4200 0 -1 4194304 90 0 0 0 150 25 3 4 20 0 1 0 \
        77 123456 321 18446744073709551615";
    assert_eq!(parse_stat(stat), Some((4200, 77)));
    let zombie = b"4242 (sh) Z 1 4242 4242 0 -1 4194304 90 0 0 0 150 25 3 4 20 0 1 0 77 0 0";
    assert_eq!(parse_stat(zombie), None);
    assert_eq!(parse_stat(b"4242 (cut) S 1"), None);
}
