//! A region down from the start, end to end: a local region and a Kubernetes region whose
//! kubeconfig (written here, `KUBECONFIG`) points at an address where nothing listens. Baton
//! starts, the local region gets every room, the outage shows on `GET /schedulers/{name}/regions`
//! and the local rooms are left alone. Its own test binary: it sets `KUBECONFIG`.

mod common;

use std::time::Duration;

use common::rooms::{example_room, wait_for};
use common::{Backend, TestServer, use_runtimes_file};
use serde_json::{Value, json};

const RUNTIMES: &str = r#"
default = "here"
[[runtime]]
name = "here"
region = "local-1"
kind = "local"
[[runtime]]
name = "cluster"
region = "k8s-1"
kind = "kubernetes"
context = "gone"
"#;

/// A kubeconfig whose context `gone` names an API server on a port nothing listens on.
fn dead_kubeconfig() -> std::path::PathBuf {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n\
         clusters:\n- name: gone\n  cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}\n\
         users:\n- name: someone\n  user: {{token: abc}}\n\
         contexts:\n- name: gone\n  context: {{cluster: gone, user: someone, namespace: default}}\n"
    );
    let file = std::env::temp_dir().join(format!("baton-kubeconfig-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, text).unwrap();
    file
}

fn region<'a>(regions: &'a Value, name: &str) -> &'a Value {
    regions
        .as_array()
        .and_then(|all| all.iter().find(|r| r["region"] == name))
        .unwrap_or_else(|| panic!("no region {name} in {regions}"))
}

#[test]
fn a_region_unreachable_from_the_start_leaves_the_others_serving() {
    let kubeconfig = dead_kubeconfig();
    // SAFETY: set before any thread of this test binary starts (one test in this file, and the
    // runtime is built below).
    unsafe { std::env::set_var("KUBECONFIG", &kubeconfig) };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            outage().await;
            a_context_the_kubeconfig_lacks_stops_the_start().await;
        });
    let _ = std::fs::remove_file(kubeconfig);
}

async fn outage() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        use_runtimes_file(config, RUNTIMES);
    })
    .await;
    let admin = server.admin();
    let name = "outage";
    admin
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": "outage", "roomsReplicas": 2, "maxSurge": "100%",
                "regions": ["local-1", "k8s-1"],
                "portRange": {"start": 43400, "end": 43500},
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
        "both rooms ready in the local region",
        Duration::from_secs(60),
        |rooms| {
            rooms.len() == 2
                && rooms
                    .iter()
                    .all(|r| r["status"] == "ready" && r["region"] == "local-1")
        },
    )
    .await;
    let mut ids: Vec<&str> = rooms.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();

    // The controller stores the outage once its check of the cluster gave up (retries).
    let mut regions = Value::Null;
    for _ in 0..100 {
        let seen = admin.get(&format!("/schedulers/{name}/regions")).await;
        regions = seen.ok()["regions"].clone();
        if region(&regions, "k8s-1")["reachable"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let regions = &regions;
    let down = region(regions, "k8s-1");
    assert_eq!(
        (&down["listed"], &down["reachable"], &down["desired"]),
        (&json!(true), &json!(false), &json!(0)),
        "{regions}"
    );
    let error = down["lastError"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the outage says why: {regions}");
    let up = region(regions, "local-1");
    assert_eq!(
        (&up["reachable"], &up["desired"], &up["rooms"]["ready"]),
        (&json!(true), &json!(2), &json!(2)),
        "{regions}"
    );

    // Info still answers, with the outage.
    let info = admin.get("/schedulers/info?game=outage").await;
    let info = &info.ok()["schedulers"][0];
    assert_eq!(info["roomsReady"], 2, "{info}");
    assert_eq!(region(&info["regions"], "k8s-1")["reachable"], false);

    // Ticks go on (and keep failing for the cluster): the local rooms are left as they are.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = common::rooms::rooms(&server, name).await;
    let mut again: Vec<&str> = later.iter().map(|r| r["id"].as_str().unwrap()).collect();
    again.sort();
    assert_eq!(again, ids);
    assert!(later.iter().all(|r| r["status"] == "ready"), "{later:?}");
    let allocated = admin
        .post(
            &format!("/schedulers/{name}/allocations"),
            &json!({"selector": {"regions": ["k8s-1", "local-1"]}}),
        )
        .await;
    assert_eq!(
        allocated.expect(axum::http::StatusCode::CREATED)["region"],
        "local-1"
    );
}

/// A context the kubeconfig does not have is a configuration error: the start stops, naming it.
async fn a_context_the_kubeconfig_lacks_stops_the_start() {
    let dir = std::env::temp_dir().join(format!("baton-outage-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("runtimes.toml");
    std::fs::write(
        &file,
        RUNTIMES.replace("context = \"gone\"", "context = \"nowhere\""),
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
        Ok(_) => panic!("a context the kubeconfig lacks must not start"),
        Err(err) => err.to_string(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("nowhere"), "{err}");
}
