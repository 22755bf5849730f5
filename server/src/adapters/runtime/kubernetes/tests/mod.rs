//! The runtime against a scripted API server (`tower-test`): each test answers the runtime's
//! requests one by one and asserts exactly what was asked.

mod contexts;
mod create;
mod limits;
mod logs;
mod machines;
mod namespaces;
mod observe;
mod pure;
mod secrets;

use super::*;

use std::collections::BTreeSet;
use std::time::Instant;

use app::domain::room::{RoomAddress, RoomPort};
use app::domain::scheduler::{Resources, SchedulerConfig, SchedulerState};
use futures::StreamExt;
use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::Node;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

const TIMEOUT: Duration = Duration::from_secs(10);

fn fast() -> KubernetesRuntimeConfig {
    KubernetesRuntimeConfig {
        attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        call_timeout: Duration::from_secs(5),
        port_resync: Duration::from_secs(3600),
        machines: MachinesConfig::default(),
        limits: ApiLimits::new(DEFAULT_MAX_IN_FLIGHT, None),
    }
}

fn mocked() -> (KubernetesRuntime, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    (KubernetesRuntime::with_config(client, fast()), handle)
}

/// One request the runtime made, with the means to answer it.
struct Call {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
    respond: mock::SendResponse<Response<Body>>,
}

impl Call {
    fn reply(self, status: u16, body: &Value) {
        self.reply_raw(status, serde_json::to_vec(body).unwrap());
    }

    fn reply_raw(self, status: u16, body: Vec<u8>) {
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        self.respond.send_response(response);
    }

    fn assert(&self, method: Method, path: &str) {
        assert_eq!((&self.method, self.path.as_str()), (&method, path));
    }
}

async fn next_call(handle: &mut Handle) -> Call {
    let (request, respond) = tokio::time::timeout(TIMEOUT, handle.next_request())
        .await
        .expect("the runtime made no further request")
        .expect("the client is gone");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Call {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        content_type,
        body,
        respond,
    }
}

/// Asserts that the runtime makes no further request for a moment.
async fn no_more_calls(handle: &mut Handle) {
    let next = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    if let Ok(Some((request, _))) = next {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

fn pod_list(items: Vec<Value>) -> Value {
    json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "100"},
        "items": items,
    })
}

/// A pod of scheduler `arena` as the API server would return it.
fn pod_json(room: &str, node: Option<&str>, host_ports: [u16; 2], status: Value) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": room, "namespace": "arena", "resourceVersion": "101",
            "labels": {SCHEDULER_LABEL: "arena", ROOM_LABEL: room, VERSION_LABEL: "v2"},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "game", "image": "busybox", "ports": [
                    {"name": "game", "containerPort": 7777, "protocol": "UDP", "hostPort": host_ports[0]},
                    {"name": "admin", "containerPort": 8080, "protocol": "TCP", "hostPort": 30080},
                ]},
                {"name": "metrics", "image": "busybox", "ports": [
                    {"name": "metrics", "containerPort": 9100, "protocol": "TCP", "hostPort": host_ports[1]},
                ]},
            ],
        },
        "status": status,
    });
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    pod
}

fn running() -> Value {
    json!({"phase": "Running", "containerStatuses": [
        {"name": "game", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
         "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
        {"name": "metrics", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
         "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
    ]})
}

fn pending() -> Value {
    json!({"phase": "Pending"})
}

fn crash_looping() -> Value {
    json!({"phase": "Running", "containerStatuses": [
        {"name": "game", "image": "busybox", "imageID": "", "ready": false, "restartCount": 3,
         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}}},
        {"name": "metrics", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
         "state": {"running": {}}},
    ]})
}

fn node_json(name: &str, addresses: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name},
        "status": {"addresses": addresses},
    })
}

fn pod(value: Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

fn scheduler() -> Scheduler {
    let config: SchedulerConfig = serde_json::from_value(json!({
        "name": "arena", "game": "tennis", "roomsReplicas": 1,
        "portRange": {"start": 40000, "end": 40010},
        "labels": {"team": "racket", SCHEDULER_LABEL: "spoofed"},
        "annotations": {"owner": "tennis@example.com"},
        "spec": {
            "terminationGracePeriod": "100s",
            "toleration": "game-nodes",
            "affinity": "game-pool",
            "containers": [
                {
                    "name": "game", "image": "registry.example/game:1.2",
                    "imagePullPolicy": "Always", "command": ["/game", "--serve"],
                    "environment": [
                        {"name": "MODE", "value": "ranked"},
                        {"name": "MAESTRO_ROOM_ID", "value": "overridden"},
                    ],
                    "requests": {"memory": "100Mi", "cpu": "100m"},
                    "limits": {"memory": "200Mi", "cpu": "200m"},
                    "ports": [
                        {"name": "game", "protocol": "udp", "port": 7777},
                        {"name": "admin", "protocol": "tcp", "port": 8080, "hostPort": 30080},
                    ],
                },
                {
                    "name": "metrics", "image": "registry.example/metrics:3",
                    "ports": [{"name": "metrics", "protocol": "tcp", "port": 9100}],
                },
            ],
        },
    }))
    .unwrap();
    Scheduler {
        config,
        state: SchedulerState::InSync,
        version: "v2".to_string(),
        created_at: chrono::Utc::now(),
    }
}

/// A scheduler whose rooms need no host port.
fn portless_scheduler() -> Scheduler {
    let mut scheduler = scheduler();
    scheduler.config.port_range = None;
    for container in &mut scheduler.config.spec.containers {
        container.ports.clear();
    }
    scheduler
}

/// What the health worker gives a room: the room token is secret.
fn room_env(room: &str) -> Vec<EnvironmentVariable> {
    vec![
        EnvironmentVariable::plain("MAESTRO_SCHEDULER_NAME", "arena"),
        EnvironmentVariable::plain("MAESTRO_ROOM_ID", room),
        EnvironmentVariable::plain("BATON_API_URL", "http://baton.example:3000"),
        EnvironmentVariable::secret("BATON_ROOM_TOKEN", "secret-token"),
    ]
}

/// `secret-token` as the Secret's data carries it.
const TOKEN_BASE64: &str = "c2VjcmV0LXRva2Vu";

/// The labels of Baton's namespace and Secret of scheduler `arena`.
fn baton_labels_json() -> Value {
    json!({"app.kubernetes.io/managed-by": "baton", "baton.dev/scheduler": "arena"})
}

fn namespace_json(labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "arena", "uid": "ns-uid-1", "resourceVersion": "7", "labels": labels},
        "status": {"phase": "Active"},
    })
}

