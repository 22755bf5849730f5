//! Local process runtime, the embedded default: each room is a child process running the first
//! container's `command`, in its own process group, with host ports from the scheduler's range.
//!
//! What a room gets: its own fresh directory as `cwd` and `HOME` (`workdir`), and an environment
//! of exactly its spec's literal variables, the variables Baton gives every room, its ports and
//! a minimal `PATH` (`environment`): none of Baton's own variables. It still runs as Baton's OS
//! user on Baton's host, so this is no sandbox: whoever may create schedulers may run programs
//! here (Baton listens on loopback by default for this reason). Usage: `usage`.
//!
//! Rooms outlive the Baton process that started them (it may be killed, or replaced by another
//! replica): each is recorded under the rooms dir with its output in a log file there
//! (`record`), so that any Baton process sharing the rooms dir lists, measures and stops it
//! (`adopted`). Only the process that started a room learns at once that it exited (and
//! reports it crashed); another one finds it gone at its next listing. A room whose Baton
//! process died before recording it is found from `/proc` (`orphans`).

mod adopted;
mod environment;
mod host;
mod machines;
mod orphans;
mod own;
mod ports;
mod record;
mod usage;
mod workdir;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use host::{HostConfig, HostProbe};
pub use machines::LocalMachines;
pub use record::kill_recorded_rooms;
pub use workdir::{RoomsDir, RoomsDirError};

use app::domain::capacity::Resources;
use app::domain::room::RoomAddress;
use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::process::Command;
use tokio::sync::{broadcast, watch};

use environment::room_environment;
use record::InstanceRecord;
use usage::CpuSample;

/// Lines of output `logs` returns.
const LOG_LINES: usize = 200;

struct Process {
    instance: RoomInstance,
    pid: i32,
    /// Flips to true when the process has exited.
    exited: watch::Receiver<bool>,
    stopping: bool,
    /// The group's CPU time at the previous usage measurement.
    cpu_sample: Option<CpuSample>,
}

#[derive(Default)]
struct State {
    /// By (scheduler, room).
    processes: HashMap<(String, String), Process>,
    /// Host ports held by live processes.
    ports: HashSet<u16>,
    /// The previous CPU sample of rooms another Baton process started, with their pid.
    adopted_cpu: HashMap<(String, String), (i32, CpuSample)>,
}

#[derive(Clone)]
pub struct LocalRuntime {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<InstanceEvent>,
    rooms_dir: RoomsDir,
    /// The rooms dirs of the other local runtimes on this host (other regions): their rooms are
    /// not this runtime's, but the host ports they hold are taken.
    neighbours: Vec<RoomsDir>,
    /// This host, read for capacity: whether a room may start here, and [`LocalMachines`].
    host: Arc<HostProbe>,
    /// Held from a capacity room's admission until its record (with what it reserves) is
    /// written: two rooms of this process are never admitted against the same free capacity.
    admission: Arc<tokio::sync::Mutex<()>>,
}

fn signal(pid: i32, signal: i32) {
    // Negative pid: the whole process group the room started, so its children stop too.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(-pid, signal);
    }
}

impl LocalRuntime {
    /// Rooms get their directories under `rooms_dir`.
    pub fn new(rooms_dir: RoomsDir) -> Self {
        let host = HostProbe::new(rooms_dir.root().to_path_buf(), HostConfig::default());
        Self {
            state: Arc::default(),
            events: broadcast::channel(1024).0,
            rooms_dir,
            neighbours: Vec::new(),
            host: Arc::new(host),
            admission: Arc::default(),
        }
    }

    /// What the rooms that run on this host hold of it (their payload quotas), those of every
    /// local runtime sharing the host.
    async fn reserved(&self) -> Result<Resources, RuntimeError> {
        let (rooms_dir, neighbours) = (self.rooms_dir.clone(), self.neighbours.clone());
        tokio::task::spawn_blocking(move || {
            let mut dirs = vec![&rooms_dir];
            dirs.extend(neighbours.iter());
            record::reserved(&dirs)
        })
        .await
        .map_err(|err| RuntimeError::Unavailable(format!("reading room records: {err}")))
    }

    /// The same runtime, describing this host with `config` (kind, bandwidths).
    pub fn with_host(mut self, config: HostConfig) -> Self {
        self.host = Arc::new(HostProbe::new(self.rooms_dir.root().to_path_buf(), config));
        self
    }

    /// This host as the one machine of `region`, with this runtime's rooms.
    pub fn machines(&self, region: &str) -> LocalMachines {
        LocalMachines::new(self.clone(), region)
    }

    /// The same runtime, leaving out the host ports that rooms recorded under `neighbours` (the
    /// rooms dirs of the other local runtimes of this host) hold.
    pub fn with_neighbours(mut self, neighbours: Vec<RoomsDir>) -> Self {
        self.neighbours = neighbours;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: InstanceEvent) {
        // No receiver is fine: nobody watches yet.
        let _ = self.events.send(event);
    }

