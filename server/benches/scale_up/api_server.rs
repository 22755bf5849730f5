//! The API-server double of the scale-up benchmark: namespaces, Secrets, pods
//! and nodes, answered as a real API server would after a random latency; a created pod starts
//! on a node after a random time and its room pings ready through the room store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use app::domain::room::{Ping, RoomStatus};
use app::ports::RoomStore;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use server::adapters::storage::redis::RedisRoomStore;

/// What a real API server accepts in one Secret's data (keys and values), in bytes.
pub const SECRET_LIMIT: usize = 1024 * 1024;

pub fn between(range: (u64, u64)) -> Duration {
    Duration::from_millis(rand::random_range(range.0..=range.1.max(range.0)))
}

pub fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    json_response(code, &body)
}

pub fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("JSON");
    (
        StatusCode::from_u16(code).expect("a status code"),
        [("content-type", "application/json")],
        bytes,
    )
        .into_response()
}

#[derive(Default)]
pub struct Cluster {
    pub namespaces: HashMap<String, Value>,
    /// By namespace and name.
    pub secrets: HashMap<(String, String), Value>,
    /// By namespace, then name.
    pub pods: HashMap<String, BTreeMap<String, Value>>,
    pub version: u64,
}

impl Cluster {
    fn stamp(&mut self, object: &mut Value) {
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        object["metadata"]["creationTimestamp"] = json!(Utc::now().to_rfc3339());
    }
}

/// Decoded bytes of a Secret's data (keys and values), as the API server counts them.
pub fn secret_size(secret: &Value) -> usize {
    secret["data"].as_object().map_or(0, |data| {
        data.iter()
            .map(|(key, value)| key.len() + value.as_str().map_or(0, |v| v.len() * 3 / 4))
            .sum()
    })
}

/// The API-server double and what it saw.
pub struct ApiServer {
    pub latency: (u64, u64),
    pub start: (u64, u64),
    pub nodes: usize,
    pub expected: u64,
    pub cluster: Mutex<Cluster>,
    pub rooms: RedisRoomStore,
    pub in_flight: AtomicUsize,
    pub most_in_flight: AtomicUsize,
    pub requests: Mutex<BTreeMap<String, u64>>,
    pub response_bytes: AtomicU64,
    pub pods_created: AtomicU64,
    pub decided: Mutex<Option<Instant>>,
    pub submitted: Mutex<Option<Duration>>,
    /// Secret writes a real server would refuse (over `SECRET_LIMIT`).
    pub oversized: AtomicU64,
    pub started_pods: AtomicU64,
}

