//! What survives a Baton process: every local room is recorded under
//! `<rooms dir>/.instances/<scheduler>/<room>.json`, beside its output `<room>.log`, in a folder
//! of Baton's (mode 0700) outside the room's own directory. Any Baton process sharing the rooms
//! dir can thus list, read, adopt and stop a room that another one started.
//!
//! A record names the room's process group (its leader's pid) and that process's start time
//! (`/proc/<pid>/stat` field 22): a pid the kernel gave to another process since has another
//! start time, so a record is only believed while both match.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use app::domain::capacity::Resources;
use app::domain::room::RoomAddress;
use app::ports::RuntimeError;
use serde::{Deserialize, Serialize};

use super::workdir::{RoomsDir, component};

/// The folder of Baton's records, under the rooms dir.
pub const INSTANCES_DIR: &str = ".instances";

/// Bytes read from the end of a room's log for its last lines.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// One room process, as any Baton process may find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub scheduler: String,
    pub room: String,
    pub version: String,
    /// The room's first process, leader of its process group (pid = process group id).
    pub pid: i32,
    /// `starttime` of `pid` (clock ticks after boot), to tell it from a later process that
    /// got the same pid.
    pub start_time: u64,
    /// Where players reach the room; its ports are the host ports the room holds.
    pub address: RoomAddress,
    /// What of this host the room holds: its scheduler's payload quota when it was admitted
    /// (none for a scheduler without a capacity section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<Resources>,
}

impl InstanceRecord {
    /// Whether the recorded process still runs (not a zombie), and is the one recorded.
    pub fn is_alive(&self) -> bool {
        self.pid > 0 && running_since(self.pid) == Some(self.start_time)
    }

    pub fn host_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.address.ports.iter().map(|p| p.port)
    }
}

/// The start time of `pid` if it is running (a zombie has exited already).
pub fn running_since(pid: i32) -> Option<u64> {
    stat_of(pid).and_then(|(running, start)| running.then_some(start))
}

/// The start time of `pid`, running or exited but not yet reaped.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_of(pid).map(|(_, start)| start)
}

fn stat_of(pid: i32) -> Option<(bool, u64)> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether a `/proc/<pid>/stat` is of a running process (field 3 is not zombie or dead), and
/// field 22 (`starttime`). The command name (field 2) may hold spaces and parentheses: fields
/// are read after the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(bool, u64)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let running = !matches!(*fields.first()?, "Z" | "X" | "x");
    Some((running, fields.get(22 - 3)?.parse().ok()?))
}

fn failed(path: &Path, err: std::io::Error) -> RuntimeError {
    RuntimeError::Unavailable(format!("{}: {err}", path.display()))
}

/// Where the records of `scheduler` live (whether or not it exists).
fn scheduler_dir(rooms: &RoomsDir, scheduler: &str) -> Result<PathBuf, RuntimeError> {
    Ok(rooms
        .root()
        .join(INSTANCES_DIR)
        .join(component("scheduler", scheduler)?))
}

fn file(rooms: &RoomsDir, scheduler: &str, room: &str, ext: &str) -> Result<PathBuf, RuntimeError> {
    let room = component("room", room)?.to_string_lossy().into_owned();
    Ok(scheduler_dir(rooms, scheduler)?.join(format!("{room}.{ext}")))
}

/// Creates `<rooms dir>/.instances/<scheduler>` (mode 0700) when absent.
pub(super) fn ensure_scheduler_dir(
    rooms: &RoomsDir,
    scheduler: &str,
) -> Result<PathBuf, RuntimeError> {
    let dir = scheduler_dir(rooms, scheduler)?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|err| failed(&dir, err))?;
    Ok(dir)
}

/// A fresh, empty log for the room (mode 0600), opened for appending: its stdout and stderr.
pub fn create_log(rooms: &RoomsDir, scheduler: &str, room: &str) -> Result<File, RuntimeError> {
    ensure_scheduler_dir(rooms, scheduler)?;
    let path = file(rooms, scheduler, room, "log")?;
    // A leftover of a former room of the same name goes first (append would keep it).
    let _ = std::fs::remove_file(&path);
    OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|err| failed(&path, err))
}

/// Writes the record atomically: a temporary file in the same folder, then renamed over.
pub fn write(rooms: &RoomsDir, record: &InstanceRecord) -> Result<(), RuntimeError> {
    let dir = ensure_scheduler_dir(rooms, &record.scheduler)?;
    let path = file(rooms, &record.scheduler, &record.room, "json")?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        record.room,
        uuid::Uuid::new_v4().simple()
    ));
    let json = serde_json::to_vec(record)
        .map_err(|err| RuntimeError::Unavailable(format!("encoding a room record: {err}")))?;
    let written = (|| {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        out.write_all(&json)?;
        out.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(failed(&path, err));
    }
    Ok(())
}

