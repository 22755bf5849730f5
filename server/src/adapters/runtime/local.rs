//! Local process runtime, the embedded default: each room is a child process running the first
//! container's `command`, with the room's environment and host ports from the scheduler's range.
//!
//! The commands come from scheduler specs, so whoever may create schedulers may run programs
//! here: Baton listens on loopback by default for this reason.
//!
//! Usage (the cpu and mem autoscaling triggers) is read from `/proc`, summed over each room's
//! process group: CPU as the rate of `utime + stime` since the previous measurement of the room,
//! memory as resident pages. A room's first measurement samples twice, `FIRST_SAMPLE_GAP`
//! apart, so that a single call already gives every running room a value.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::room::{RoomAddress, RoomPort};
use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{broadcast, watch};

/// Lines of output kept per room.
const LOG_LINES: usize = 200;

/// Between the two samples of a room's first usage measurement.
const FIRST_SAMPLE_GAP: Duration = Duration::from_millis(150);

/// A room's CPU time at one moment, to turn the next measurement into a rate.
#[derive(Clone, Copy, Debug)]
struct CpuSample {
    /// `utime + stime` of the process group, in clock ticks.
    ticks: u64,
    at: Instant,
}

/// What `/proc` says about one process group at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct GroupSample {
    /// `utime + stime` of its live processes, in clock ticks.
    ticks: u64,
    /// Resident memory of its live processes, in pages.
    rss_pages: u64,
}

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
}

impl Default for LocalRuntime {
    fn default() -> Self {
        Self::new()
    }
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
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            events: broadcast::channel(1024).0,
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

/// One `/proc/<pid>/stat`: the process group, `utime + stime` (ticks) and resident pages.
///
/// The command name (field 2) is in parentheses and may hold spaces, parentheses and any
/// bytes, so the fields are read after the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(i32, u64, u64)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `n` is the field's number in proc(5); the first one after the `)` is field 3 (state).
    let field = |n: usize| fields.get(n - 3).copied();
    let pgrp = field(5)?.parse().ok()?;
    let utime: u64 = field(14)?.parse().ok()?;
    let stime: u64 = field(15)?.parse().ok()?;
    // Field 24 (rss) is the same counter as the resident pages of /proc/<pid>/statm.
    let rss = field(24)?.parse().ok()?;
    Some((pgrp, utime.saturating_add(stime), rss))
}

/// Sums CPU time and resident memory of the live processes of each group in `groups`.
///
/// Only live processes count: the CPU time of exited children is left out (a parent's
/// `cutime` would add a child's whole life at once, when it is reaped).
fn sample_groups(groups: &HashSet<i32>) -> Result<HashMap<i32, GroupSample>, RuntimeError> {
    let entries = std::fs::read_dir("/proc")
        .map_err(|err| RuntimeError::Unavailable(format!("cannot read /proc: {err}")))?;
    let mut samples: HashMap<i32, GroupSample> = HashMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        // The process may be gone since the listing.
        let Ok(stat) = std::fs::read(entry.path().join("stat")) else {
            continue;
        };
        let Some((pgrp, ticks, rss_pages)) = parse_stat(&stat) else {
            continue;
        };
        if groups.contains(&pgrp) {
            let sample = samples.entry(pgrp).or_default();
            sample.ticks = sample.ticks.saturating_add(ticks);
            sample.rss_pages = sample.rss_pages.saturating_add(rss_pages);
        }
    }
    Ok(samples)
}

/// [`sample_groups`] off the async threads, with the time it was taken.
async fn sample_groups_now(
    groups: HashSet<i32>,
) -> Result<(Instant, HashMap<i32, GroupSample>), RuntimeError> {
    tokio::task::spawn_blocking(move || {
        let at = Instant::now();
        sample_groups(&groups).map(|samples| (at, samples))
    })
    .await
    .map_err(|err| RuntimeError::Unavailable(format!("reading /proc failed: {err}")))?
}

