//! The capacity page (`/ui/schedulers/{name}/capacity`) over HTTP, as a browser uses it, and
//! the free-capacity series behind it: machine sources injected through the server's start
//! options (one region that answers), machine scaling every 50 ms (dry run), so evaluations
//! happen while the test watches the series grow, through the JSON API (`?history=`) and the
//! page's server function. The real server, on SQLite, with each room store (the Redis one
//! keeps the decisions and the series in Redis).

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use app::domain::capacity::{Machine, MachineKind, MachineSpec};
use app::domain::user::Role;
use app::ports::{MachineReport, Machines, RuntimeError};
use async_trait::async_trait;
use common::browser::Browser;
use common::{Api, Backend, Reply, TestServer, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::InjectedMachines;

on_room_stores!(the_capacity_page_shows_machines_free_capacity_and_decisions);

struct Fake(Vec<MachineReport>);

#[async_trait]
impl Machines for Fake {
    async fn machines(&self) -> Result<Vec<MachineReport>, RuntimeError> {
        Ok(self.0.clone())
    }

    async fn drain(&self, _machine: &str, _busy: &[String]) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// A machine of the seed's minimum spec (3 payloads of the seed's quota), empty.
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
        kind: MachineKind::BareMetal,
        ..Machine::of_spec(&spec)
    }
}

/// Region `eu`: `m1` empty, `m2` with another scheduler's payload (2 of 3 still fit).
fn sources() -> InjectedMachines {
    let mut used = machine("m2");
    used.in_use = app::domain::capacity::Resources {
        millicores: 1000,
        memory_mb: 1024,
        storage_gb: 50,
        io_mbps: 200,
        inet_mbps: 10,
    };
    let eu: Arc<dyn Machines> = Arc::new(Fake(vec![
        MachineReport {
            machine: machine("m1"),
            rooms: vec![],
        },
        MachineReport {
            machine: used,
            rooms: vec![("someone-else".into(), "room-2".into())],
        },
    ]));
    InjectedMachines(vec![("eu".into(), eu)])
}

/// Scheduler `zeuz` of game `zeuz-game`, no rooms, free capacity kept within 6..8.
fn scheduler() -> Value {
    let mut body = seed("zeuz", "zeuz-game");
    body["roomsReplicas"] = json!(0);
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

fn assert_refused(reply: &Reply, status: StatusCode, kind: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.text);
    let found = match &reply.json {
        Value::String(unit) => unit.as_str(),
        Value::Object(map) => map.keys().next().map_or("", String::as_str),
        _ => "",
    };
    assert_eq!(found, kind, "body: {}", reply.text);
}

/// The API's free-capacity samples of the last hour.
async fn api_history(api: &Api<'_>) -> Vec<Value> {
    let reply = api.get("/schedulers/zeuz/capacity?history=60").await;
    reply.ok()["history"]
        .as_array()
        .cloned()
        .expect("a history when asked for")
}

