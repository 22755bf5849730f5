//! Regions end to end: two local runtimes in two regions (a runtimes file written by the test,
//! one rooms dir each), one scheduler over both, with the example game room.

mod common;

use std::time::Duration;

use common::rooms::{example_room, ids_with_status, processes_with, wait_for};
use common::{Backend, TestServer, use_runtimes_file};
use serde_json::{Value, json};

const RUNTIMES: &str = r#"
default = "eu"
[[runtime]]
name = "eu"
region = "eu-west"
kind = "local"
[[runtime]]
name = "us"
region = "us-east"
kind = "local"
"#;

fn in_region<'a>(rooms: &'a [Value], region: &str) -> Vec<&'a Value> {
    rooms.iter().filter(|r| r["region"] == region).collect()
}

fn region<'a>(regions: &'a Value, name: &str) -> &'a Value {
    regions
        .as_array()
        .and_then(|all| all.iter().find(|r| r["region"] == name))
        .unwrap_or_else(|| panic!("no region {name} in {regions}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_over_two_local_regions_gets_its_rooms_split_between_them() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        use_runtimes_file(config, RUNTIMES);
    })
    .await;
    let admin = server.admin();
    let name = "two-regions";
    let body = json!({
        "name": name, "game": "regions", "roomsReplicas": 4, "maxSurge": "100%",
        "regions": ["eu-west", {"name": "us-east", "weight": 1}],
        "portRange": {"start": 43000, "end": 43100},
        "roomTimeouts": {"ping": "5s", "initialization": "20s", "termination": "5s"},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
            "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    let created = admin.post("/schedulers", &body).await;
    assert_eq!(
        created.ok()["scheduler"]["regions"],
        json!([{"name": "eu-west", "weight": 1}, {"name": "us-east", "weight": 1}])
    );

    let rooms = wait_for(
        &server,
        name,
        "4 ready rooms, 2 per region",
        Duration::from_secs(40),
        |rooms| {
            ids_with_status(rooms, "ready").len() == 4
                && rooms.len() == 4
                && in_region(rooms, "eu-west").len() == 2
                && in_region(rooms, "us-east").len() == 2
        },
    )
    .await;

    // Each room runs on its region's runtime: its process works in that runtime's rooms dir.
    for (region, dir) in [("eu-west", "eu"), ("us-east", "us")] {
        let root = server
            .config
            .local_rooms_dir
            .join(dir)
            .canonicalize()
            .unwrap();
        for room in in_region(&rooms, region) {
            let id = room["id"].as_str().unwrap();
            let pids = processes_with("MAESTRO_ROOM_ID", id);
            assert_eq!(pids.len(), 1, "one process for room {id}");
            let cwd = std::fs::read_link(format!("/proc/{}/cwd", pids[0])).unwrap();
            assert!(cwd.starts_with(&root), "{id} of {region} runs in {cwd:?}");
        }
    }

    // The rooms list filters by region.
    let eu = admin
        .get(&format!("/schedulers/{name}/rooms?region=eu-west"))
        .await;
    let eu = eu.ok()["rooms"].as_array().unwrap().clone();
    assert_eq!(eu.len(), 2);
    assert!(eu.iter().all(|r| r["region"] == "eu-west"));
    let none = admin
        .get(&format!("/schedulers/{name}/rooms?region=mars"))
        .await;
    assert_eq!(none.ok()["rooms"], json!([]));

    // Info (Maestro's fields kept) and the regions resource count rooms per region.
    let info = admin.get("/schedulers/info?game=regions").await;
    let info = &info.ok()["schedulers"][0];
    assert_eq!(info["roomsReady"], 4);
    for name in ["eu-west", "us-east"] {
        let counted = region(&info["regions"], name);
        assert_eq!(counted["rooms"]["ready"], 2, "{info}");
        assert_eq!(counted["reachable"], true);
    }
    let regions = admin.get(&format!("/schedulers/{name}/regions")).await;
    let regions = &regions.ok()["regions"];
    for name in ["eu-west", "us-east"] {
        let seen = region(regions, name);
        assert_eq!(
            (&seen["listed"], &seen["reachable"], &seen["desired"]),
            (&json!(true), &json!(true), &json!(2)),
            "{regions}"
        );
    }

    // A region no runtime serves is refused, with the field and the known regions.
    let mut mars = body.clone();
    mars["name"] = json!("mars");
    mars["regions"] = json!(["eu-west", "mars"]);
    let refused = admin.post("/schedulers", &mars).await;
    refused.expect_invalid(&["regions[1].name"]);
    let message = refused.json["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("eu-west") && message.contains("us-east"),
        "{message}"
    );
    let changed = admin
        .patch(
            &format!("/schedulers/{name}"),
            &json!({"regions": ["mars"]}),
        )
        .await;
    changed.expect_invalid(&["regions[0].name"]);

    // Deleting the scheduler stops its rooms on both runtimes.
    admin.delete(&format!("/schedulers/{name}")).await.ok();
    for room in &rooms {
        let id = room["id"].as_str().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !processes_with("MAESTRO_ROOM_ID", id).is_empty()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            processes_with("MAESTRO_ROOM_ID", id).is_empty(),
            "{id} stopped"
        );
    }
}

