//! Host ports: which ports of the scheduler's range each room's pod holds, as far as this
//! process knows, and handing out free ones to new rooms.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::domain::scheduler::Scheduler;
use app::ports::RuntimeError;
use k8s_openapi::api::core::v1::Pod;

use super::status::{host_ports, room_of};
use super::{KubernetesRuntime, lock};

impl KubernetesRuntime {
    /// Lists the scheduler's pods and records the host ports they hold.
    pub(super) async fn sync_ports(&self, scheduler: &str) -> Result<Vec<Pod>, RuntimeError> {
        let started = self.ports.with(scheduler, SchedulerPorts::begin_sync);
        let pods = self.list_pods(scheduler).await?;
        self.ports.with(scheduler, |ports| {
            let held = pods.iter().map(|pod| (room_of(pod), host_ports(pod)));
            ports.finish_sync(started, held, Instant::now());
        });
        Ok(pods)
    }

    /// Host ports from `range` for the `needed` container ports of `room` that have none.
    pub(super) async fn reserve_ports(
        &self,
        scheduler: &str,
        room: &str,
        fixed: &[u16],
        needed: usize,
        range: (u32, u32),
    ) -> Result<Vec<u16>, RuntimeError> {
        let max_age = self.config.port_resync;
        let stale = self
            .ports
            .with(scheduler, |ports| ports.is_stale(Instant::now(), max_age));
        if stale {
            self.sync_ports(scheduler).await?;
        }
        let reserve = |ports: &mut SchedulerPorts| ports.reserve(room, fixed, needed, range);
        if let Some(assigned) = self.ports.with(scheduler, reserve) {
            return Ok(assigned);
        }
        if !stale {
            // Rooms may have gone since the last look: look again before giving up.
            self.sync_ports(scheduler).await?;
            if let Some(assigned) = self.ports.with(scheduler, reserve) {
                return Ok(assigned);
            }
        }
        Err(RuntimeError::PortsExhausted(scheduler.to_string()))
    }
}

/// The host ports fixed in the spec, and how many container ports need one from the range.
pub(super) fn port_needs(scheduler: &Scheduler) -> (Vec<u16>, usize) {
    let ports = scheduler
        .config
        .spec
        .containers
        .iter()
        .flat_map(|container| &container.ports);
    let mut fixed = Vec::new();
    let mut needed = 0;
    for port in ports {
        match port.host_port.and_then(|p| u16::try_from(p).ok()) {
            Some(host_port) => fixed.push(host_port),
            None => needed += 1,
        }
    }
    (fixed, needed)
}

/// The scheduler's port range as `start..end` (end exclusive).
pub(super) fn port_range(scheduler: &Scheduler) -> Result<(u32, u32), RuntimeError> {
    let name = &scheduler.config.name;
    let range = scheduler.config.port_range.ok_or_else(|| {
        RuntimeError::Rejected(format!(
            "scheduler {name} has container ports without hostPort but no port range"
        ))
    })?;
    if !(1..=65535).contains(&range.start) || !(2..=65536).contains(&range.end) {
        return Err(RuntimeError::Rejected(format!(
            "scheduler {name} has an invalid port range {}-{}",
            range.start, range.end
        )));
    }
    if range.start >= range.end {
        return Err(RuntimeError::Rejected(format!(
            "scheduler {name} has an empty port range {}-{}",
            range.start, range.end
        )));
    }
    Ok((range.start as u32, range.end as u32))
}

/// The host ports each scheduler's rooms hold, as far as this process knows: seeded and
/// refreshed by listing the scheduler's pods, kept up to date by this process's own creations
/// and by watches (ports are released when a pod is gone, not when its deletion is asked).
#[derive(Debug, Default)]
pub(super) struct PortBook {
    schedulers: Mutex<HashMap<String, SchedulerPorts>>,
}

impl PortBook {
    pub(super) fn with<R>(
        &self,
        scheduler: &str,
        change: impl FnOnce(&mut SchedulerPorts) -> R,
    ) -> R {
        let mut schedulers = lock(&self.schedulers);
        change(schedulers.entry(scheduler.to_string()).or_default())
    }

    pub(super) fn forget(&self, scheduler: &str) {
        lock(&self.schedulers).remove(scheduler);
    }
}

#[derive(Debug, Default)]
pub(super) struct SchedulerPorts {
    /// Orders changes against listings: a listing started at tick `t` knows nothing newer.
    pub(super) clock: u64,
    pub(super) synced_at: Option<Instant>,
    /// The last port handed out; the next search starts after it, so that freed ports rest.
    pub(super) cursor: Option<u32>,
    pub(super) rooms: HashMap<String, Holding>,
}

