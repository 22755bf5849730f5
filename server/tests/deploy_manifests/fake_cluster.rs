//! A Kubernetes API server double that keeps objects in memory and records every call as the
//! authorizer sees it: verb, API group, resource (with its subresource), namespace.
//!
//! Enough of the API for the Kubernetes runtime to run its operations end to end: create
//! (409 when the name is taken, 404 when the namespace is missing), get, list (selectors are
//! not applied), watch (the first watch answers one added pod, later ones never answer),
//! JSON merge patch, delete (a namespace takes its objects with it), and the metrics API's
//! `PodMetrics` made up from the stored pods. Created pods are placed on the first node at once
//! and reported running.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use super::api_calls::{ApiCall, Target, target, verb};

/// Where an object is kept: group, resource, namespace ("" when cluster-scoped), name.
type Key = (String, String, String, String);

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    calls: Vec<ApiCall>,
    /// Requests the double could not place (a bad path or method): the test fails on them.
    unknown: Vec<String>,
    watches: usize,
    version: u64,
}

/// The API server double; [`FakeCluster::client`] gives a `kube::Client` that talks to it.
#[derive(Clone, Default)]
pub struct FakeCluster {
    state: Arc<Mutex<State>>,
}

impl FakeCluster {
    /// A cluster of one node, `node` (its address `address`).
    pub fn with_node(node: &str, address: &str) -> Self {
        let cluster = Self::default();
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {"kubernetes.io/os": "linux"}},
            "spec": {},
            "status": {
                "addresses": [{"type": "InternalIP", "address": address}],
                "capacity": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"},
                "nodeInfo": {
                    "operatingSystem": "linux", "osImage": "Debian", "architecture": "amd64",
                    "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "",
                    "kubeProxyVersion": "", "kubeletVersion": "", "machineID": "",
                    "systemUUID": "",
                },
            },
        });
        cluster.put(key("", "nodes", None, &name_of(&node)), node);
        cluster
    }

    pub fn client(&self) -> kube::Client {
        let cluster = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let cluster = cluster.clone();
            async move { Ok::<_, Infallible>(cluster.answer(request).await) }
        });
        kube::Client::new(service, "default")
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.lock().calls.clone()
    }

    pub fn unknown_requests(&self) -> Vec<String> {
        self.lock().unknown.clone()
    }

    /// The stored object, if any.
    pub fn get(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.lock()
            .objects
            .get(&key(group, resource, namespace, name))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, key: Key, object: Value) {
        self.lock().objects.insert(key, object);
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body = body.collect_bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or_default().to_string();
        let place = target(&path).and_then(|t| Some((verb(&parts.method, &t, &query)?, t)));
        let Some((verb, target)) = place else {
            self.lock()
                .unknown
                .push(format!("{} {}", parts.method, parts.uri));
            return reply(404, &status(404, "NotFound", "unknown path"));
        };
        let resource = match &target.subresource {
            Some(sub) => format!("{}/{sub}", target.resource),
            None => target.resource.clone(),
        };
        self.lock().calls.push(ApiCall {
            verb: verb.to_string(),
            group: target.group.clone(),
            resource,
            namespace: target.namespace.clone(),
        });
        if target.resource == "pods" && target.subresource.as_deref() == Some("log") {
            return self.pod_log(&target);
        }
        if target.subresource.is_some() {
            return reply(404, &status(404, "NotFound", "no subresources here"));
        }
        match verb {
            "get" => self.read(&target),
            "list" => self.list(&target),
            "watch" => self.watch(&target).await,
            "create" => self.create(&target, body),
            "patch" => self.patch(&target, &body),
            "delete" => self.delete(&target),
            _ => reply(405, &status(405, "MethodNotAllowed", verb)),
        }
    }

    fn read(&self, target: &Target) -> Response<Body> {
        match self.lock().objects.get(&target_key(target)) {
            Some(object) => reply(200, object),
            None => not_found(target),
        }
    }

    /// A pod's log: one line naming the pod and the container asked for.
    fn pod_log(&self, target: &Target) -> Response<Body> {
        if !self.lock().objects.contains_key(&target_key(target)) {
            return not_found(target);
        }
        let name = target.name.clone().unwrap_or_default();
        reply_raw(200, format!("{name} printed this\n").into_bytes())
    }

    fn list(&self, target: &Target) -> Response<Body> {
        let state = self.lock();
        let metrics = target.group == "metrics.k8s.io";
        let stored_group = if metrics { "" } else { target.group.as_str() };
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|((group, resource, namespace, _), _)| {
                group == stored_group
                    && *resource == target.resource
                    && target.namespace.as_ref().is_none_or(|ns| ns == namespace)
            })
            .map(|(_, object)| {
                if metrics {
                    pod_metrics(object)
                } else {
                    object.clone()
                }
            })
            .collect();
        let api_version = api_version(&target.group, &target.version);
        let kind = if metrics {
            "PodMetrics".to_string()
        } else {
            kind_of(&target.resource)
        };
        reply(
            200,
            &json!({
                "apiVersion": api_version, "kind": format!("{kind}List"),
                "metadata": {"resourceVersion": state.version.to_string()},
                "items": items,
            }),
        )
    }

    /// The first watch sees one pod added (a room this double made up); later ones wait forever.
    async fn watch(&self, target: &Target) -> Response<Body> {
        let first = {
            let mut state = self.lock();
            state.watches += 1;
            state.watches == 1
        };
        if !first {
            futures::future::pending::<()>().await;
        }
        let namespace = target.namespace.clone().unwrap_or_default();
        let pod = placed(
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": "watched-room", "namespace": namespace, "resourceVersion": "900",
                    "labels": {"baton.dev/scheduler": namespace, "baton.dev/room": "watched-room"},
                },
                "spec": {"containers": [{"name": "game", "image": "game:1"}]},
            }),
            "",
        );
        let event = json!({"type": "ADDED", "object": pod});
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        reply_raw(200, line)
    }

    fn create(&self, target: &Target, mut object: Value) -> Response<Body> {
        let name = name_of(&object);
        let key = key(
            &target.group,
            &target.resource,
            target.namespace.as_deref(),
            &name,
        );
        let mut state = self.lock();
        if let Some(namespace) = &target.namespace
            && !state.objects.contains_key(&key_of_namespace(namespace))
        {
            return reply(
                404,
                &status(
                    404,
                    "NotFound",
                    &format!("namespaces \"{namespace}\" not found"),
                ),
            );
        }
        if state.objects.contains_key(&key) {
            return reply(
                409,
                &status(409, "AlreadyExists", &format!("\"{name}\" already exists")),
            );
        }
        state.version += 1;
        let version = state.version.to_string();
        let first_node = state
            .objects
            .keys()
            .find(|(_, resource, _, _)| resource == "nodes")
            .map(|(_, _, _, node)| node.clone())
            .unwrap_or_default();
        let metadata = &mut object["metadata"];
        metadata["uid"] = json!(format!("uid-{version}"));
        metadata["resourceVersion"] = json!(version);
        if let Some(namespace) = &target.namespace {
            metadata["namespace"] = json!(namespace);
        }
        if target.resource == "pods" {
            object = placed(object, &first_node);
        }
        state.objects.insert(key, object.clone());
        reply(201, &object)
    }

    fn patch(&self, target: &Target, patch: &Value) -> Response<Body> {
        let mut state = self.lock();
        state.version += 1;
        let version = state.version.to_string();
        match state.objects.get_mut(&target_key(target)) {
            Some(object) => {
                merge_patch(object, patch);
                object["metadata"]["resourceVersion"] = json!(version);
                reply(200, object)
            }
            None => not_found(target),
        }
    }

    fn delete(&self, target: &Target) -> Response<Body> {
        let mut state = self.lock();
        let Some(object) = state.objects.remove(&target_key(target)) else {
            return not_found(target);
        };
        if target.resource == "namespaces" && target.group.is_empty() {
            let namespace = target.name.clone().unwrap_or_default();
            state.objects.retain(|(_, _, ns, _), _| *ns != namespace);
        }
        reply(200, &object)
    }
}

