//! [`LocalMachines`]: the local runtime's one machine, this host (see `host`), with the rooms
//! this runtime runs on it (its own and those other Baton processes recorded in its rooms dir).
//! Its resources in use are what Baton's rooms hold of it (the payload quotas they were admitted
//! with, those of every local runtime of the host), not what the host measures.

use std::collections::BTreeSet;

use app::ports::{MachineReport, Machines, RuntimeError};
use async_trait::async_trait;

use super::LocalRuntime;
use super::host::host_name;
use super::record::{self, InstanceRecord};

/// This host as the one machine of the local runtime's region.
#[derive(Clone)]
pub struct LocalMachines {
    runtime: LocalRuntime,
    region: String,
}

impl LocalMachines {
    pub fn new(runtime: LocalRuntime, region: impl Into<String>) -> Self {
        Self {
            runtime,
            region: region.into(),
        }
    }
}

#[async_trait]
impl Machines for LocalMachines {
    async fn machines(&self) -> Result<Vec<MachineReport>, RuntimeError> {
        let (runtime, region) = (self.runtime.clone(), self.region.clone());
        let (mut machine, recorded) = tokio::task::spawn_blocking(move || {
            let machine = runtime.host.machine(&host_name(), &region);
            let recorded: Vec<InstanceRecord> = record::read_all(&runtime.rooms_dir)
                .into_iter()
                .filter(InstanceRecord::is_alive)
                .collect();
            machine.map(|machine| (machine, recorded))
        })
        .await
        .map_err(|err| RuntimeError::Unavailable(format!("reading this host: {err}")))??;
        // In use: what Baton's rooms hold (their quotas), as the runtime admits rooms.
        machine.in_use = self.runtime.reserved().await?;
        let mut rooms: BTreeSet<(String, String)> = recorded
            .into_iter()
            .map(|record| (record.scheduler, record.room))
            .collect();
        rooms.extend(self.runtime.lock().processes.keys().cloned());
        Ok(vec![MachineReport {
            machine,
            rooms: rooms.into_iter().collect(),
        }])
    }

    /// This host cannot be emptied or given back: always refused.
    async fn drain(&self, machine: &str, _busy: &[String]) -> Result<(), RuntimeError> {
        Err(RuntimeError::Rejected(format!(
            "machine {machine} is this host, the local runtime's only machine: it cannot be drained"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Scratch, runtime, scheduler};
    use super::*;
    use app::ports::Runtime;

    #[tokio::test]
    async fn this_host_is_one_machine_with_the_runtimes_rooms() {
        let scratch = Scratch::new();
        let runtime = runtime(&scratch);
        let machines = LocalMachines::new(runtime.clone(), "eu-west");
        let scheduler = scheduler(&["sleep", "30"]);
        runtime
            .create_instance(&scheduler, "r1", &[])
            .await
            .unwrap();
        // A room recorded by another Baton process sharing the rooms dir counts as well.
        let other = super::super::tests::runtime(&scratch);
        other.create_instance(&scheduler, "r2", &[]).await.unwrap();

        let reports = machines.machines().await.unwrap();
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        assert_eq!(report.machine.id, host_name());
        assert_eq!(report.machine.region, "eu-west");
        assert!(!report.machine.draining);
        assert_eq!(
            report.rooms,
            [
                ("local".to_string(), "r1".to_string()),
                ("local".to_string(), "r2".to_string())
            ]
        );

        let refused = machines.drain(&host_name(), &[]).await.unwrap_err();
        assert!(
            matches!(&refused, RuntimeError::Rejected(why) if why.contains("cannot be drained")),
            "{refused:?}"
        );
        runtime.remove_scheduler("local").await.unwrap();
        assert!(machines.machines().await.unwrap()[0].rooms.is_empty());
    }

    #[tokio::test]
    async fn a_room_this_host_cannot_hold_is_not_started_and_says_why() {
        let scratch = Scratch::new();
        let runtime = runtime(&scratch);
        let mut scheduler = scheduler(&["sleep", "30"]);
        let capacity: app::domain::capacity::Capacity = serde_json::from_value(serde_json::json!({
            "payloadQuota": {"cpuCores": 0.001, "memoryMB": 1},
            "machineMinSpec": {"os": "linux", "coreCount": 100000}
        }))
        .unwrap();
        scheduler.config.capacity = Some(capacity.clone());
        let refused = runtime
            .create_instance(&scheduler, "r1", &[])
            .await
            .unwrap_err();
        let RuntimeError::NoCapacity(reason) = &refused else {
            panic!("{refused:?}");
        };
        assert!(
            reason.starts_with("room not started: this host is below the machine minimum spec")
                && reason.contains("CoreCount"),
            "{reason}"
        );
        assert!(runtime.instances("local").await.unwrap().is_empty());

        // A quota larger than the whole host breaks the memory limit.
        let mut too_big = capacity.clone();
        too_big.machine_min_spec = Default::default();
        too_big.payload_quota.memory_mb = i64::MAX / 2;
        scheduler.config.capacity = Some(too_big);
        let refused = runtime
            .create_instance(&scheduler, "r1", &[])
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, RuntimeError::NoCapacity(why) if why.contains("safety limits: MemoryMB")),
            "{refused:?}"
        );

        // A small payload on a host meeting a modest spec starts.
        let mut fits = capacity;
        fits.machine_min_spec.core_count = 1;
        scheduler.config.capacity = Some(fits);
        runtime
            .create_instance(&scheduler, "r1", &[])
            .await
            .unwrap();
        assert_eq!(runtime.instances("local").await.unwrap().len(), 1);
        runtime.remove_scheduler("local").await.unwrap();
    }

    #[tokio::test]
    async fn rooms_are_admitted_against_what_baton_rooms_reserve_not_the_measured_load() {
        let scratch = Scratch::new();
        let runtime = runtime(&scratch);
        let machines = LocalMachines::new(runtime.clone(), "local");
        let host = machines.machines().await.unwrap().remove(0).machine;
        assert_eq!(
            host.in_use,
            Default::default(),
            "no room reserves anything yet"
        );
        // Half the host's memory each: two rooms fit, although the host itself uses some
        // memory already (measured, the second would not fit).
        let mut scheduler = scheduler(&["sleep", "30"]);
        scheduler.config.capacity = Some(
            serde_json::from_value(serde_json::json!({
                "payloadQuota": {"cpuCores": 0.001, "memoryMB": host.allocatable.memory_mb / 2}
            }))
            .unwrap(),
        );
        runtime
            .create_instance(&scheduler, "r1", &[])
            .await
            .unwrap();
        // Another process sharing the rooms dir sees the first room's reservation.
        let other = super::super::tests::runtime(&scratch);
        other.create_instance(&scheduler, "r2", &[]).await.unwrap();
        let reserved = machines.machines().await.unwrap().remove(0).machine.in_use;
        assert_eq!(reserved.memory_mb, (host.allocatable.memory_mb / 2) * 2);
        assert_eq!(reserved.millicores, 2);
        let refused = runtime
            .create_instance(&scheduler, "r3", &[])
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, RuntimeError::NoCapacity(why) if why.contains("MemoryMB")),
            "{refused:?}"
        );
        // Capacity frees when a room stops: the waiting one is admitted.
        runtime.delete_instance(&scheduler, "r1").await.unwrap();
        runtime
            .create_instance(&scheduler, "r3", &[])
            .await
            .unwrap();
        runtime.remove_scheduler("local").await.unwrap();
    }
}
