//! Observability, black box: `/metrics` (what it counts, who may read it, where it is served),
//! `/healthz` and `/readyz`, the request id, and JSON log lines from the server binary.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::user::Role;
use axum::http::StatusCode;
use common::rooms::{example_room, rooms, wait_for};
use common::{ADMIN_PASSWORD, Backend, RedisKeys, TestDb, TestServer, seed};
use serde_json::{Value, json};
use tokio::task::AbortHandle;

const PING_ROUTE: &str = "/scheduler/{scheduler}/rooms/{room}/ping";

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(parts) => parts,
            None => continue,
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if all {
            *found.get_or_insert(0.0) += value.parse::<f64>().expect("a sample value");
        }
    }
    found
}

async fn scrape(server: &TestServer) -> String {
    let reply = server.admin().get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.text
}

async fn ping_ghost(server: &TestServer, times: usize) -> u16 {
    let mut statuses = Vec::new();
    for _ in 0..times {
        let reply = server
            .anonymous()
            .put(
                "/scheduler/obs/rooms/obs-secret-room-id/ping",
                &json!({"status": "ready", "timestamp": 1}),
            )
            .await;
        statuses.push(reply.status.as_u16());
    }
    statuses.dedup();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    statuses[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_never_name_a_room() {
    let server = TestServer::start(Backend::Sqlite).await;
    server
        .admin()
        .post("/schedulers", &seed("obs", "obs-game"))
        .await
        .ok();

    let status = ping_ghost(&server, 5).await;
    let ping = |text: &str| {
        sample(
            text,
            "baton_http_requests_total",
            &[
                ("method", "PUT"),
                ("route", PING_ROUTE),
                ("status", &status.to_string()),
            ],
        )
    };
    let before = scrape(&server).await;
    assert_eq!(ping(&before), Some(5.0), "{before}");
    ping_ghost(&server, 3).await;
    let text = scrape(&server).await;
    assert_eq!(ping(&text), Some(8.0), "{text}");
    let latencies = sample(
        &text,
        "baton_http_request_duration_seconds_count",
        &[("route", PING_ROUTE)],
    );
    assert_eq!(latencies, Some(8.0), "{text}");

    // No room is free: Baton's allocation answers 409, counted under its route.
    server
        .admin()
        .post("/schedulers/obs/allocations", &json!({}))
        .await
        .expect(StatusCode::CONFLICT);
    let text = scrape(&server).await;
    let allocations = |text: &str, status: &str| {
        sample(
            text,
            "baton_http_requests_total",
            &[
                ("route", "/schedulers/{name}/allocations"),
                ("status", status),
            ],
        )
    };
    assert_eq!(allocations(&text, "409"), Some(1.0), "{text}");
    assert_eq!(allocations(&text, "201"), None, "{text}");
    assert_eq!(
        sample(
            &text,
            "baton_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/schedulers"),
                ("status", "200")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    // The creation ran as an operation (the client waited for it).
    assert_eq!(
        sample(
            &text,
            "baton_worker_operation_execution_latency_count",
            &[
                ("scheduler", "obs"),
                ("operation", "create_scheduler"),
                ("status", "finished"),
                ("success", "true")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("obs-secret-room-id"), "{text}");
    assert!(!text.contains("/scheduler/obs/rooms"), "{text}");
    assert!(text.contains("# TYPE baton_http_request_duration_seconds histogram"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_main_port_need_an_admin_or_the_token() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.observability.metrics_token = Some("scrape-secret".into());
    })
    .await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &[])
        .await;
    server.anonymous().get("/healthz").await;
    let client = reqwest::Client::new();
    let get = |auth: Option<&'static str>| {
        let mut request = client.get(server.url("/metrics"));
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        async move { request.send().await.expect("an answer") }
    };
    let with_token = get(Some("Bearer scrape-secret")).await;
    assert_eq!(with_token.status(), 200);
    assert!(
        with_token.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        with_token
            .text()
            .await
            .unwrap()
            .contains("baton_http_requests_total")
    );
    assert_eq!(get(Some("Bearer wrong")).await.status(), 401);
    assert_eq!(get(None).await.status(), 401);
    let viewer = server
        .user("viewer", "viewer-password")
        .get("/metrics")
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    assert_eq!(server.admin().get("/metrics").await.status, StatusCode::OK);
    assert_eq!(
        server.anonymous().get("/metrics").await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listen_serves_them_apart_and_not_on_the_main_port() {
    let port = free_port();
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.observability.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    })
    .await;
    server.admin().get("/schedulers").await.ok();
    let main = server.admin().get("/metrics").await;
    assert_ne!(main.status, StatusCode::OK);
    assert!(!main.text.contains("baton_http_requests_total"));
    let internal = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the internal listener answers");
    assert_eq!(internal.status(), 200);
    let text = internal.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            "baton_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/schedulers"),
                ("status", "200")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    let healthz = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let id_of = |value: Option<&'static str>| {
        let mut request = client.get(server.url("/healthz"));
        if let Some(value) = value {
            request = request.header("x-request-id", value);
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(id_of(Some("lb-7f3a.2:x_y")).await, "lb-7f3a.2:x_y");
    let made = id_of(None).await;
    assert_eq!(made.len(), 32, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    assert_ne!(id_of(None).await, made);
    // Not sane (spaces, too long): replaced.
    let replaced = id_of(Some("has spaces in it")).await;
    assert_eq!(replaced.len(), 32, "{replaced}");
    let long: &'static str = Box::leak("a".repeat(129).into_boxed_str());
    assert_eq!(id_of(Some(long)).await.len(), 32);
    // API answers carry one too, errors included.
    let reply = server.anonymous().get("/schedulers").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.headers.contains_key("x-request-id"));
}

/// A TCP proxy to the test Redis that can be stopped: then nothing listens on its port.
struct RedisProxy {
    url: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl RedisProxy {
    async fn start(target: &str) -> Self {
        let target = target
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let registry = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let copy = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry.lock().unwrap().push(copy.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Self { url, tasks }
    }

    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_without_credentials_and_readyz_names_what_failed() {
    let proxy = RedisProxy::start(&common::redis_url()).await;
    let proxy_url = proxy.url.clone();
    let server = TestServer::start_with(Backend::Redis, move |config| {
        config.redis_url = Some(proxy_url);
    })
    .await;
    let healthz = server.anonymous().get("/healthz").await;
    assert_eq!(healthz.status, StatusCode::OK);
    assert_eq!(healthz.json, json!({"status": "ok"}));
    let ready = server.anonymous().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(
        ready.json["checks"],
        json!({"database": "ok", "redis": "ok"})
    );

    proxy.stop();
    let started = Instant::now();
    let unready = server.anonymous().get("/readyz").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        unready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        unready.text
    );
    assert_eq!(
        unready.json,
        json!({"status": "unavailable", "checks": {"database": "ok", "redis": "failed"}, "failed": ["redis"]})
    );
    // Documented, without credentials for the probes.
    let document = server.anonymous().get("/openapi.json").await.json;
    assert_eq!(
        document["paths"]["/healthz"]["get"]["security"],
        json!([{}]),
        "{document}"
    );
    assert!(document["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
    assert!(document["paths"]["/metrics"]["get"]["responses"]["401"].is_object());
    // The process itself is fine.
    assert_eq!(
        server.anonymous().get("/healthz").await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_gauges_follow_the_rooms_and_runtime_calls_are_counted() {
    let server =
        TestServer::start_with(Backend::Sqlite, |config| config.health_tick_ms = 200).await;
    let name = "obs-live";
    server
        .admin()
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": "obs-game", "roomsReplicas": 2, "maxSurge": "100%",
                "portRange": {"start": 48700, "end": 48799},
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": [example_room().to_string_lossy()],
                    "environment": [{"name": "EXAMPLE_PING_SECONDS", "value": "0.3"}],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    wait_for(
        &server,
        name,
        "two ready rooms",
        Duration::from_secs(30),
        |rooms| rooms.iter().filter(|r| r["status"] == "ready").count() == 2,
    )
    .await;
    server
        .admin()
        .post(&format!("/schedulers/{name}/allocations"), &json!({}))
        .await
        .expect(StatusCode::CREATED);

    // The gauges show what the last tick saw: wait until they agree with the rooms list.
    let started = Instant::now();
    let (text, listed) = loop {
        let listed = rooms(&server, name).await;
        let text = scrape(&server).await;
        let agree = [
            "pending",
            "unready",
            "ready",
            "occupied",
            "terminating",
            "error",
        ]
        .iter()
        .all(|status| {
            let in_list = listed.iter().filter(|r| r["status"] == *status).count() as f64;
            let gauge = sample(
                &text,
                "baton_rooms",
                &[
                    ("game", "obs-game"),
                    ("scheduler", name),
                    ("region", "default"),
                    ("status", status),
                ],
            )
            .unwrap_or(0.0);
            let maestro = sample(
                &text,
                &format!("baton_worker_gru_{status}"),
                &[("game", "obs-game"), ("scheduler", name)],
            );
            gauge == in_list && maestro == Some(in_list)
        });
        if agree {
            break (text, listed);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the gauges never matched {listed:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let scheduler = [("game", "obs-game"), ("scheduler", name)];
    assert_eq!(
        sample(&text, "baton_worker_desired_rooms", &scheduler),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "baton_worker_current_rooms", &scheduler),
        Some(listed.len() as f64)
    );
    assert_eq!(
        sample(&text, "baton_rooms", &scheduler),
        Some(listed.len() as f64)
    );
    for room in &listed {
        let id = room["id"].as_str().unwrap();
        assert!(!text.contains(id), "room id {id} in the metrics:\n{text}");
    }
    assert!(
        sample(
            &text,
            "baton_runtime_calls_total",
            &[("call", "create_instance"), ("outcome", "ok")]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "baton_runtime_calls_total",
            &[("call", "instances"), ("outcome", "ok")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "baton_worker_health_actions_total",
            &[("scheduler", name), ("action", "create")]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "baton_worker_health_tick_duration_seconds_count",
            &[("outcome", "ok")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // The rooms' own pings, and the allocation, by route and status.
    assert!(
        sample(
            &text,
            "baton_http_requests_total",
            &[("route", PING_ROUTE), ("status", "200")]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "baton_http_requests_total",
            &[
                ("route", "/schedulers/{name}/allocations"),
                ("status", "201")
            ]
        ),
        Some(1.0)
    );
    server.admin().delete(&format!("/schedulers/{name}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_json_lines_with_the_request_id() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let rooms_dir = std::env::temp_dir().join(format!(
        "baton-test-rooms-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &db.url])
        .args(["--admin-password", ADMIN_PASSWORD])
        .arg("--local-rooms-dir")
        .arg(&rooms_dir)
        .args(["--health-tick-ms", "3600000"])
        .args(["--site-root", "target/site"])
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info,server::observability=debug")
        .env_remove("BATON_REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = client
        .get(format!("{base}/schedulers"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("x-request-id", "json-log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let mut lines: Vec<String> = Vec::new();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        lines.extend(BufReader::new(stream).lines().map_while(Result::ok));
    }
    let _ = std::fs::remove_dir_all(&rooms_dir);
    let logs: Vec<Value> = lines
        .iter()
        .filter(|line| !line.starts_with("Baton is listening on"))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["fields"]["message"] == "starting baton" && l["level"] == "INFO"),
        "{lines:#?}"
    );
    let answered = logs
        .iter()
        .find(|l| l["span"]["request_id"] == "json-log-test-1")
        .unwrap_or_else(|| panic!("no line names the request id: {lines:#?}"));
    assert_eq!(answered["fields"]["message"], "answered");
    assert_eq!(answered["fields"]["status"], 200);
    assert_eq!(answered["span"]["route"], "/schedulers");
    assert_eq!(answered["span"]["method"], "GET");
    assert!(answered["timestamp"].is_string(), "{answered}");
}

#[test]
fn the_sample_parser_reads_labels_exactly() {
    let text = "# HELP x y\nbaton_a_total{method=\"GET\",route=\"/a\",status=\"200\"} 3\n\
                baton_a_total{method=\"GET\",route=\"/a/b\",status=\"200\"} 4\nbaton_b 7\n";
    assert_eq!(sample(text, "baton_a_total", &[("route", "/a")]), Some(3.0));
    assert_eq!(
        sample(text, "baton_a_total", &[("method", "GET")]),
        Some(7.0)
    );
    assert_eq!(sample(text, "baton_b", &[]), Some(7.0));
    assert_eq!(sample(text, "baton_a", &[]), None);
    let _ = RedisKeys::new;
}