fn key(group: &str, resource: &str, namespace: Option<&str>, name: &str) -> Key {
    (
        group.to_string(),
        resource.to_string(),
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    )
}

fn key_of_namespace(namespace: &str) -> Key {
    key("", "namespaces", None, namespace)
}

fn target_key(target: &Target) -> Key {
    let name = target.name.as_deref().unwrap_or_default();
    key(
        &target.group,
        &target.resource,
        target.namespace.as_deref(),
        name,
    )
}

fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn kind_of(resource: &str) -> String {
    match resource {
        "pods" => "Pod",
        "namespaces" => "Namespace",
        "secrets" => "Secret",
        "nodes" => "Node",
        other => other,
    }
    .to_string()
}

/// The pod as the scheduler and the kubelet leave it: on `node`, every container running.
fn placed(mut pod: Value, node: &str) -> Value {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|container| {
            json!({
                "name": container["name"], "image": container["image"], "imageID": "",
                "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            })
        })
        .collect();
    if !node.is_empty() {
        pod["spec"]["nodeName"] = json!(node);
    }
    pod["status"] = json!({"phase": "Running", "containerStatuses": statuses});
    pod
}

/// The `PodMetrics` of a stored pod: every container uses 10m of CPU and 20Mi of memory.
fn pod_metrics(pod: &Value) -> Value {
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c["name"], "usage": {"cpu": "10m", "memory": "20Mi"}}))
        .collect();
    json!({
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
        "metadata": pod["metadata"].clone(),
        "timestamp": "2026-01-01T00:00:00Z", "window": "30s",
        "containers": containers,
    })
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(target) = target {
        for (name, value) in fields {
            if value.is_null() {
                target.remove(name);
            } else {
                merge_patch(target.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

fn not_found(target: &Target) -> Response<Body> {
    let name = target.name.clone().unwrap_or_default();
    let message = format!("{} \"{name}\" not found", target.resource);
    reply(404, &status(404, "NotFound", &message))
}

fn reply(code: u16, body: &Value) -> Response<Body> {
    reply_raw(code, serde_json::to_vec(body).unwrap_or_default())
}

fn reply_raw(code: u16, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