impl ApiServer {
    fn count(&self, what: String) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(what)
            .or_default() += 1;
    }

    pub fn cluster(&self) -> std::sync::MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pod's node, addresses and running containers; then its room pings ready.
    async fn start_pod(self: Arc<Self>, namespace: String, name: String) {
        tokio::time::sleep(between(self.start)).await;
        let node = rand::random_range(0..self.nodes);
        {
            let mut cluster = self.cluster();
            cluster.version += 1;
            let version = cluster.version.to_string();
            let Some(pod) = cluster
                .pods
                .get_mut(&namespace)
                .and_then(|pods| pods.get_mut(&name))
            else {
                return;
            };
            pod["metadata"]["resourceVersion"] = json!(version);
            pod["spec"]["nodeName"] = json!(format!("node-{node}"));
            let containers: Vec<Value> = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true,
                           "restartCount": 0, "state": {"running": {"startedAt": Utc::now().to_rfc3339()}}})
                })
                .collect();
            pod["status"] = json!({
                "phase": "Running",
                "hostIP": format!("10.0.{}.{}", node / 250, node % 250 + 1),
                "podIP": format!("172.16.{}.{}", node / 250, node % 250 + 1),
                "containerStatuses": containers,
            });
        }
        let ready = Ping {
            status: RoomStatus::Ready,
            timestamp: None,
            metadata: None,
            running_matches: Some(0),
        };
        match self.rooms.ping(&namespace, &name, &ready, Utc::now()).await {
            Ok(Ok(_)) => {
                self.started_pods.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(refused)) => eprintln!("room {name} could not ping ready: {refused}"),
            Err(e) => eprintln!("room {name} could not ping ready: {e}"),
        }
    }

    fn answer(self: &Arc<Self>, method: &Method, uri: &Uri, body: &[u8]) -> Response {
        let path: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let parsed = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        match (method.as_str(), path.as_slice()) {
            ("POST", ["api", "v1", "namespaces"]) => {
                self.count("create namespace".into());
                let mut namespace = parsed();
                let name = namespace["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let mut cluster = self.cluster();
                if cluster.namespaces.contains_key(&name) {
                    return status(
                        409,
                        "AlreadyExists",
                        &format!("namespaces \"{name}\" already exists"),
                    );
                }
                cluster.stamp(&mut namespace);
                namespace["status"] = json!({"phase": "Active"});
                cluster.namespaces.insert(name, namespace.clone());
                json_response(201, &namespace)
            }
            ("GET", ["api", "v1", "namespaces", name]) => {
                self.count("read namespace".into());
                match self.cluster().namespaces.get(*name) {
                    Some(namespace) => json_response(200, namespace),
                    None => status(404, "NotFound", &format!("namespaces \"{name}\" not found")),
                }
            }
            ("POST", ["api", "v1", "namespaces", namespace, "secrets"]) => {
                self.count("create secret".into());
                let mut secret = parsed();
                let name = secret["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let mut cluster = self.cluster();
                if !cluster.namespaces.contains_key(*namespace) {
                    return status(404, "NotFound", "namespace not found");
                }
                let key = (namespace.to_string(), name.clone());
                if cluster.secrets.contains_key(&key) {
                    return status(
                        409,
                        "AlreadyExists",
                        &format!("secrets \"{name}\" already exists"),
                    );
                }
                if secret_size(&secret) > SECRET_LIMIT {
                    self.oversized.fetch_add(1, Ordering::Relaxed);
                }
                cluster.stamp(&mut secret);
                secret["metadata"]["namespace"] = json!(namespace);
                cluster.secrets.insert(key, secret.clone());
                json_response(201, &secret)
            }
            ("POST", ["api", "v1", "namespaces", namespace, "pods"]) => {
                self.count("create pod".into());
                let mut pod = parsed();
                let name = pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let created = {
                    let mut cluster = self.cluster();
                    if !cluster.namespaces.contains_key(*namespace) {
                        return status(404, "NotFound", "namespace not found");
                    }
                    if cluster
                        .pods
                        .get(*namespace)
                        .is_some_and(|pods| pods.contains_key(&name))
                    {
                        return status(
                            409,
                            "AlreadyExists",
                            &format!("pods \"{name}\" already exists"),
                        );
                    }
                    cluster.stamp(&mut pod);
                    pod["metadata"]["namespace"] = json!(namespace);
                    pod["status"] = json!({"phase": "Pending"});
                    cluster
                        .pods
                        .entry(namespace.to_string())
                        .or_default()
                        .insert(name.clone(), pod.clone());
                    pod
                };
                let n = self.pods_created.fetch_add(1, Ordering::SeqCst) + 1;
                if n == self.expected {
                    let decided = *self.decided.lock().unwrap_or_else(|e| e.into_inner());
                    *self.submitted.lock().unwrap_or_else(|e| e.into_inner()) =
                        decided.map(|at| at.elapsed());
                }
                tokio::spawn(self.clone().start_pod(namespace.to_string(), name));
                json_response(201, &created)
            }
            ("GET", ["api", "v1", "namespaces", namespace, "pods"]) => {
                self.count("list pods".into());
                let cluster = self.cluster();
                let items: Vec<&Value> = cluster
                    .pods
                    .get(*namespace)
                    .into_iter()
                    .flat_map(|pods| pods.values())
                    .collect();
                let list = json!({
                    "kind": "PodList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": cluster.version.to_string()},
                    "items": items,
                });
                json_response(200, &list)
            }
            ("GET", ["api", "v1", "nodes", name]) => {
                self.count("read node".into());
                let node = json!({
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name},
                    "status": {"addresses": [
                        {"type": "InternalIP", "address": "10.0.0.1"},
                        {"type": "ExternalIP", "address": format!("203.0.113.{}", name.len())},
                    ]},
                });
                json_response(200, &node)
            }
            _ => {
                self.count(format!("other: {method} {}", uri.path()));
                status(
                    404,
                    "NotFound",
                    "the benchmark's API server does not serve this",
                )
            }
        }
    }
}

pub async fn handle(
    State(server): State<Arc<ApiServer>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let now = server.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    server.most_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(between(server.latency)).await;
    let response = server.answer(&method, &uri, &body);
    server.in_flight.fetch_sub(1, Ordering::SeqCst);
    let size = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    server.response_bytes.fetch_add(size, Ordering::Relaxed);
    response
}
