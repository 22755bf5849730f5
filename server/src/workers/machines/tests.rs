//! The machine scaler over fake machine sources and a fake provider.

use std::sync::Mutex;

use app::domain::capacity::{Machine, MachineKind, MachineSpec};
use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::{Scheduler, SchedulerConfig};
use app::ports::{MachineReport, Machines, ProviderError, RoomStore, RuntimeError};
use async_trait::async_trait;

use super::*;
use crate::adapters::storage::memory::MemoryRoomStore;
use crate::adapters::storage::memory_machine_decisions::MemoryMachineDecisionStore;

/// Machines in memory; a drain marks the machine draining and moves off every room not busy.
#[derive(Default)]
struct FakeMachines {
    reports: Mutex<Vec<MachineReport>>,
    drains: Mutex<Vec<(String, Vec<String>)>>,
    down: bool,
}

#[async_trait]
impl Machines for FakeMachines {
    async fn machines(&self) -> Result<Vec<MachineReport>, RuntimeError> {
        if self.down {
            return Err(RuntimeError::Unavailable("source down".into()));
        }
        Ok(self.reports.lock().unwrap().clone())
    }

    async fn drain(&self, machine: &str, busy: &[String]) -> Result<(), RuntimeError> {
        self.drains
            .lock()
            .unwrap()
            .push((machine.to_string(), busy.to_vec()));
        for report in self.reports.lock().unwrap().iter_mut() {
            if report.machine.id == machine {
                report.machine.draining = true;
                report.rooms.retain(|(_, room)| busy.contains(room));
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct FakeProvider {
    calls: Mutex<Vec<(String, String, MachineAction)>>,
}

#[async_trait]
impl MachineProvider for FakeProvider {
    async fn act(
        &self,
        scheduler: &str,
        decision_id: &str,
        action: &MachineAction,
        _decision: &app::domain::capacity::MachineDecision,
    ) -> Result<(), ProviderError> {
        self.calls.lock().unwrap().push((
            scheduler.to_string(),
            decision_id.to_string(),
            action.clone(),
        ));
        Ok(())
    }
}

/// A machine of the seed's minimum spec: 3 payloads of the seed's quota.
fn machine(id: &str) -> Machine {
    let spec = MachineSpec {
        os: "linux".into(),
        os_version: "Ubuntu 16.04.7 LTS".into(),
        core_count: 4,
        core_mhz: 3000,
        memory_mb: 16384,
        storage_gb: 500,
        io_bandwidth_mbps: 3000,
        inet_bandwidth_mbps: 100,
    };
    Machine {
        id: id.into(),
        region: "eu".into(),
        kind: MachineKind::Cloud,
        ..Machine::of_spec(&spec)
    }
}

fn report(id: &str, rooms: &[(&str, &str)]) -> MachineReport {
    MachineReport {
        machine: machine(id),
        rooms: rooms
            .iter()
            .map(|(s, r)| (s.to_string(), r.to_string()))
            .collect(),
    }
}

fn scheduler(enable_scaling: bool) -> Scheduler {
    let config: SchedulerConfig = serde_json::from_value(serde_json::json!({
        "name": "arena", "game": "g", "roomsReplicas": 1,
        "portRange": {"start": 20000, "end": 21000},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "game:1", "command": ["./run"],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
        "capacity": {
            "maxCloudMachines": 10, "maxBareMetalMachines": 0,
            "payloadQuota": {"CpuCores": 1, "MemoryMB": 1024, "StorageGB": 50,
                "IOBandwidthMBps": 200, "InetBandwidthMBps": 10},
            "minFreePayloadCapacity": 4, "maxFreePayloadCapacity": 8,
            "safetyLimits": {"CpuRemainingCores": 1, "MemoryMBFree": 2048,
                "StorageGBFree": 100, "IOMBpsFree": 500, "InetMBpsFree": 20},
            "enableScaling": enable_scaling,
            "machineMinSpec": {"OS": "linux", "OSVersion": "Ubuntu 16.04*", "CoreCount": 4,
                "CoreMhz": 3000, "MemoryMB": 16384, "StorageGB": 500,
                "IOBandwidthMBps": 3000, "InetBandwidthMBps": 100}
        }
    }))
    .unwrap();
    Scheduler {
        config,
        state: Default::default(),
        version: "v1".into(),
        created_at: Utc::now(),
    }
}

fn room(id: &str, scheduler: &str, status: RoomStatus) -> GameRoom {
    let at = Utc::now();
    serde_json::from_value(serde_json::json!({
        "id": id, "scheduler": scheduler, "version": "v1",
        "status": serde_json::to_value(status).unwrap(),
        "createdAt": at, "statusChangedAt": at,
    }))
    .unwrap()
}

struct Setup {
    scaler: MachineScaler,
    machines: Arc<FakeMachines>,
    provider: Arc<FakeProvider>,
    rooms: Arc<MemoryRoomStore>,
    decisions: Arc<MemoryMachineDecisionStore>,
}

fn setup(reports: Vec<MachineReport>, extra: Vec<(String, Arc<dyn Machines>)>) -> Setup {
    let machines = Arc::new(FakeMachines {
        reports: Mutex::new(reports),
        ..FakeMachines::default()
    });
    let provider = Arc::new(FakeProvider::default());
    let rooms = Arc::new(MemoryRoomStore::default());
    let decisions = Arc::new(MemoryMachineDecisionStore::default());
    let mut sources: Vec<(String, Arc<dyn Machines>)> =
        vec![("eu".into(), machines.clone() as Arc<dyn Machines>)];
    sources.extend(extra);
    let scaler = MachineScaler::new(
        rooms.clone(),
        Arc::new(MachineSources::new(sources)),
        provider.clone(),
        false,
        decisions.clone(),
        "eu".into(),
        Duration::from_millis(1),
    );
    Setup {
        scaler,
        machines,
        provider,
        rooms,
        decisions,
    }
}

#[tokio::test]
async fn a_scale_up_reaches_the_provider_once() {
    // One empty machine: 3 free payloads, below the minimum of 4.
    let s = setup(vec![report("m1", &[])], vec![]);
    let first = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    assert_eq!(first.outcomes, vec![ActionOutcome::Done]);
    let second = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    assert_eq!(
        second.outcomes,
        vec![ActionOutcome::Waiting {
            decision: first.id.clone()
        }]
    );
    let calls = s.provider.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].1, first.id);
    assert!(matches!(calls[0].2, MachineAction::Add { count: 1, .. }));
    let recorded = s.decisions.decisions("arena", 10).await.unwrap();
    assert_eq!(recorded.len(), 2);
    // Each evaluation is also a sample of the free capacity, with the bounds, oldest first.
    let samples = s
        .decisions
        .samples("arena", chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(
        samples,
        vec![
            CapacitySample::of(first.at, &first.decision.figures),
            CapacitySample::of(second.at, &second.decision.figures)
        ]
    );
    assert_eq!(samples[0].free_payload_capacity, 3);
    assert_eq!(samples[0].min_free_payload_capacity, 4);
    // A new machine showed up: the next shortfall is asked for again.
    s.machines.reports.lock().unwrap().push(report(
        "m2",
        &[("arena", "a"), ("arena", "b"), ("arena", "c")],
    ));
    s.machines.reports.lock().unwrap()[0].rooms.extend([
        ("arena".to_string(), "d".to_string()),
        ("arena".to_string(), "e".to_string()),
    ]);
    let mut busy = machine("m2");
    busy.in_use = app::domain::capacity::Resources {
        millicores: 3000,
        memory_mb: 3072,
        storage_gb: 150,
        io_mbps: 600,
        inet_mbps: 30,
    };
    s.machines.reports.lock().unwrap()[1].machine = busy;
    let third = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    assert_eq!(third.outcomes, vec![ActionOutcome::Done]);
    assert_eq!(s.provider.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn scaling_disabled_acts_on_nothing() {
    let s = setup(vec![report("m1", &[])], vec![]);
    let record = s.scaler.run_once(&scheduler(false)).await.unwrap().unwrap();
    assert!(record.decision.actions.is_empty());
    assert!(s.provider.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_machine_is_released_only_after_it_is_drained() {
    // Five empty machines: 15 free, above the maximum of 8.
    let reports = (1..=5).map(|i| report(&format!("m{i}"), &[])).collect();
    let s = setup(reports, vec![]);
    let first = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    assert!(
        first
            .decision
            .actions
            .iter()
            .all(|a| matches!(a, MachineAction::Drain { .. }))
    );
    assert!(!first.decision.actions.is_empty());
    assert!(first.outcomes.iter().all(|o| *o == ActionOutcome::Done));
    assert!(
        s.provider.calls.lock().unwrap().is_empty(),
        "nothing released yet"
    );
    let drained: Vec<String> = s
        .machines
        .drains
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.0.clone())
        .collect();
    let second = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    let released: Vec<String> = s
        .provider
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, id, a)| match a {
            MachineAction::Release { machine } if *id == second.id => Some(machine.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(released, drained);
}

#[tokio::test]
async fn a_machine_with_a_busy_room_is_never_released() {
    // m1 is draining but still holds another scheduler's occupied room, and this scheduler's
    // claimed room sits on m2: neither goes, though capacity is far above the maximum.
    let mut reports: Vec<MachineReport> = (1..=5).map(|i| report(&format!("m{i}"), &[])).collect();
    reports[0].machine.draining = true;
    reports[0].rooms = vec![("other".into(), "x1".into())];
    reports[1].rooms = vec![("arena".into(), "r1".into())];
    let s = setup(reports, vec![]);
    s.rooms
        .insert(&room("x1", "other", RoomStatus::Occupied))
        .await
        .unwrap();
    s.rooms
        .insert(&room("r1", "arena", RoomStatus::Occupied))
        .await
        .unwrap();
    for _ in 0..3 {
        let record = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
        for (action, outcome) in record.decision.actions.iter().zip(&record.outcomes) {
            if let MachineAction::Release { machine } = action
                && machine == "m1"
            {
                assert!(
                    matches!(outcome, ActionOutcome::Failed { .. }),
                    "{outcome:?}"
                );
            }
        }
    }
    let released: Vec<MachineAction> = s
        .provider
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.2.clone())
        .filter(|a| matches!(a, MachineAction::Release { .. }))
        .collect();
    let drained: Vec<String> = s
        .machines
        .drains
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.0.clone())
        .collect();
    assert!(!drained.contains(&"m2".to_string()), "{drained:?}");
    assert!(
        released
            .iter()
            .all(|a| !matches!(a, MachineAction::Release { machine } if machine == "m1" || machine == "m2")),
        "{released:?}"
    );
}

#[tokio::test]
async fn a_failing_region_is_skipped_and_reported() {
    let down: Arc<dyn Machines> = Arc::new(FakeMachines {
        down: true,
        ..FakeMachines::default()
    });
    let s = setup(vec![report("m1", &[])], vec![("us".into(), down)]);
    let record = s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    assert_eq!(record.machines, vec!["m1".to_string()]);
    assert_eq!(record.skipped_regions.len(), 1);
    assert_eq!(record.skipped_regions[0].region, "us");
}

#[tokio::test]
async fn a_drain_keeps_every_schedulers_busy_rooms() {
    // Far above the maximum; m5 holds an idle room of arena and an occupied room of another
    // scheduler (which holds it back from nothing in arena's count, but must stay).
    let mut reports: Vec<MachineReport> = (1..=5).map(|i| report(&format!("m{i}"), &[])).collect();
    for r in reports.iter_mut() {
        r.rooms = vec![("other".into(), format!("x-{}", r.machine.id))];
    }
    let s = setup(reports, vec![]);
    for i in 1..=5 {
        s.rooms
            .insert(&room(&format!("x-m{i}"), "other", RoomStatus::Occupied))
            .await
            .unwrap();
    }
    s.scaler.run_once(&scheduler(true)).await.unwrap().unwrap();
    let drains = s.machines.drains.lock().unwrap().clone();
    assert!(!drains.is_empty());
    for (machine, busy) in drains {
        assert_eq!(busy, vec![format!("x-{machine}")]);
    }
}

#[tokio::test]
async fn a_deleted_scheduler_forgets_its_decisions_and_starts_afresh() {
    let s = setup(vec![report("m1", &[])], vec![]);
    s.scaler.run_once(&scheduler(false)).await.unwrap().unwrap();
    s.decisions
        .record(&MachineDecisionRecord {
            scheduler: "other".into(),
            ..s.decisions.decisions("arena", 1).await.unwrap().remove(0)
        })
        .await
        .unwrap();
    s.scaler.forget("arena").await.unwrap();
    assert!(s.decisions.decisions("arena", 10).await.unwrap().is_empty());
    let since = chrono::DateTime::UNIX_EPOCH;
    assert!(
        s.decisions
            .samples("arena", since)
            .await
            .unwrap()
            .is_empty()
    );
    // Another scheduler's decisions stay.
    assert_eq!(s.decisions.decisions("other", 10).await.unwrap().len(), 1);
}