    /// The last lines a room printed (stdout and stderr), whichever Baton process started it.
    pub fn logs(&self, scheduler: &str, room: &str) -> Vec<String> {
        record::tail(&self.rooms_dir, scheduler, room, LOG_LINES)
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    async fn create_instance(
        &self,
        scheduler: &Scheduler,
        room: &str,
        env: &[EnvironmentVariable],
    ) -> Result<RoomInstance, RuntimeError> {
        let name = scheduler.config.name.clone();
        let container = scheduler
            .config
            .spec
            .containers
            .iter()
            .find(|c| !c.command.is_empty())
            .ok_or_else(|| {
                RuntimeError::Rejected("the local runtime needs a container with a command".into())
            })?;
        let key = (name.clone(), room.to_string());
        if let Some(existing) = self.lock().processes.get(&key) {
            return Ok(existing.instance.clone());
        }
        // Held until the room's record is written (dropped on every return): see `orphans`.
        let (rooms_dir, scheduler_name) = (self.rooms_dir.clone(), name.clone());
        let _creating =
            tokio::task::spawn_blocking(move || orphans::creating(&rooms_dir, &scheduler_name))
                .await
                .map_err(|err| {
                    RuntimeError::Unavailable(format!("locking room records: {err}"))
                })??;
        // A room another Baton process started, or host ports recorded rooms hold.
        let (rooms_dir, scheduler_name, room_name, neighbours) = (
            self.rooms_dir.clone(),
            name.clone(),
            room.to_string(),
            self.neighbours.clone(),
        );
        let (adopted, recorded) = tokio::task::spawn_blocking(move || {
            let adopted = record::read(&rooms_dir, &scheduler_name, &room_name)
                .filter(InstanceRecord::is_alive);
            let mut ports = record::live_ports(&rooms_dir);
            for neighbour in &neighbours {
                ports.extend(record::live_ports(neighbour));
            }
            (adopted, ports)
        })
        .await
        .map_err(|err| RuntimeError::Unavailable(format!("reading room records: {err}")))?;
        if let Some(adopted) = adopted {
            return Ok(adopted::instance(adopted));
        }
        // A scheduler with a capacity section starts no room this host cannot hold; its
        // room is recorded with the quota it holds before the next one is admitted.
        let (_admission, reserved) = match &scheduler.config.capacity {
            Some(capacity) => {
                let admission = self.admission.clone().lock_owned().await;
                let held = self.reserved().await?;
                let quota = host::check(&self.host, capacity, held).await?;
                (Some(admission), Some(quota))
            }
            None => (None, None),
        };
        let recorded: HashSet<u16> = recorded.into_iter().collect();
        let ports = {
            let mut state = self.lock();
            if let Some(existing) = state.processes.get(&key) {
                return Ok(existing.instance.clone());
            }
            Self::allocate_ports(&mut state, scheduler, &recorded)?
        };
        let held: Vec<u16> = ports.iter().map(|p| p.port).collect();
        let release_ports = |runtime: &Self| {
            let mut state = runtime.lock();
            for port in &held {
                state.ports.remove(port);
            }
        };
        let dir = match self.rooms_dir.create_room(&name, room) {
            Ok(dir) => dir,
            Err(err) => {
                release_ports(self);
                return Err(err);
            }
        };
        let cleanup = |runtime: &Self| {
            release_ports(runtime);
            runtime.rooms_dir.remove_room(&name, room);
            record::remove(&runtime.rooms_dir, &name, room);
        };
        // Output goes to a file of Baton's, not to pipes: the room outlives this process.
        let output = record::create_log(&self.rooms_dir, &name, room).and_then(|log| {
            let second = log
                .try_clone()
                .map_err(|err| RuntimeError::Unavailable(format!("opening a room's log: {err}")))?;
            Ok((log, second))
        });
        let (stdout, stderr) = match output {
            Ok(files) => files,
            Err(err) => {
                cleanup(self);
                return Err(err);
            }
        };
        let environment = room_environment(&container.environment, env, &ports, &dir);
        for variable in &environment.unresolved {
            tracing::warn!(
                scheduler = %name,
                room,
                variable = %variable,
                "valueFrom cannot be resolved on the local runtime: variable left out"
            );
        }
        let mut command = Command::new(&container.command[0]);
        command
            .args(&container.command[1..])
            .env_clear()
            .envs(&environment.variables)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // No kill on drop and no parent-death signal: the room outlives this Baton
            // process (another one adopts it from its record).
            .process_group(0);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                cleanup(self);
                return Err(RuntimeError::Rejected(format!(
                    "cannot start {:?}: {err}",
                    container.command[0]
                )));
            }
        };
        let address = RoomAddress {
            host: "127.0.0.1".to_string(),
            ports,
        };
        let instance = RoomInstance {
            scheduler: name.clone(),
            room: room.to_string(),
            version: scheduler.version.clone(),
            address: Some(address.clone()),
            machine: Some(host::host_name()),
            crashed: None,
        };
        let (exited_tx, exited_rx) = watch::channel(false);
        let pid = child.id().map_or(0, |id| id as i32);
        // Known as this process's own before its record appears, so that no listing takes a
        // room that exits at once for a stale record of another process's.
        self.lock().processes.insert(
            key.clone(),
            Process {
                instance: instance.clone(),
                pid,
                exited: exited_rx,
                stopping: false,
                cpu_sample: None,
            },
        );
        // Not reaped before `watch_exit`: the pid is still this child's.
        let recorded = record::start_time(pid)
            .ok_or_else(|| RuntimeError::Unavailable(format!("room process {pid} vanished")))
            .and_then(|start_time| {
                record::write(
                    &self.rooms_dir,
                    &InstanceRecord {
                        scheduler: name.clone(),
                        room: room.to_string(),
                        version: scheduler.version.clone(),
                        pid,
                        start_time,
                        address: address.clone(),
                        reserved,
                    },
                )
            });
        if let Err(err) = recorded {
            // A room no other Baton process could find is not started.
            self.lock().processes.remove(&key);
            signal(pid, libc::SIGKILL);
            let mut child = child;
            let _ = child.wait().await;
            cleanup(self);
            return Err(err);
        }
        self.watch_exit(key, child, exited_tx);
        for event in [
            InstanceEvent::Created {
                scheduler: name.clone(),
                room: room.to_string(),
            },
            InstanceEvent::Running {
                scheduler: name.clone(),
                room: room.to_string(),
            },
            InstanceEvent::AddressKnown {
                scheduler: name,
                room: room.to_string(),
                address,
            },
        ] {
            self.emit(event);
        }
        Ok(instance)
    }

    async fn delete_instance(&self, scheduler: &Scheduler, room: &str) -> Result<(), RuntimeError> {
        let grace = scheduler
            .config
            .spec
            .termination_grace_period
            .seconds()
            .unwrap_or(30);
        let key = (scheduler.config.name.clone(), room.to_string());
        self.stop(&key, Duration::from_secs(grace)).await;
        Ok(())
    }

    async fn instances(&self, scheduler: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
        let adopted = adopted::records(self, scheduler).await?;
        let state = self.lock();
        let mut instances: Vec<RoomInstance> = state
            .processes
            .iter()
            .filter(|((s, _), _)| s == scheduler)
            .map(|(_, p)| p.instance.clone())
            .collect();
        drop(state);
        instances.extend(adopted.into_iter().map(adopted::instance));
        instances.sort_by(|a, b| a.room.cmp(&b.room));
        Ok(instances)
    }

    fn watch(&self, scheduler: &str) -> BoxStream<'static, InstanceEvent> {
        let scheduler = scheduler.to_string();
        let receiver = self.events.subscribe();
        futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    // Missed events are recovered by the controller's reconciliation.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |event| {
            let scheduler_of = match event {
                InstanceEvent::Created { scheduler, .. }
                | InstanceEvent::Running { scheduler, .. }
                | InstanceEvent::AddressKnown { scheduler, .. }
                | InstanceEvent::Placed { scheduler, .. }
                | InstanceEvent::Crashed { scheduler, .. }
                | InstanceEvent::Gone { scheduler, .. } => scheduler,
            };
            futures::future::ready(*scheduler_of == scheduler)
        })
        .boxed()
    }

    async fn usage(&self, scheduler: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
        usage::measure(self, scheduler).await
    }

    async fn logs(&self, scheduler: &str, room: &str) -> Vec<String> {
        let (runtime, scheduler, room) = (self.clone(), scheduler.to_string(), room.to_string());
        tokio::task::spawn_blocking(move || LocalRuntime::logs(&runtime, &scheduler, &room))
            .await
            .unwrap_or_default()
    }

    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError> {
        let adopted = adopted::records(self, scheduler).await?;
        let mut keys: Vec<(String, String)> = self
            .lock()
            .processes
            .keys()
            .filter(|(s, _)| s == scheduler)
            .cloned()
            .collect();
        keys.extend(adopted.into_iter().map(|r| (r.scheduler, r.room)));
        let stops = keys
            .iter()
            .map(|key| self.stop(key, Duration::from_secs(10)));
        futures::future::join_all(stops).await;
        let rooms_dir = self.rooms_dir.clone();
        let scheduler = scheduler.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            rooms_dir.remove_scheduler(&scheduler);
            record::remove_scheduler(&rooms_dir, &scheduler);
        })
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod adoption_tests;
#[cfg(test)]
mod tests;
