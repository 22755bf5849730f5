//! Rooms this Baton process started: their exit is awaited (a crash is reported as it
//! happens), and stopping one waits for that exit.

use std::time::Duration;

use app::ports::InstanceEvent;
use tokio::sync::watch;

use super::{LocalRuntime, adopted, record, signal};

impl LocalRuntime {
    pub(super) fn watch_exit(
        &self,
        key: (String, String),
        mut child: tokio::process::Child,
        exited: watch::Sender<bool>,
    ) {
        let runtime = self.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            // The room's directory goes with its process, before anyone learns it is gone.
            let (rooms_dir, (scheduler, room)) = (runtime.rooms_dir.clone(), key.clone());
            let _ =
                tokio::task::spawn_blocking(move || rooms_dir.remove_room(&scheduler, &room)).await;
            let _ = exited.send(true);
            let (scheduler, room) = key.clone();
            // None: stopped on purpose; Some(reason): crashed (its record stays until it is
            // deleted, for its logs).
            let crashed = {
                let mut state = runtime.lock();
                let Some(process) = state.processes.get_mut(&key) else {
                    return;
                };
                if process.stopping {
                    let process = state.processes.remove(&key);
                    for port in process
                        .iter()
                        .flat_map(|p| p.instance.address.iter())
                        .flat_map(|a| &a.ports)
                    {
                        state.ports.remove(&port.port);
                    }
                    None
                } else {
                    let reason = match status {
                        Ok(status) => format!("process exited: {status}"),
                        Err(err) => format!("process lost: {err}"),
                    };
                    process.instance.crashed = Some(reason.clone());
                    Some(reason)
                }
            };
            match crashed {
                None => {
                    runtime.forget(&scheduler, &room).await;
                    runtime.emit(InstanceEvent::Gone { scheduler, room });
                }
                Some(reason) => runtime.emit(InstanceEvent::Crashed {
                    scheduler,
                    room,
                    reason,
                }),
            }
        });
    }

    /// Removes a room's record and log, off the async threads.
    pub(super) async fn forget(&self, scheduler: &str, room: &str) {
        let (rooms_dir, scheduler, room) = (
            self.rooms_dir.clone(),
            scheduler.to_string(),
            room.to_string(),
        );
        let _ = tokio::task::spawn_blocking(move || record::remove(&rooms_dir, &scheduler, &room))
            .await;
    }

    /// Stops one process: SIGTERM, then SIGKILL after the grace period. Returns once it is gone.
    /// A room another Baton process started is stopped from its record.
    pub(super) async fn stop(&self, key: &(String, String), grace: Duration) {
        let own = self.lock().processes.get_mut(key).map(|process| {
            process.stopping = true;
            (
                process.pid,
                process.exited.clone(),
                *process.exited.borrow(),
            )
        });
        let Some((pid, mut exited, already_dead)) = own else {
            adopted::stop(self, &key.0, &key.1, grace).await;
            return;
        };
        if already_dead {
            // A crashed process: nothing to signal, just forget it.
            {
                let mut state = self.lock();
                if let Some(process) = state.processes.remove(key) {
                    for port in process.instance.address.iter().flat_map(|a| &a.ports) {
                        state.ports.remove(&port.port);
                    }
                }
            }
            self.forget(&key.0, &key.1).await;
            self.emit(InstanceEvent::Gone {
                scheduler: key.0.clone(),
                room: key.1.clone(),
            });
            return;
        }
        signal(pid, libc::SIGTERM);
        let graceful =
            tokio::time::timeout(grace, async { exited.wait_for(|done| *done).await.is_ok() })
                .await;
        if graceful.is_err() {
            signal(pid, libc::SIGKILL);
            let _ = exited.wait_for(|done| *done).await;
        }
    }
}
