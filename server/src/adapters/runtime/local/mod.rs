//! Local process runtime, the embedded default: each room is a child process running the first
//! container's `command`, in its own process group, with host ports from the scheduler's range.
//!
//! What a room gets: its own fresh directory as `cwd` and `HOME` (`workdir`), and an environment
//! of exactly its spec's literal variables, the variables Baton gives every room, its ports and
//! a minimal `PATH` (`environment`): none of Baton's own variables. It still runs as Baton's OS
//! user on Baton's host, so this is no sandbox: whoever may create schedulers may run programs
//! here (Baton listens on loopback by default for this reason). Usage: `usage`.

mod environment;
mod usage;
mod workdir;

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use workdir::{RoomsDir, RoomsDirError};

use app::domain::room::{RoomAddress, RoomPort};
use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{broadcast, watch};

use environment::room_environment;
use usage::CpuSample;

/// Lines of output kept per room.
const LOG_LINES: usize = 200;

struct Process {
    instance: RoomInstance,
    pid: i32,
    /// Flips to true when the process has exited.
    exited: watch::Receiver<bool>,
    stopping: bool,
    logs: Arc<Mutex<VecDeque<String>>>,
    /// The group's CPU time at the previous usage measurement.
    cpu_sample: Option<CpuSample>,
}

#[derive(Default)]
struct State {
    /// By (scheduler, room).
    processes: HashMap<(String, String), Process>,
    /// Host ports held by live processes.
    ports: HashSet<u16>,
}

#[derive(Clone)]
pub struct LocalRuntime {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<InstanceEvent>,
    rooms_dir: RoomsDir,
}

fn signal(pid: i32, signal: i32) {
    // Negative pid: the whole process group the room started, so its children stop too.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(-pid, signal);
    }
}

fn keep_lines(reader: impl AsyncRead + Unpin + Send + 'static, logs: Arc<Mutex<VecDeque<String>>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut logs = logs.lock().unwrap_or_else(|e| e.into_inner());
            if logs.len() == LOG_LINES {
                logs.pop_front();
            }
            logs.push_back(line);
        }
    });
}