/// Settles a reservation if the creation using it is dropped midway (the caller gave up): the
/// pod may exist, so its ports stay held until a listing says otherwise.
pub(super) struct AbandonedCreation<'a> {
    pub(super) book: &'a PortBook,
    pub(super) scheduler: &'a str,
    pub(super) room: &'a str,
    pub(super) ports: Vec<u16>,
    pub(super) armed: bool,
}

impl AbandonedCreation<'_> {
    /// The creation finished: its outcome settles the reservation.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbandonedCreation<'_> {
    fn drop(&mut self) {
        if self.armed {
            let ports = std::mem::take(&mut self.ports);
            self.book
                .with(self.scheduler, |book| book.settle(self.room, ports));
        }
    }
}

#[derive(Debug)]
pub(super) struct Holding {
    pub(super) ports: Vec<u16>,
    /// The tick at which this was recorded.
    pub(super) since: u64,
    /// Reserved for a pod being created right now; only its creation settles or cancels it.
    pub(super) pending: bool,
}

impl SchedulerPorts {
    pub(super) fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub(super) fn is_stale(&self, now: Instant, max_age: Duration) -> bool {
        self.synced_at
            .is_none_or(|synced| now.saturating_duration_since(synced) > max_age)
    }

    pub(super) fn begin_sync(&mut self) -> u64 {
        self.tick()
    }

    /// Applies a listing of the rooms' pods started at tick `started`.
    pub(super) fn finish_sync(
        &mut self,
        started: u64,
        listed: impl IntoIterator<Item = (String, Vec<u16>)>,
        now: Instant,
    ) {
        let listed: HashMap<String, Vec<u16>> = listed.into_iter().collect();
        self.rooms.retain(|room, holding| {
            holding.pending || holding.since > started || listed.contains_key(room)
        });
        for (room, ports) in listed {
            match self.rooms.get_mut(&room) {
                Some(holding) if holding.pending => {}
                Some(holding) => holding.ports = ports,
                None => {
                    let holding = Holding {
                        ports,
                        since: started,
                        pending: false,
                    };
                    self.rooms.insert(room, holding);
                }
            }
        }
        self.synced_at = Some(now);
    }

    /// Picks `count` free ports of `range` for `room` (whose own fixed host ports are `fixed`),
    /// continuing after the last port handed out; `None` when too few are free.
    pub(super) fn reserve(
        &mut self,
        room: &str,
        fixed: &[u16],
        count: usize,
        (start, end): (u32, u32),
    ) -> Option<Vec<u16>> {
        let used: HashSet<u16> = self
            .rooms
            .iter()
            .filter(|(holder, _)| holder.as_str() != room)
            .flat_map(|(_, holding)| holding.ports.iter().copied())
            .chain(fixed.iter().copied())
            .collect();
        let size = end.checked_sub(start).filter(|size| *size > 0)?;
        let first = match self.cursor {
            Some(cursor) if (start..end).contains(&cursor) => cursor + 1 - start,
            _ => 0,
        };
        let picked: Vec<u16> = (0..size)
            .map(|offset| start + (first + offset) % size)
            .filter_map(|port| u16::try_from(port).ok())
            .filter(|port| !used.contains(port))
            .take(count)
            .collect();
        if picked.len() < count {
            return None;
        }
        self.cursor = picked.last().map(|&port| u32::from(port));
        let since = self.tick();
        let ports = fixed.iter().chain(&picked).copied().collect();
        self.rooms.insert(
            room.to_string(),
            Holding {
                ports,
                since,
                pending: true,
            },
        );
        Some(picked)
    }

    /// The room's pod exists (or may) with these host ports.
    pub(super) fn settle(&mut self, room: &str, ports: Vec<u16>) {
        let since = self.tick();
        self.rooms.insert(
            room.to_string(),
            Holding {
                ports,
                since,
                pending: false,
            },
        );
    }

    /// The room's pod was not created.
    pub(super) fn cancel(&mut self, room: &str) {
        if self.rooms.get(room).is_some_and(|holding| holding.pending) {
            self.rooms.remove(room);
        }
    }

    /// A watch saw the room's pod.
    pub(super) fn observe(&mut self, room: &str, ports: Vec<u16>) {
        if !self.rooms.get(room).is_some_and(|holding| holding.pending) {
            self.settle(room, ports);
        }
    }

    /// The room's pod is gone.
    pub(super) fn release(&mut self, room: &str) {
        if self.rooms.get(room).is_some_and(|holding| !holding.pending) {
            self.rooms.remove(room);
        }
    }
}
