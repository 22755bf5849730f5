//! Room processes left without a record: a Baton process killed after it started a room but
//! before it wrote the room's record leaves a process that no listing would show and nothing
//! could stop. They are found again here.
//!
//! Why not write the record first: a record names the process (its pid and start time), known
//! once it is started, and `std`'s spawn returns only after the room's program is exec'd; so a
//! room's program always runs a moment before its record can exist. (Holding the program back
//! until then would need a wrapper, a shell, between Baton and the room, changing the room's
//! environment and how a missing command is reported.) The window is closed from the other side:
//!
//! - A creator holds a shared lock (flock(2)) on the scheduler's records folder from before it
//!   creates the room's directory until the room's record is written (`creating`); the kernel
//!   drops it when the creator dies.
//! - A room's directory is removed only once its process is gone, and its record only after
//!   its directory (`own`, `adopted`).
//!
//! So a room directory with no record while nobody holds that lock can only be left by a creator
//! that died within its window: `adopt`, holding the lock exclusively so that no creation starts
//! meanwhile, looks for the room's process in `/proc` and records it, or removes the directory
//! when there is none. At any moment a room process is thus recorded, or in the window of a live
//! creator (which lists it as its own), or found by the next listing (`instances`,
//! `remove_scheduler`) of any Baton process once its creator died. That listing pays for the
//! `/proc` scan only then; while other rooms of the scheduler are being created, the scan waits
//! for a later listing.
//!
//! A room's process is the leader of its own process group (as every room's first process is),
//! running, with the room's directory as `cwd` and an environment naming it (`HOME` is the
//! directory, or `MAESTRO_ROOM_ID` is the room): an operator's shell in that directory is left
//! alone. A room that changed its `cwd` in the instant between its start and its creator's death
//! is not found. Its record is written with what is known: an empty version (the room in the
//! store has its version; the health controller only asks which rooms have an instance), and the
//! address `127.0.0.1` with the host ports of its `BATON_PORT_<NAME>` variables, so that they
//! stay held (names lower-cased, protocol unknown: empty).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use app::domain::room::{RoomAddress, RoomPort};
use app::ports::RuntimeError;

use super::environment::port_variable;
use super::record::{self, InstanceRecord};
use super::workdir::RoomsDir;