/// The record of one room, if there is a readable one.
pub fn read(rooms: &RoomsDir, scheduler: &str, room: &str) -> Option<InstanceRecord> {
    let path = file(rooms, scheduler, room, "json").ok()?;
    decode(&path)
}

fn decode(path: &Path) -> Option<InstanceRecord> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            tracing::warn!(record = %path.display(), %err, "cannot read a room record");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(record = %path.display(), %err, "unreadable room record left alone");
            None
        }
    }
}

/// Whether a record file of the room exists, readable or not.
pub fn exists(rooms: &RoomsDir, scheduler: &str, room: &str) -> bool {
    file(rooms, scheduler, room, "json").is_ok_and(|path| std::fs::symlink_metadata(path).is_ok())
}

/// Every readable record of `scheduler`.
pub fn read_scheduler(rooms: &RoomsDir, scheduler: &str) -> Vec<InstanceRecord> {
    let Ok(dir) = scheduler_dir(rooms, scheduler) else {
        return Vec::new();
    };
    read_folder(&dir)
}

fn read_folder(dir: &Path) -> Vec<InstanceRecord> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| decode(&path))
        .collect()
}

/// Every readable record, of all schedulers.
pub fn read_all(rooms: &RoomsDir) -> Vec<InstanceRecord> {
    read_all_under(rooms.root())
}

fn read_all_under(root: &Path) -> Vec<InstanceRecord> {
    let Ok(entries) = std::fs::read_dir(root.join(INSTANCES_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| read_folder(&entry.path()))
        .collect()
}

/// Host ports held by recorded rooms that still run, whichever Baton process started them.
pub fn live_ports(rooms: &RoomsDir) -> Vec<u16> {
    read_all(rooms)
        .iter()
        .filter(|record| record.is_alive())
        .flat_map(|record| record.host_ports().collect::<Vec<_>>())
        .collect()
}

/// What the recorded rooms that still run hold of this host (their payload quotas), over
/// every rooms dir given (the local runtimes of all regions share the host).
pub fn reserved(dirs: &[&RoomsDir]) -> Resources {
    dirs.iter()
        .flat_map(|rooms| read_all(rooms))
        .filter(InstanceRecord::is_alive)
        .filter_map(|record| record.reserved)
        .fold(Resources::default(), |sum, quota| sum.plus(&quota))
}

/// Forgets a room: its record and its log.
pub fn remove(rooms: &RoomsDir, scheduler: &str, room: &str) {
    for ext in ["json", "log"] {
        if let Ok(path) = file(rooms, scheduler, room, ext) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => tracing::warn!(file = %path.display(), %err, "cannot remove"),
            }
        }
    }
}

/// Removes the records folder of a scheduler (its rooms are stopped).
pub fn remove_scheduler(rooms: &RoomsDir, scheduler: &str) {
    if let Ok(dir) = scheduler_dir(rooms, scheduler) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The last `lines` lines of a room's log: at most the last [`LOG_TAIL_BYTES`] are read.
pub fn tail(rooms: &RoomsDir, scheduler: &str, room: &str, lines: usize) -> Vec<String> {
    let Ok(path) = file(rooms, scheduler, room, "log") else {
        return Vec::new();
    };
    let Ok(mut log) = File::open(&path) else {
        return Vec::new();
    };
    let Ok(length) = log.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let start = length.saturating_sub(LOG_TAIL_BYTES);
    let mut bytes = Vec::new();
    if log.seek(SeekFrom::Start(start)).is_err() || log.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        // The first line is cut.
        all.remove(0);
    }
    let skip = all.len().saturating_sub(lines);
    all[skip..].iter().map(|line| line.to_string()).collect()
}

/// SIGKILLs every recorded room still running under `rooms_dir` (records and directories are
/// left): for tests and tools that must leave no process behind, as rooms outlive Baton.
pub fn kill_recorded_rooms(rooms_dir: &Path) {
    for record in read_all_under(rooms_dir) {
        if record.is_alive() {
            super::signal(record.pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_of_a_live_process() {
        let stat = b"4242 (a) b (c)) S 1 4200 4200 0 -1 4194304 90 0 0 0 150 25 3 4 20 0 1 0 \
            77 123456 321 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((true, 77)));
        let zombie = b"4242 (sh) Z 1 4200 4200 0 -1 4194304 90 0 0 0 150 25 3 4 20 0 1 0 77 0 0";
        assert_eq!(parse_stat(zombie), Some((false, 77)));
        assert_eq!(parse_stat(b"4242 (cut) S 1"), None);
        // This very process.
        let me = std::process::id() as i32;
        assert!(running_since(me).is_some());
    }
}