/// Waits until the API's series holds more than `than` samples; answers it.
async fn history_longer_than(api: &Api<'_>, than: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let history = api_history(api).await;
        if history.len() > than {
            return history;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the series stays at {} samples",
            history.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_capacity_page_shows_machines_free_capacity_and_decisions(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.machine_scaling.injected_machines = sources();
        c.health_tick_ms = 100;
        c.machine_scaling.machine_scaling_period_ms = 50;
    })
    .await;
    let admin = server.admin();
    admin.post("/schedulers", &scheduler()).await.ok();
    admin
        .post("/schedulers", &seed("plain", "zeuz-game"))
        .await
        .ok();
    admin
        .post("/schedulers", &seed("theirs", "other-game"))
        .await
        .ok();
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

    // Without `history` the answer carries none; a window outside a day is refused.
    let plain = admin.get("/schedulers/zeuz/capacity").await;
    assert!(plain.ok().get("history").is_none(), "{}", plain.text);
    for bad in ["0", "1441", "x"] {
        let reply = admin
            .get(&format!("/schedulers/zeuz/capacity?history={bad}"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text
        );
    }

    // The OpenAPI document names the parameter and the sample's shape.
    let document = server.anonymous().get("/openapi.json").await;
    let document = document.ok();
    let parameters = document["paths"]["/schedulers/{name}/capacity"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    assert!(
        parameters.iter().any(|p| p["name"] == "history"),
        "{parameters:?}"
    );
    let sample = &document["components"]["schemas"]["CapacitySample"]["properties"];
    for field in [
        "at",
        "freePayloadCapacity",
        "minFreePayloadCapacity",
        "maxFreePayloadCapacity",
    ] {
        assert!(sample.get(field).is_some(), "{field} in {sample}");
    }

    // Each evaluation adds a sample with the free capacity it saw and the bounds.
    let first = history_longer_than(&admin, 0).await;
    let sample = &first[0];
    assert_eq!(sample["freePayloadCapacity"], 5, "{sample}");
    assert_eq!(sample["minFreePayloadCapacity"], 6, "{sample}");
    assert_eq!(sample["maxFreePayloadCapacity"], 8, "{sample}");
    let grown = history_longer_than(&admin, first.len() + 2).await;
    let times: Vec<chrono::DateTime<chrono::Utc>> = grown
        .iter()
        .map(|s| serde_json::from_value(s["at"].clone()).expect("a time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");

    // A reader of the game: the page, rendered on the server, with the machines' bars, the
    // chart and the decisions.
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password-1").await;
    let page = viewer.get("/ui/schedulers/zeuz/capacity").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        r#"data-region="eu""#,
        r#"data-machine="m1""#,
        r#"data-machine="m2""#,
        r#"aria-label="m1: 0 payloads (0 busy), 3 free of 3""#,
        r#"aria-label="m2: 0 payloads (0 busy), 2 free of 3""#,
        r#"data-part="other" data-count="1""#,
        r#"data-free-payload-capacity="5""#,
        "Free payload capacity over time",
        "series-min-free",
        "series-max-free",
        "add 1 bare-metal: dry run",
        "5 free payloads, below min 6",
    ] {
        assert!(page.text.contains(needle), "{needle} in {}", page.text);
    }
    // A browser that opens the API path lands on the page.
    let request = viewer
        .client
        .get(server.url("/schedulers/zeuz/capacity"))
        .header("accept", "text/html");
    let redirected = viewer.send(request).await;
    assert_eq!(redirected.status, StatusCode::SEE_OTHER);
    assert_eq!(
        redirected.headers[reqwest::header::LOCATION],
        "/ui/schedulers/zeuz/capacity"
    );
    // The scheduler page links to it; a scheduler without a capacity section has no link.
    let scheduler_page = viewer.get("/ui/schedulers/zeuz").await;
    assert!(
        scheduler_page
            .text
            .contains(r#"href="/ui/schedulers/zeuz/capacity""#),
        "{}",
        scheduler_page.text
    );
    let plain_page = viewer.get("/ui/schedulers/plain").await;
    assert!(
        !plain_page.text.contains("/capacity\""),
        "{}",
        plain_page.text
    );

    // Its server function: the machines, the decisions, and a series that keeps growing.
    let call = |minutes: &'static str| [("name", "zeuz"), ("minutes", minutes)];
    let data = viewer.call("capacity_page_data", &call("60")).await;
    let data = data.ok().clone();
    let machines: Vec<&str> = data["panel"]["machines"]
        .as_array()
        .expect("machines")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(machines, ["m1", "m2"]);
    assert!(
        !data["panel"]["decisions"]
            .as_array()
            .expect("decisions")
            .is_empty()
    );
    let before = data["history"].as_array().expect("history").len();
    assert!(before >= grown.len(), "{before} < {}", grown.len());
    assert_eq!(data["history"][0]["free"], 5);
    assert_eq!(data["history"][0]["min_free"], 6);
    assert_eq!(data["history"][0]["max_free"], 8);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let again = viewer.call("capacity_page_data", &call("60")).await;
        let after = again.ok()["history"].as_array().expect("history").len();
        if after > before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page's series stays at {after}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let odd = viewer.call("capacity_page_data", &call("7")).await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.text);

    // Without a capacity section there is no capacity to show.
    let none = viewer
        .call(
            "capacity_page_data",
            &[("name", "plain"), ("minutes", "60")],
        )
        .await;
    assert_refused(&none, StatusCode::NOT_FOUND, "NotFound");

    // Another game's user learns nothing: the server function answers 404 (as for a scheduler
    // that does not exist), the page shows no machine, and the API answers 404 too.
    let mut stranger = Browser::signed_in(&server, "stranger", "stranger-password-1").await;
    let refused = stranger.call("capacity_page_data", &call("60")).await;
    assert_refused(&refused, StatusCode::NOT_FOUND, "NotFound");
    let page = stranger.get("/ui/schedulers/zeuz/capacity").await;
    assert!(!page.text.contains("data-machine="), "{}", page.text);
    server
        .user("stranger", "stranger-password-1")
        .get("/schedulers/zeuz/capacity?history=60")
        .await
        .expect(StatusCode::NOT_FOUND);
    let anonymous = Browser::new(&server)
        .call("capacity_page_data", &call("60"))
        .await;
    assert_refused(&anonymous, StatusCode::UNAUTHORIZED, "Unauthenticated");
}