#[tokio::test]
async fn a_bad_runtimes_file_stops_the_start_with_its_line_and_field() {
    let dir = std::env::temp_dir().join(format!("baton-regions-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("runtimes.toml");
    std::fs::write(
        &file,
        "[[runtime]]\nname = \"a\"\nregion = \"eu\"\nkind = \"local\"\n\
         [[runtime]]\nname = \"b\"\nregion = \"eu\"\nkind = \"local\"\n",
    )
    .unwrap();
    use clap::Parser;
    let mut config = server::config::Config::try_parse_from(["baton"]).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database_url = format!("sqlite://{}?mode=rwc", dir.join("b.db").display());
    config.local_rooms_dir = dir.join("rooms");
    config.admin_password = Some("x".into());
    config.runtimes = Some(file);
    let err = match server::startup::start(config).await {
        Ok(_) => panic!("a region with two runtimes must not start"),
        Err(err) => err.to_string(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        err.contains("line 7") && err.contains("runtime[1].region"),
        "{err}"
    );
}

/// Allocation across two local regions: the preferred region's rooms first, then the next
/// region's once it has none free, each answer naming the room's region; all claimed, 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_prefers_regions_in_order_and_falls_through() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        use_runtimes_file(config, RUNTIMES);
    })
    .await;
    let admin = server.admin();
    let name = "prefer";
    admin
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": "regions", "roomsReplicas": 4, "maxSurge": "100%",
                "regions": ["eu-west", "us-east"],
                "portRange": {"start": 43200, "end": 43300},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
                    "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    let rooms = wait_for(
        &server,
        name,
        "4 ready rooms with an address, 2 per region",
        Duration::from_secs(40),
        |rooms| {
            rooms
                .iter()
                .filter(|r| r["status"] == "ready" && r["address"]["host"].is_string())
                .count()
                == 4
                && rooms.len() == 4
                && in_region(rooms, "us-east").len() == 2
        },
    )
    .await;
    let region_of = |id: &str| {
        rooms
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["region"].clone())
            .unwrap_or_else(|| panic!("no room {id}"))
    };
    let allocations = format!("/schedulers/{name}/allocations");
    let prefer = json!({"selector": {"regions": ["us-east", "eu-west"]}, "ttl": 600});
    let mut got = Vec::new();
    for _ in 0..4 {
        let answer = admin.post(&allocations, &prefer).await;
        let answer = answer.expect(axum::http::StatusCode::CREATED);
        let id = answer["roomId"].as_str().unwrap().to_string();
        assert_eq!(answer["region"], region_of(&id), "{answer}");
        assert!(answer["host"].as_str().is_some_and(|h| !h.is_empty()));
        got.push((answer["region"].as_str().unwrap().to_string(), id));
    }
    let regions: Vec<&str> = got.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(regions, ["us-east", "us-east", "eu-west", "eu-west"]);
    let mut ids: Vec<&String> = got.iter().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each room once: {got:?}");
    admin
        .post(&allocations, &prefer)
        .await
        .expect_error(axum::http::StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    admin.delete(&format!("/schedulers/{name}")).await.ok();
}