impl LocalRuntime {
    /// Rooms get their directories under `rooms_dir`.
    pub fn new(rooms_dir: RoomsDir) -> Self {
        Self {
            state: Arc::default(),
            events: broadcast::channel(1024).0,
            rooms_dir,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: InstanceEvent) {
        // No receiver is fine: nobody watches yet.
        let _ = self.events.send(event);
    }

    /// The last lines a room printed.
    pub fn logs(&self, scheduler: &str, room: &str) -> Vec<String> {
        let state = self.lock();
        state
            .processes
            .get(&(scheduler.to_string(), room.to_string()))
            .map(|p| {
                p.logs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Picks free host ports from the scheduler's range for every port without a fixed one.
    fn allocate_ports(
        state: &mut State,
        scheduler: &Scheduler,
    ) -> Result<Vec<RoomPort>, RuntimeError> {
        let mut ports = Vec::new();
        for port in scheduler
            .config
            .spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
        {
            let number = match port.host_port {
                Some(fixed) => u16::try_from(fixed).map_err(|_| {
                    RuntimeError::Rejected(format!("host port {fixed} is out of range"))
                })?,
                None => {
                    let range = scheduler.config.port_range.ok_or_else(|| {
                        RuntimeError::Rejected(
                            "a port has no hostPort and there is no portRange".into(),
                        )
                    })?;
                    let free = (range.start..range.end)
                        .filter_map(|p| u16::try_from(p).ok())
                        .find(|p| !state.ports.contains(p) && port_is_free(*p));
                    let Some(free) = free else {
                        for taken in &ports {
                            let taken: &RoomPort = taken;
                            state.ports.remove(&taken.port);
                        }
                        return Err(RuntimeError::PortsExhausted(scheduler.config.name.clone()));
                    };
                    free
                }
            };
            state.ports.insert(number);
            ports.push(RoomPort {
                name: port.name.clone(),
                protocol: port.protocol.to_ascii_lowercase(),
                port: number,
            });
        }
        Ok(ports)
    }

    fn watch_exit(
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
                drop(state);
                runtime.emit(InstanceEvent::Gone { scheduler, room });
            } else {
                let reason = match status {
                    Ok(status) => format!("process exited: {status}"),
                    Err(err) => format!("process lost: {err}"),
                };
                process.instance.crashed = Some(reason.clone());
                drop(state);
                runtime.emit(InstanceEvent::Crashed {
                    scheduler,
                    room,
                    reason,
                });
            }
        });
    }

    /// Stops one process: SIGTERM, then SIGKILL after the grace period. Returns once it is gone.
    async fn stop(&self, key: &(String, String), grace: Duration) {
        let (pid, mut exited, already_dead) = {
            let mut state = self.lock();
            let Some(process) = state.processes.get_mut(key) else {
                return;
            };
            process.stopping = true;
            (
                process.pid,
                process.exited.clone(),
                *process.exited.borrow(),
            )
        };
        if already_dead {
            // A crashed process: nothing to signal, just forget it.
            let mut state = self.lock();
            if let Some(process) = state.processes.remove(key) {
                for port in process.instance.address.iter().flat_map(|a| &a.ports) {
                    state.ports.remove(&port.port);
                }
            }
            drop(state);
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

/// Whether nothing else on this machine listens on `port` (TCP).
fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
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
        let ports = {
            let mut state = self.lock();
            if let Some(existing) = state.processes.get(&key) {
                return Ok(existing.instance.clone());
            }
            Self::allocate_ports(&mut state, scheduler)?
        };
        let release_ports = |runtime: &Self| {
            let mut state = runtime.lock();
            for port in &ports {
                state.ports.remove(&port.port);
            }
        };
        let dir = match self.rooms_dir.create_room(&name, room) {
            Ok(dir) => dir,
            Err(err) => {
                release_ports(self);
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
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGTERM the room
        // when Baton itself dies, so no room outlives the orchestrator that tracks it.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                release_ports(self);
                self.rooms_dir.remove_room(&name, room);
                return Err(RuntimeError::Rejected(format!(
                    "cannot start {:?}: {err}",
                    container.command[0]
                )));
            }
        };
        let logs = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stdout) = child.stdout.take() {
            keep_lines(stdout, logs.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            keep_lines(stderr, logs.clone());
        }
        let address = RoomAddress {
            host: "127.0.0.1".to_string(),
            ports,
        };
        let instance = RoomInstance {
            scheduler: name.clone(),
            room: room.to_string(),
            version: scheduler.version.clone(),
            address: Some(address.clone()),
            crashed: None,
        };
        let (exited_tx, exited_rx) = watch::channel(false);
        let pid = child.id().map_or(0, |id| id as i32);
        self.lock().processes.insert(
            key.clone(),
            Process {
                instance: instance.clone(),
                pid,
                exited: exited_rx,
                stopping: false,
                logs,
                cpu_sample: None,
            },
        );
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
        let state = self.lock();
        let mut instances: Vec<RoomInstance> = state
            .processes
            .iter()
            .filter(|((s, _), _)| s == scheduler)
            .map(|(_, p)| p.instance.clone())
            .collect();
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

    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError> {
        let keys: Vec<(String, String)> = self
            .lock()
            .processes
            .keys()
            .filter(|(s, _)| s == scheduler)
            .cloned()
            .collect();
        let stops = keys
            .iter()
            .map(|key| self.stop(key, Duration::from_secs(10)));
        futures::future::join_all(stops).await;
        let rooms_dir = self.rooms_dir.clone();
        let scheduler = scheduler.to_string();
        let _ = tokio::task::spawn_blocking(move || rooms_dir.remove_scheduler(&scheduler)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
