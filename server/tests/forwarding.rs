//! Event forwarders, black-box: a matchmaker double serves Maestro's gRPC forwarder protocol and
//! another receives the signed HTTP events; rooms ping and post events; both receive them; the
//! gRPC one is stopped and restarted on the same port mid-stream and receives the later events;
//! a black-holed forwarder does not slow pings; metrics count the outcomes.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use server::adapters::forwarder::proto;
use server::adapters::forwarder::proto::grpc_forwarder_server::{
    GrpcForwarder, GrpcForwarderServer,
};
use server::adapters::forwarder::{SIGNATURE_HEADER, signature};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use common::rooms::wait_for;
use common::{Backend, TestServer};

const SECRET: &str = "forwarding-test-secret";

/// What a receiver got, as `(rpc or kind, message as JSON)`.
type Inbox = Arc<Mutex<Vec<(String, Value)>>>;

fn room_json(room: Option<proto::Room>) -> Value {
    let room = room.unwrap_or_default();
    json!({"game": room.game, "roomId": room.room_id, "host": room.host, "port": room.port,
        "metadata": room.metadata, "roomType": room.room_type})
}

#[derive(Clone)]
struct Matchmaker(Inbox);

impl Matchmaker {
    fn took(
        &self,
        rpc: &str,
        message: Value,
    ) -> Result<tonic::Response<proto::Response>, tonic::Status> {
        self.0.lock().unwrap().push((rpc.to_string(), message));
        Ok(tonic::Response::new(proto::Response {
            code: 200,
            message: "ok".into(),
        }))
    }
}

#[tonic::async_trait]
impl GrpcForwarder for Matchmaker {
    async fn send_room_event(
        &self,
        request: tonic::Request<proto::RoomEvent>,
    ) -> Result<tonic::Response<proto::Response>, tonic::Status> {
        let event = request.into_inner();
        self.took(
            "SendRoomEvent",
            json!({"room": room_json(event.room), "eventType": event.event_type, "metadata": event.metadata}),
        )
    }
    async fn send_player_event(
        &self,
        request: tonic::Request<proto::PlayerEvent>,
    ) -> Result<tonic::Response<proto::Response>, tonic::Status> {
        let event = request.into_inner();
        self.took(
            "SendPlayerEvent",
            json!({"room": room_json(event.room), "playerId": event.player_id,
                "eventType": event.event_type, "metadata": event.metadata}),
        )
    }
    async fn send_room_status(
        &self,
        request: tonic::Request<proto::RoomStatus>,
    ) -> Result<tonic::Response<proto::Response>, tonic::Status> {
        let status = request.into_inner();
        self.took(
            "SendRoomStatus",
            json!({"room": room_json(status.room), "statusType": status.status_type}),
        )
    }
    async fn send_room_resync(
        &self,
        request: tonic::Request<proto::RoomStatus>,
    ) -> Result<tonic::Response<proto::Response>, tonic::Status> {
        let status = request.into_inner();
        self.took(
            "SendRoomResync",
            json!({"room": room_json(status.room), "statusType": status.status_type}),
        )
    }
}

/// Serves the gRPC matchmaker on `listener` until told to stop.
fn serve_grpc(listener: TcpListener, inbox: Inbox) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(GrpcForwarderServer::new(Matchmaker(inbox)))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("the gRPC matchmaker serves");
    });
    (stop, task)
}