/// Answers the creation of namespace `arena`, checking it is made with Baton's labels.
async fn namespace_created(handle: &mut Handle) {
    let call = next_call(handle).await;
    call.assert(Method::POST, "/api/v1/namespaces");
    assert_eq!(call.query, "&fieldManager=baton");
    assert_eq!(
        call.body,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "arena", "labels": baton_labels_json(),
        }})
    );
    call.reply(201, &namespace_json(baton_labels_json()));
}

const SECRETS_PATH: &str = "/api/v1/namespaces/arena/secrets";

/// The path of Secret `name` in the scheduler's namespace.
fn secret_path(name: &str) -> String {
    format!("{SECRETS_PATH}/{name}")
}

/// Room `room`'s token keys, for both containers of [`scheduler`].
fn token_keys(room: &str) -> Value {
    json!({
        format!("{room}.game.BATON_ROOM_TOKEN"): TOKEN_BASE64,
        format!("{room}.metrics.BATON_ROOM_TOKEN"): TOKEN_BASE64,
    })
}

/// Answers the creation of the batch Secret of room `room` (alone in it), checking it.
async fn token_written(handle: &mut Handle, room: &str) {
    let call = next_call(handle).await;
    call.assert(Method::POST, SECRETS_PATH);
    assert_eq!(call.query, "&fieldManager=baton");
    let name = format!("{room}-secrets");
    assert_eq!(call.body, secret_json(&name, token_keys(room)));
    let created = call.body.clone();
    call.reply(201, &created);
}

/// Secret `name` as Baton writes it, with `data`.
fn secret_json(name: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "labels": baton_labels_json()},
        "data": data,
    })
}

/// Answers the removal of room `room`'s token keys from Secret `secret` (leaving `left`),
/// checking it; a Secret left empty is deleted.
async fn dropped_token(handle: &mut Handle, room: &str, secret: &str, left: Value) {
    let call = next_call(handle).await;
    call.assert(Method::PATCH, &secret_path(secret));
    assert_eq!(call.content_type, "application/merge-patch+json");
    assert_eq!(
        call.body,
        json!({"data": {
            format!("{room}.game.BATON_ROOM_TOKEN"): null,
            format!("{room}.metrics.BATON_ROOM_TOKEN"): null,
        }})
    );
    let emptied = left.as_object().is_none_or(serde_json::Map::is_empty);
    call.reply(200, &secret_json(secret, left));
    if emptied {
        let call = next_call(handle).await;
        call.assert(Method::DELETE, &secret_path(secret));
        call.reply(200, &secret_json(secret, json!({})));
    }
}

/// The pod's reference to key `key` of Secret `secret`.
fn from_secret(name: &str, secret: &str, key: String) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

/// The pod Baton must send for `room` of [`scheduler`], with the given range ports.
fn expected_pod(room: &str, game_port: u16, metrics_port: u16) -> Value {
    let env = |container: &str, extra: Vec<Value>| {
        let mut env = extra;
        env.extend([
            json!({"name": "MAESTRO_SCHEDULER_NAME", "value": "arena"}),
            json!({"name": "MAESTRO_ROOM_ID", "value": room}),
            json!({"name": "BATON_API_URL", "value": "http://baton.example:3000"}),
            from_secret(
                "BATON_ROOM_TOKEN",
                &format!("{room}-secrets"),
                format!("{room}.{container}.BATON_ROOM_TOKEN"),
            ),
        ]);
        env
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": room,
            "labels": {
                "team": "racket",
                "baton.dev/scheduler": "arena",
                "baton.dev/room": room,
                "baton.dev/version": "v2",
            },
            "annotations": {"owner": "tennis@example.com", "baton.dev/secret": format!("{room}-secrets")},
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 100,
            "tolerations": [
                {"key": "game-nodes", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            ],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "game-pool", "operator": "In", "values": ["true"]},
                ]}],
            }}},
            "containers": [
                {
                    "name": "game",
                    "image": "registry.example/game:1.2",
                    "imagePullPolicy": "Always",
                    "command": ["/game", "--serve"],
                    "env": env("game", vec![json!({"name": "MODE", "value": "ranked"})]),
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "100Mi"},
                        "limits": {"cpu": "200m", "memory": "200Mi"},
                    },
                    "ports": [
                        {"name": "game", "containerPort": 7777, "protocol": "UDP", "hostPort": game_port},
                        {"name": "admin", "containerPort": 8080, "protocol": "TCP", "hostPort": 30080},
                    ],
                },
                {
                    "name": "metrics",
                    "image": "registry.example/metrics:3",
                    "imagePullPolicy": "IfNotPresent",
                    "env": env("metrics", vec![]),
                    "ports": [
                        {"name": "metrics", "containerPort": 9100, "protocol": "TCP", "hostPort": metrics_port},
                    ],
                },
            ],
        },
    })
}
