//! `GET /schedulers/{name}/capacity` and machine scaling over the API, black box, with machine
//! sources injected through the server's start options (a fake region that answers and one
//! that fails).

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use app::domain::capacity::{Machine, MachineKind, MachineSpec};
use app::domain::user::Role;
use app::ports::{MachineReport, Machines, RuntimeError};
use async_trait::async_trait;
use common::{Backend, TestServer, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::InjectedMachines;

on_room_stores!(
    the_capacity_shows_machines_payloads_and_bounds,
    the_capacity_follows_the_scheduler_rights,
    decisions_are_made_recorded_and_shown,
);

struct Fake {
    reports: Vec<MachineReport>,
    down: bool,
}

#[async_trait]
impl Machines for Fake {
    async fn machines(&self) -> Result<Vec<MachineReport>, RuntimeError> {
        if self.down {
            return Err(RuntimeError::Unavailable("source down".into()));
        }
        Ok(self.reports.clone())
    }

    async fn drain(&self, _machine: &str, _busy: &[String]) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// A machine of the seed's minimum spec (3 payloads of the seed's quota), empty.
fn machine(id: &str, region: &str) -> Machine {
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
        region: region.into(),
        kind: MachineKind::BareMetal,
        ..Machine::of_spec(&spec)
    }
}

fn sources() -> InjectedMachines {
    let mut used = machine("m2", "eu");
    // One payload of the seed's quota in use: 2 of 3 still fit.
    used.in_use = app::domain::capacity::Resources {
        millicores: 1000,
        memory_mb: 1024,
        storage_gb: 50,
        io_mbps: 200,
        inet_mbps: 10,
    };
    let eu: Arc<dyn Machines> = Arc::new(Fake {
        reports: vec![
            MachineReport {
                machine: machine("m1", "eu"),
                rooms: vec![],
            },
            MachineReport {
                machine: used,
                rooms: vec![
                    ("zeuz".into(), "room-1".into()),
                    ("someone-else".into(), "room-2".into()),
                ],
            },
        ],
        down: false,
    });
    let us: Arc<dyn Machines> = Arc::new(Fake {
        reports: vec![],
        down: true,
    });
    InjectedMachines(vec![("eu".into(), eu), ("us".into(), us)])
}

fn scheduler(replicas: i64) -> Value {
    let mut body = seed("zeuz", "zeuz-game");
    body["roomsReplicas"] = json!(replicas);
    body["capacity"] = json!({
        "MaxCloudMachines": 3, "MaxBareMetalMachines": 5,
        "PayloadQuota": {"CpuCores": 1, "MemoryMB": 1024, "StorageGB": 50,
            "IOBandwidthMBps": 200, "InetBandwidthMBps": 10},
        "MinFreePayloadCapacity": 6, "MaxFreePayloadCapacity": 8,
        "SafetyLimits": {"CpuRemainingCores": 1, "MemoryMBFree": 2048, "StorageGBFree": 100,
            "IOMBpsFree": 500, "InetMBpsFree": 20},
        "EnableScaling": true,
        "MachineMinSpec": {"OS": "linux", "OSVersion": "Ubuntu 16.04*", "CoreCount": 4,
            "CoreMhz": 3000, "MemoryMB": 16384, "StorageGB": 500,
            "IOBandwidthMBps": 3000, "InetBandwidthMBps": 100}
    });
    body
}

async fn the_capacity_shows_machines_payloads_and_bounds(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.machine_scaling.injected_machines = sources();
    })
    .await;
    let admin = server.admin();
    admin.post("/schedulers", &scheduler(1)).await.ok();
    let reply = admin.get("/schedulers/zeuz/capacity").await;
    let view = reply.ok();
    assert_eq!(view["scheduler"], "zeuz");
    let machines = view["machines"].as_array().expect("machines");
    assert_eq!(machines.len(), 2);
    assert_eq!(machines[0]["id"], "m1");
    assert_eq!(machines[0]["payloads"], 0);
    assert_eq!(machines[0]["payloadCapacity"], 3);
    assert_eq!(machines[0]["freePayloadCapacity"], 3);
    assert_eq!(machines[1]["id"], "m2");
    assert_eq!(machines[1]["payloads"], 1, "only this scheduler's rooms");
    assert_eq!(machines[1]["busyPayloads"], 0);
    assert_eq!(machines[1]["freePayloadCapacity"], 2);
    assert_eq!(machines[1]["meetsMinSpec"], true);
    assert_eq!(view["freePayloadCapacity"], 5);
    assert_eq!(view["freePayloadCapacityByRegion"], json!({"eu": 5}));
    assert_eq!(view["minFreePayloadCapacity"], 6);
    assert_eq!(view["maxFreePayloadCapacity"], 8);
    assert_eq!(view["maxBareMetalMachines"], 5);
    assert_eq!(view["maxCloudMachines"], 3);
    assert_eq!(view["skippedRegions"][0]["region"], "us");
    assert_eq!(view["decisions"], json!([]));

    // A scheduler without a capacity section has none to show.
    admin
        .post("/schedulers", &seed("plain", "zeuz-game"))
        .await
        .ok();
    admin
        .get("/schedulers/plain/capacity")
        .await
        .expect(StatusCode::NOT_FOUND);
    admin
        .get("/schedulers/missing/capacity")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn the_capacity_follows_the_scheduler_rights(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.machine_scaling.injected_machines = sources();
    })
    .await;
    server.admin().post("/schedulers", &scheduler(1)).await.ok();
    server
        .anonymous()
        .get("/schedulers/zeuz/capacity")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    server
        .create_user("viewer", "viewer-password-1", Role::Viewer, &["zeuz-game"])
        .await;
    server
        .create_user(
            "stranger",
            "stranger-password-1",
            Role::Viewer,
            &["other-game"],
        )
        .await;
    server
        .user("viewer", "viewer-password-1")
        .get("/schedulers/zeuz/capacity")
        .await
        .ok();
    server
        .user("stranger", "stranger-password-1")
        .get("/schedulers/zeuz/capacity")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn decisions_are_made_recorded_and_shown(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.machine_scaling.injected_machines = sources();
        c.health_tick_ms = 100;
        c.machine_scaling.machine_scaling_period_ms = 50;
    })
    .await;
    let admin = server.admin();
    admin.post("/schedulers", &scheduler(0)).await.ok();
    // 5 free payloads, below the minimum of 6: one bare-metal machine is asked for, but the
    // provider is the dry run (the default), so it is only recorded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let decision = loop {
        let view = admin.get("/schedulers/zeuz/capacity?decisions=5").await;
        if let Some(first) = view.ok()["decisions"].as_array().and_then(|d| d.first()) {
            break first.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no decision recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(decision["scheduler"], "zeuz");
    assert_eq!(decision["decision"]["reason"], "belowMinFree");
    assert_eq!(
        decision["decision"]["actions"],
        json!([{"action": "add", "kind": "bare-metal", "count": 1, "region": null}])
    );
    assert_eq!(decision["outcomes"], json!([{"outcome": "dryRun"}]));
    assert_eq!(decision["machines"], json!(["m1", "m2"]));
    assert_eq!(decision["skippedRegions"][0]["region"], "us");

    // Deleted, the scheduler's decisions are forgotten: created again under the same name,
    // it shows none from before.
    admin.delete("/schedulers/zeuz").await.ok();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while admin.get("/schedulers/zeuz").await.status != StatusCode::NOT_FOUND {
        assert!(tokio::time::Instant::now() < deadline, "not deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deleted_at = chrono::Utc::now();
    admin.post("/schedulers", &scheduler(0)).await.ok();
    let view = admin.get("/schedulers/zeuz/capacity?decisions=200").await;
    for decision in view.ok()["decisions"].as_array().unwrap() {
        let at: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(decision["at"].clone()).unwrap();
        assert!(
            at >= deleted_at,
            "a decision from before the deletion: {decision}"
        );
    }
}
