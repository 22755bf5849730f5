//! Rooms this Baton process did not start (another one did, and may be gone): found from their
//! records, checked against `/proc`, stopped by signalling their process group. They cannot be
//! waited for, so their exit is seen at the next listing, not as it happens.

use std::collections::HashSet;
use std::time::Duration;

use app::ports::{InstanceEvent, RoomInstance, RuntimeError};

use super::record::{self, InstanceRecord};
use super::{LocalRuntime, orphans, signal};

/// Between two looks at `/proc` while a room stops.
const POLL: Duration = Duration::from_millis(50);
/// How long a SIGKILLed group may take to go.
const KILL_WAIT: Duration = Duration::from_secs(5);

pub(super) fn instance(record: InstanceRecord) -> RoomInstance {
    RoomInstance {
        scheduler: record.scheduler,
        room: record.room,
        version: record.version,
        address: Some(record.address),
        machine: Some(super::host::host_name()),
        crashed: None,
    }
}

/// The recorded rooms of `scheduler` that run and that this process did not start. Records of
/// rooms whose process is gone (or whose pid another process has now) are removed, with the
/// room's directory. Rooms left without a record are recorded first (`orphans`).
pub(super) async fn records(
    runtime: &LocalRuntime,
    scheduler: &str,
) -> Result<Vec<InstanceRecord>, RuntimeError> {
    let own: HashSet<String> = runtime
        .lock()
        .processes
        .keys()
        .filter(|(s, _)| s == scheduler)
        .map(|(_, room)| room.clone())
        .collect();
    let (rooms_dir, name) = (runtime.rooms_dir.clone(), scheduler.to_string());
    let (live, stale) = tokio::task::spawn_blocking(move || {
        orphans::adopt(&rooms_dir, &name, &own);
        let (live, stale): (Vec<_>, Vec<_>) = record::read_scheduler(&rooms_dir, &name)
            .into_iter()
            .filter(|r| !own.contains(&r.room))
            .partition(InstanceRecord::is_alive);
        for gone in &stale {
            tracing::info!(
                scheduler = %gone.scheduler,
                room = %gone.room,
                pid = gone.pid,
                "a recorded room process is gone: record removed"
            );
            rooms_dir.remove_room(&gone.scheduler, &gone.room);
            record::remove(&rooms_dir, &gone.scheduler, &gone.room);
        }
        (live, stale)
    })
    .await
    .map_err(|err| RuntimeError::Unavailable(format!("reading room records: {err}")))?;
    if !stale.is_empty() {
        let mut state = runtime.lock();
        for gone in stale {
            state.adopted_cpu.remove(&(gone.scheduler, gone.room));
        }
    }
    Ok(live)
}

/// Polls `/proc` until the recorded process is gone, for up to `within`.
async fn gone_within(record: &InstanceRecord, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !record.is_alive() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Stops a room from its record: SIGTERM to its group, SIGKILL after `grace`; then its record,
/// log and directory go. Nothing recorded is fine.
pub(super) async fn stop(runtime: &LocalRuntime, scheduler: &str, room: &str, grace: Duration) {
    let (rooms_dir, name, room_name) = (
        runtime.rooms_dir.clone(),
        scheduler.to_string(),
        room.to_string(),
    );
    let found = tokio::task::spawn_blocking(move || record::read(&rooms_dir, &name, &room_name))
        .await
        .ok()
        .flatten();
    let Some(found) = found else {
        return;
    };
    // Signalled only while the pid is still the recorded process's.
    if found.is_alive() {
        signal(found.pid, libc::SIGTERM);
        if !gone_within(&found, grace).await && found.is_alive() {
            signal(found.pid, libc::SIGKILL);
            if !gone_within(&found, KILL_WAIT).await {
                tracing::warn!(scheduler, room, pid = found.pid, "a room survived SIGKILL");
            }
        }
    }
    let rooms_dir = runtime.rooms_dir.clone();
    let (name, room_name) = (scheduler.to_string(), room.to_string());
    let _ = tokio::task::spawn_blocking(move || {
        rooms_dir.remove_room(&name, &room_name);
        record::remove(&rooms_dir, &name, &room_name);
    })
    .await;
    runtime
        .lock()
        .adopted_cpu
        .remove(&(scheduler.to_string(), room.to_string()));
    runtime.emit(InstanceEvent::Gone {
        scheduler: scheduler.to_string(),
        room: room.to_string(),
    });
}