/// An HTTP receiver that takes only correctly signed events.
async fn serve_http(inbox: Inbox) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let inbox = inbox.clone();
            async move {
                let expected = signature(SECRET.as_bytes(), &body);
                let given = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
                if given != Some(expected.as_str()) {
                    return StatusCode::UNAUTHORIZED;
                }
                let event: Value = serde_json::from_slice(&body).expect("a JSON event");
                let kind = event["kind"].as_str().unwrap_or_default().to_string();
                inbox.lock().unwrap().push((kind, event));
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Waits until `inbox` holds an entry of `kind` that `matches`, and answers it.
async fn received(inbox: &Inbox, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        if let Some((_, found)) = inbox
            .lock()
            .unwrap()
            .iter()
            .find(|(k, v)| k == kind && matches(v))
        {
            return found.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no {kind} received; got {:?}",
            inbox.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scrape(server: &TestServer) -> String {
    let reply = server.admin().get("/metrics").await;
    assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.text);
    reply.text
}

/// The value of the `baton_forwarded_events_total` sample with these labels (0 when absent).
fn forwarded(text: &str, forwarder: &str, kind: &str, outcome: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with("baton_forwarded_events_total{"))
        .filter(|line| {
            line.contains(&format!("forwarder=\"{forwarder}\""))
                && line.contains(&format!("kind=\"{kind}\""))
                && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A scheduler of one room (a process that never pings: the test pings for it, tokenless).
async fn scheduler_with_one_room(
    server: &TestServer,
    name: &str,
    ports: u16,
    forwarders: Value,
) -> String {
    server
        .admin()
        .post(
            "/schedulers",
            &json!({
                "name": name, "game": "fwd-game", "roomsReplicas": 1, "allowTokenlessPings": true,
                "portRange": {"start": ports, "end": ports + 99},
                "forwarders": forwarders,
                "spec": {"terminationGracePeriod": "1s", "containers": [{
                    "name": "game", "image": "example", "command": ["sleep", "120"],
                    "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
            }),
        )
        .await
        .ok();
    let rooms = wait_for(
        server,
        name,
        "a room with an address",
        Duration::from_secs(20),
        |rooms| rooms.len() == 1 && rooms[0]["address"]["host"].is_string(),
    )
    .await;
    rooms[0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn both_forwarders_receive_every_event_and_grpc_survives_a_restart() {
    let grpc_inbox: Inbox = Arc::default();
    let http_inbox: Inbox = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = listener.local_addr().unwrap();
    let (stop, grpc_task) = serve_grpc(listener, grpc_inbox.clone());
    let http_addr = serve_http(http_inbox.clone()).await;

    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.forwarding.forwarder_secret = Some(SECRET.into());
        config.forwarding.forwarder_resync_ms = 1000;
        config.forwarding.forwarder_retries = 30;
    })
    .await;
    let name = "fwd";
    let room = scheduler_with_one_room(
        &server,
        name,
        43100,
        json!([
            {"name": "mm-grpc", "enable": true, "type": "gRPC", "address": grpc_addr.to_string(),
             "options": {"timeout": 500, "metadata": {"roomType": "ranked", "region": "eu"}}},
            {"name": "mm-http", "enable": true, "type": "http",
             "address": format!("http://{http_addr}/events"),
             "options": {"timeout": 500, "metadata": {"roomType": "casual"}}},
            {"name": "off", "enable": false, "type": "gRPC", "address": "127.0.0.1:1"}
        ]),
    )
    .await;
    let listed = common::rooms::rooms(&server, name).await;
    let port = listed[0]["address"]["ports"][0]["port"].as_i64().unwrap();
    let anonymous = server.anonymous();
    let base = format!("/scheduler/{name}/rooms/{room}");
    anonymous
        .put(
            &format!("{base}/ping"),
            &json!({"status": "ready", "metadata": {"map": "dust"}}),
        )
        .await
        .ok();
    anonymous
        .put(&format!("{base}/ping"), &json!({"status": "occupied"}))
        .await
        .ok();
    anonymous
        .post(
            &format!("{base}/roomevent"),
            &json!({"event": "matchStarted", "metadata": {"matchId": "m1", "players": 3}}),
        )
        .await
        .ok();
    anonymous
        .post(
            &format!("{base}/playerevent"),
            &json!({"event": "playerJoin", "playerId": "p1", "metadata": {"team": "red"}}),
        )
        .await
        .ok();
    anonymous
        .post(
            &format!("{base}/playerevent"),
            &json!({"event": "playerJoin"}),
        )
        .await
        .expect_invalid(&["playerId"]);
    anonymous
        .post(
            &format!("{base}/playerevent"),
            &json!({"event": "playerDanced", "playerId": "p1"}),
        )
        .await
        .expect_invalid(&["event"]);

    // gRPC, field by field.
    let room_of = |room_type: &str, extra: Value| {
        let mut metadata = json!({"map": "dust", "roomType": room_type});
        if room_type == "ranked" {
            metadata["region"] = json!("eu");
        }
        for (k, v) in extra.as_object().unwrap() {
            metadata[k] = v.clone();
        }
        json!({"game": "fwd-game", "roomId": room, "host": "127.0.0.1", "port": port,
            "metadata": metadata, "roomType": room_type})
    };
    let ready = received(&grpc_inbox, "SendRoomStatus", |v| v["statusType"] == 0).await;
    assert_eq!(
        ready,
        json!({"room": room_of("ranked", json!({})), "statusType": 0})
    );
    let occupied = received(&grpc_inbox, "SendRoomStatus", |v| v["statusType"] == 1).await;
    assert_eq!(occupied["room"]["roomId"], room.as_str());
    let event = received(&grpc_inbox, "SendRoomEvent", |_| true).await;
    assert_eq!(
        event,
        json!({"room": room_of("ranked", json!({})), "eventType": "matchStarted",
            "metadata": {"matchId": "m1", "players": "3", "roomType": "ranked", "region": "eu"}})
    );
    let player = received(&grpc_inbox, "SendPlayerEvent", |_| true).await;
    assert_eq!(
        player,
        json!({"room": room_of("ranked", json!({})), "playerId": "p1", "eventType": 0,
            "metadata": {"team": "red", "roomType": "ranked", "region": "eu"}})
    );
    // Status changes arrive in order.
    {
        let inbox = grpc_inbox.lock().unwrap();
        let statuses: Vec<&Value> = inbox
            .iter()
            .filter(|(k, _)| k == "SendRoomStatus")
            .map(|(_, v)| &v["statusType"])
            .collect();
        assert_eq!(statuses, [&json!(0), &json!(1)]);
    }

    // HTTP, signed (the receiver refuses anything else), the same events as JSON.
    let ready = received(&http_inbox, "roomStatus", |v| v["status"] == "ready").await;
    assert_eq!(
        ready,
        json!({"kind": "roomStatus", "room": room_of("casual", json!({})), "status": "ready", "resync": false})
    );
    received(&http_inbox, "roomStatus", |v| v["status"] == "occupied").await;
    let event = received(&http_inbox, "roomEvent", |_| true).await;
    assert_eq!(event["eventType"], "matchStarted");
    assert_eq!(
        event["metadata"],
        json!({"matchId": "m1", "players": "3", "roomType": "casual"})
    );
    let player = received(&http_inbox, "playerEvent", |_| true).await;
    assert_eq!(player["playerId"], "p1");
    assert_eq!(player["eventType"], "playerJoin");
    assert_eq!(
        player["metadata"],
        json!({"team": "red", "roomType": "casual"})
    );
    // The periodic resync tells both of the room's current status.
    let resync = received(&grpc_inbox, "SendRoomResync", |_| true).await;
    assert_eq!(resync["statusType"], 1);
    received(&http_inbox, "roomStatus", |v| {
        v["resync"] == true && v["status"] == "occupied"
    })
    .await;

    // The matchmaker stops; events meanwhile are retried and reach it once it is back.
    let _ = stop.send(());
    if tokio::time::timeout(Duration::from_secs(5), grpc_task)
        .await
        .is_err()
    {
        panic!("the gRPC matchmaker did not stop");
    }
    anonymous
        .put(&format!("{base}/ping"), &json!({"status": "ready"}))
        .await
        .ok();
    anonymous
        .post(&format!("{base}/roomevent"), &json!({"event": "whileDown"}))
        .await
        .ok();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listener = TcpListener::bind(grpc_addr)
        .await
        .expect("the same port again");
    let (_stop, _task) = serve_grpc(listener, grpc_inbox.clone());
    received(&grpc_inbox, "SendRoomEvent", |v| {
        v["eventType"] == "whileDown"
    })
    .await;
    anonymous
        .post(
            &format!("{base}/roomevent"),
            &json!({"event": "afterRestart"}),
        )
        .await
        .ok();
    received(&grpc_inbox, "SendRoomEvent", |v| {
        v["eventType"] == "afterRestart"
    })
    .await;
    {
        let inbox = grpc_inbox.lock().unwrap();
        let statuses: Vec<&Value> = inbox
            .iter()
            .filter(|(k, _)| k == "SendRoomStatus")
            .map(|(_, v)| &v["statusType"])
            .collect();
        assert_eq!(statuses, [&json!(0), &json!(1), &json!(0)]);
    }

    let text = scrape(&server).await;
    assert!(
        forwarded(&text, "mm-grpc", "roomEvent", "success") >= 3.0,
        "{text}"
    );
    assert!(
        forwarded(&text, "mm-grpc", "roomStatus", "retry") >= 1.0,
        "{text}"
    );
    assert!(
        forwarded(&text, "mm-http", "playerEvent", "success") >= 1.0,
        "{text}"
    );
    assert_eq!(forwarded(&text, "off", "roomStatus", "success"), 0.0);
}

#[tokio::test]
async fn a_black_holed_forwarder_does_not_slow_pings_and_its_failures_are_counted() {
    // Accepts connections (the kernel's backlog) and never answers.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = black_hole.local_addr().unwrap();
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.health_tick_ms = 200;
        config.forwarding.forwarder_resync_ms = 0;
        config.forwarding.forwarder_retries = 1;
        config.forwarding.forwarder_queue = 16;
    })
    .await;
    let name = "fwd-dead";
    let room = scheduler_with_one_room(
        &server,
        name,
        43300,
        json!([{"name": "dead", "enable": true, "type": "gRPC", "address": address.to_string(),
            "options": {"timeout": 1000}}]),
    )
    .await;
    let anonymous = server.anonymous();
    let path = format!("/scheduler/{name}/rooms/{room}/ping");
    // Warm up (connection pools, the tokenless cache).
    anonymous.put(&path, &json!({"status": "ready"})).await.ok();
    let started = Instant::now();
    for i in 0..100 {
        let status = if i % 2 == 0 { "occupied" } else { "ready" };
        anonymous.put(&path, &json!({"status": status})).await.ok();
    }
    let elapsed = started.elapsed();
    // 100 forwarded status changes, each with a 1 s deadline: 100 s if pings waited for them.
    println!("100 pings with a black-holed forwarder: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    let started = Instant::now();
    loop {
        let text = scrape(&server).await;
        let failures = forwarded(&text, "dead", "roomStatus", "failure");
        let dropped = forwarded(&text, "dead", "roomStatus", "dropped");
        if failures >= 1.0 && dropped >= 1.0 {
            assert_eq!(forwarded(&text, "dead", "roomStatus", "success"), 0.0);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "failures {failures}, dropped {dropped}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(black_hole);
}