/// flock(2) on `folder`, retried when interrupted.
fn flock(folder: &File, operation: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock(2) on a descriptor `folder` owns; no memory is passed.
        if unsafe { libc::flock(folder.as_raw_fd(), operation) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn records_folder(rooms: &RoomsDir, scheduler: &str) -> Result<File, RuntimeError> {
    let dir = record::ensure_scheduler_dir(rooms, scheduler)?;
    File::open(&dir).map_err(|err| RuntimeError::Unavailable(format!("{}: {err}", dir.display())))
}

/// The lock a room's creator holds until the room's record is written: keep the file open.
/// Waits while a scan of unrecorded rooms runs (it is short).
pub(super) fn creating(rooms: &RoomsDir, scheduler: &str) -> Result<File, RuntimeError> {
    let folder = records_folder(rooms, scheduler)?;
    flock(&folder, libc::LOCK_SH).map_err(|err| {
        RuntimeError::Unavailable(format!("locking the records of {scheduler}: {err}"))
    })?;
    Ok(folder)
}

/// The rooms of `scheduler` with a directory, no record, and no process of `own`.
fn unrecorded(rooms: &RoomsDir, scheduler: &str, own: &HashSet<String>) -> Vec<String> {
    rooms
        .room_names(scheduler)
        .into_iter()
        .filter(|room| !own.contains(room) && !record::exists(rooms, scheduler, room))
        .collect()
}

/// Records the processes of rooms left without a record, and removes the directories of those
/// with no process (see the module's documentation). `own`: the rooms this process started.
pub(super) fn adopt(rooms: &RoomsDir, scheduler: &str, own: &HashSet<String>) {
    if unrecorded(rooms, scheduler, own).is_empty() {
        return;
    }
    let Ok(folder) = records_folder(rooms, scheduler) else {
        return;
    };
    if flock(&folder, libc::LOCK_EX | libc::LOCK_NB).is_err() {
        // A room is being created: a later listing looks again.
        return;
    }
    // Again under the lock: a room that was in its creator's window has its record now.
    let dirs: HashMap<PathBuf, String> = unrecorded(rooms, scheduler, own)
        .into_iter()
        .filter_map(|room| Some((rooms.room_dir(scheduler, &room).ok()?, room)))
        .collect();
    if dirs.is_empty() {
        return;
    }
    let mut found = room_processes(&dirs);
    for room in dirs.into_values() {
        let Some(process) = found.remove(&room) else {
            tracing::info!(
                scheduler,
                room,
                "a room directory with no record and no process: removed"
            );
            rooms.remove_room(scheduler, &room);
            record::remove(rooms, scheduler, &room);
            continue;
        };
        tracing::warn!(
            scheduler,
            room,
            pid = process.pid,
            "a room process had no record (its Baton process died as it started it): adopted"
        );
        let adopted = InstanceRecord {
            scheduler: scheduler.to_string(),
            room,
            version: String::new(),
            pid: process.pid,
            start_time: process.start_time,
            address: RoomAddress {
                host: "127.0.0.1".to_string(),
                ports: process.ports,
            },
            reserved: None,
        };
        if let Err(err) = record::write(rooms, &adopted) {
            tracing::warn!(scheduler, room = %adopted.room, %err, "cannot record an adopted room");
        }
    }
}

/// A room's first process, found in `/proc`.
struct Found {
    pid: i32,
    start_time: u64,
    ports: Vec<RoomPort>,
}

/// The process of each room whose directory is a key of `dirs` (values: the rooms' names).
fn room_processes(dirs: &HashMap<PathBuf, String>) -> HashMap<String, Found> {
    let mut found: HashMap<String, Found> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
            continue;
        };
        let Some(room) = dirs.get(&cwd) else {
            continue;
        };
        let stat = std::fs::read(format!("/proc/{pid}/stat")).ok();
        let Some((group, start_time)) = stat.as_deref().and_then(parse_stat) else {
            continue;
        };
        if group != pid || found.get(room).is_some_and(|f| f.start_time <= start_time) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let variables: Vec<(&[u8], &[u8])> = environ
            .split(|b| *b == 0)
            .filter_map(|entry| {
                let equals = entry.iter().position(|b| *b == b'=')?;
                Some((&entry[..equals], &entry[equals + 1..]))
            })
            .collect();
        let names_the_room = variables.iter().any(|(name, value)| {
            (*name == b"HOME" && *value == cwd.as_os_str().as_bytes())
                || (*name == b"MAESTRO_ROOM_ID" && *value == room.as_bytes())
        });
        if !names_the_room {
            continue;
        }
        let prefix = port_variable("");
        let ports = variables
            .iter()
            .filter_map(|(name, value)| {
                let name = std::str::from_utf8(name).ok()?.strip_prefix(&prefix)?;
                let port = std::str::from_utf8(value).ok()?.parse().ok()?;
                Some(RoomPort {
                    name: name.to_ascii_lowercase(),
                    protocol: String::new(),
                    port,
                })
            })
            .collect();
        let process = Found {
            pid,
            start_time,
            ports,
        };
        found.insert(room.clone(), process);
    }
    found
}

/// The process group (field 5) and start time (field 22) of a running process's
/// `/proc/<pid>/stat`; fields are read after the last `)` (the command name may hold any byte).
fn parse_stat(stat: &[u8]) -> Option<(i32, u64)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    if matches!(field(3)?, "Z" | "X" | "x") {
        return None;
    }
    Some((field(5)?.parse().ok()?, field(22)?.parse().ok()?))
}

#[cfg(test)]
#[path = "orphan_tests.rs"]
mod tests;