fn sysconf_or(name: libc::c_int, fallback: f64) -> f64 {
    // SAFETY: sysconf(3) has no memory-safety preconditions.
    let value = unsafe { libc::sysconf(name) };
    if value > 0 { value as f64 } else { fallback }
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
        let mut command = Command::new(&container.command[0]);
        command
            .args(&container.command[1..])
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
        for variable in container.environment.iter().chain(env) {
            command.env(&variable.name, &variable.value);
        }
        for port in &ports {
            let variable = format!(
                "BATON_PORT_{}",
                port.name.to_ascii_uppercase().replace('-', "_")
            );
            command.env(variable, port.port.to_string());
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                let mut state = self.lock();
                for port in &ports {
                    state.ports.remove(&port.port);
                }
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
        // Running rooms: (room, process group, previous sample).
        let rooms: Vec<(String, i32, Option<CpuSample>)> = self
            .lock()
            .processes
            .iter()
            .filter(|((s, _), p)| {
                s == scheduler
                    && p.pid > 0
                    && !p.stopping
                    && p.instance.crashed.is_none()
                    && !*p.exited.borrow()
            })
            .map(|((_, room), p)| (room.clone(), p.pid, p.cpu_sample))
            .collect();
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let groups: HashSet<i32> = rooms.iter().map(|(_, pgid, _)| *pgid).collect();
        let (mut at, mut samples) = sample_groups_now(groups.clone()).await?;
        let mut previous: HashMap<i32, CpuSample> = rooms
            .iter()
            .filter_map(|(_, pgid, sample)| Some((*pgid, (*sample)?)))
            .collect();
        // A room measured for the first time, or moments ago, gets a second sample shortly, so
        // that the rate is over a window many clock ticks long.
        let too_short = |sample: &CpuSample| at.duration_since(sample.at) < FIRST_SAMPLE_GAP;
        if previous.len() < rooms.len() || previous.values().any(too_short) {
            for (pgid, sample) in &samples {
                previous.entry(*pgid).or_insert(CpuSample {
                    ticks: sample.ticks,
                    at,
                });
            }
            tokio::time::sleep(FIRST_SAMPLE_GAP).await;
            (at, samples) = sample_groups_now(groups).await?;
        }

        let ticks_per_second = sysconf_or(libc::_SC_CLK_TCK, 100.0);
        let page_size = sysconf_or(libc::_SC_PAGESIZE, 4096.0);
        let mut usages = Vec::new();
        let mut state = self.lock();
        for (room, pgid, _) in rooms {
            // A group without live processes has just exited: left out.
            let Some(sample) = samples.get(&pgid) else {
                continue;
            };
            let key = (scheduler.to_string(), room.clone());
            if let Some(process) = state.processes.get_mut(&key).filter(|p| p.pid == pgid) {
                process.cpu_sample = Some(CpuSample {
                    ticks: sample.ticks,
                    at,
                });
            }
            let Some(before) = previous.get(&pgid) else {
                continue;
            };
            let seconds = at.duration_since(before.at).as_secs_f64();
            if seconds <= 0.0 {
                continue;
            }
            // Processes that exited since take their ticks with them: never below zero.
            let ticks = sample.ticks.saturating_sub(before.ticks) as f64;
            usages.push(InstanceUsage {
                room,
                cpu_cores: ticks / ticks_per_second / seconds,
                memory_bytes: sample.rss_pages as f64 * page_size,
            });
        }
        drop(state);
        usages.sort_by(|a, b| a.room.cmp(&b.room));
        Ok(usages)
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::scheduler::SchedulerConfig;

    fn scheduler(command: &[&str]) -> Scheduler {
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

    fn env(name: &str, value: &str) -> EnvironmentVariable {
        EnvironmentVariable::plain(name, value)
    }

    async fn wait_for_logs(runtime: &LocalRuntime, room: &str) -> Vec<String> {
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
        let runtime = LocalRuntime::new();
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
        let runtime = LocalRuntime::new();
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
        let runtime = LocalRuntime::new();
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

    #[test]
    fn stat_lines_are_read_after_the_command_name() {
        // A command name with spaces and parentheses, then fields 3 to 24.
        let stat = b"4242 (a) b (c)) S 1 4200 4200 0 -1 4194304 90 0 0 0 150 25 3 4 20 0 1 0 \
            77 123456 321 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((4200, 175, 321)));
        assert_eq!(parse_stat(b"4242 (cut short) S 1 4200"), None);
        assert_eq!(parse_stat(b"no parenthesis"), None);
    }

    fn usage_of<'a>(usages: &'a [InstanceUsage], room: &str) -> &'a InstanceUsage {
        usages
            .iter()
            .find(|u| u.room == room)
            .unwrap_or_else(|| panic!("no usage for {room}: {usages:?}"))
    }

    #[tokio::test]
    async fn usage_measures_the_cpu_and_memory_of_each_room_process_group() {
        let runtime = LocalRuntime::new();
        // Two busy loops: the shell and its background child, both in the room's group (so
        // the room keeps above half a core even on a loaded two-core machine).
        let busy = scheduler(&["sh", "-c", "while :; do :; done & while :; do :; done"]);
        runtime.create_instance(&busy, "busy", &[]).await.unwrap();
        runtime
            .create_instance(&scheduler(&["sleep", "30"]), "idle", &[])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        // The first call samples twice; the next one measures since the first.
        let first = runtime.usage("local").await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = runtime.usage("local").await.unwrap();
        let cores = std::thread::available_parallelism().map_or(64, |n| n.get()) as f64;
        for usages in [&first, &second] {
            assert_eq!(usages.len(), 2, "{usages:?}");
            let busy = usage_of(usages, "busy");
            assert!(
                busy.cpu_cores > 0.5 && busy.cpu_cores < cores + 0.5,
                "{usages:?}"
            );
            assert!(busy.memory_bytes > 0.0, "{usages:?}");
            let idle = usage_of(usages, "idle");
            assert!(idle.cpu_cores < 0.2, "{usages:?}");
            assert!(idle.memory_bytes > 0.0, "{usages:?}");
        }

        assert_eq!(runtime.usage("other").await.unwrap(), vec![]);
        runtime.remove_scheduler("local").await.unwrap();
        assert_eq!(runtime.usage("local").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn crashed_rooms_have_no_usage() {
        let runtime = LocalRuntime::new();
        let s = scheduler(&["sh", "-c", "exit 3"]);
        let mut events = runtime.watch("local");
        runtime.create_instance(&s, "r1", &[]).await.unwrap();
        let crashed =
            async { while !matches!(events.next().await, Some(InstanceEvent::Crashed { .. })) {} };
        tokio::time::timeout(Duration::from_secs(5), crashed)
            .await
            .unwrap();
        assert_eq!(runtime.usage("local").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn a_missing_command_is_rejected() {
        let runtime = LocalRuntime::new();
        let result = runtime.create_instance(&scheduler(&[]), "r1", &[]).await;
        assert!(matches!(result, Err(RuntimeError::Rejected(_))));
        let result = runtime
            .create_instance(&scheduler(&["/nonexistent/binary"]), "r1", &[])
            .await;
        assert!(matches!(result, Err(RuntimeError::Rejected(_))));
        // The ports of a failed start are released.
        assert!(runtime.lock().ports.is_empty());
    }
}
