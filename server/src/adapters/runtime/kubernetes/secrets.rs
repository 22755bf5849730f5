//! Secret variables (the room token, spec variables marked `secret`) travel in Secrets of their
//! own in the scheduler's namespace, never in the pod: the pod only references them
//! (`valueFrom.secretKeyRef`), so reading pods shows no secret.
//!
//! Rooms created together share one Secret (a batch, group-commit style): while one Secret is
//! being written, the rooms that arrive wait and go into the next one, at most [`BATCH_ROOMS`]
//! to a Secret. A scale-up of 10,000 rooms so costs about one Secret per 40 rooms instead of
//! one write per room into an ever-growing Secret (which also capped a scheduler at ~10,000
//! rooms by the 1 MiB object limit). A batch is named after its first room
//! ([`batch_secret_name`]), holds one key per room, container and variable ([`secret_key`]),
//! and is never added to after it is made: each room's pod names its batch in the
//! [`SECRET_ANNOTATION`], deleting a room removes its keys, and the room that empties the batch
//! deletes it.

use std::collections::{BTreeMap, HashMap};

use app::domain::scheduler::{Container, EnvironmentVariable, Scheduler};
use app::domain::validation::is_secret_key;
use app::ports::RuntimeError;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::namespaces::baton_labels;
use super::retry::{api_code, retry, runtime_error};
use super::{FIELD_MANAGER, KubernetesRuntime, lock, post_params};

/// Annotation on a room's pod naming the Secret that holds its secret variables.
pub const SECRET_ANNOTATION: &str = "baton.dev/secret";

/// At most this many rooms share one Secret (a few KiB; far from the 1 MiB object limit).
pub const BATCH_ROOMS: usize = 100;

/// How often writing a batch may find its namespace gone and make it again.
const SECRET_ROUNDS: usize = 3;

/// The key of variable `var` of container `container` of room `room` in its batch Secret. Room
/// ids and container names hold no '.', so the key names one variable of one room.
pub fn secret_key(room: &str, container: &str, var: &str) -> String {
    format!("{room}.{container}.{var}")
}

/// The name of the batch Secret whose first room is `room`.
pub fn batch_secret_name(room: &str) -> String {
    format!("{room}-secrets")
}

/// The variables a container of the room gets: its own, then the caller's (which win over its
/// own of the same name).
pub(super) fn container_env<'a>(
    container: &'a Container,
    env: &'a [EnvironmentVariable],
) -> impl Iterator<Item = &'a EnvironmentVariable> {
    container
        .environment
        .iter()
        .filter(|var| !env.iter().any(|given| given.name == var.name))
        .chain(env)
}

/// What room `room` keeps in its batch Secret, by key: the value of every secret variable of
/// every container (variables with a `valueFrom` are read from where they point instead).
pub fn room_secret_data(
    scheduler: &Scheduler,
    room: &str,
    env: &[EnvironmentVariable],
) -> Result<BTreeMap<String, String>, RuntimeError> {
    let mut data = BTreeMap::new();
    for container in &scheduler.config.spec.containers {
        let secrets =
            container_env(container, env).filter(|var| var.secret && var.value_from.is_none());
        for var in secrets {
            let key = secret_key(room, &container.name, &var.name);
            if room.contains('.') || !is_secret_key(&key) {
                return Err(RuntimeError::Rejected(format!(
                    "secret variable {} of room {room} cannot be kept in a Secret: \
                     {key:?} is not a valid Secret key",
                    var.name
                )));
            }
            data.insert(key, var.value.clone());
        }
    }
    Ok(data)
}

/// The keys of the pod's containers that point into its batch Secret (named in its
/// [`SECRET_ANNOTATION`]), with that Secret's name; `None` for a pod without secret variables.
pub fn pod_secret_keys(pod: &Pod) -> Option<(String, Vec<String>)> {
    let name = pod.metadata.annotations.as_ref()?.get(SECRET_ANNOTATION)?;
    let keys = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .flat_map(|container| container.env.iter().flatten())
        .filter_map(|var| var.value_from.as_ref()?.secret_key_ref.as_ref())
        .filter(|selector| &selector.name == name)
        .map(|selector| selector.key.clone())
        .collect();
    Some((name.clone(), keys))
}

/// One room waiting for the next batch of its scheduler.
struct Waiting {
    room: String,
    data: BTreeMap<String, String>,
    answer: oneshot::Sender<Result<String, RuntimeError>>,
}

/// The rooms of each scheduler waiting for their batch, and whether a batch is being written.
#[derive(Default)]
pub(super) struct SecretBatches {
    schedulers: std::sync::Mutex<HashMap<String, Queue>>,
}

#[derive(Default)]
struct Queue {
    writing: bool,
    waiting: Vec<Waiting>,
}

impl SecretBatches {
    /// The next batch of `scheduler` (its oldest waiting rooms), or `None`, and then no batch is
    /// being written any more.
    fn next_batch(&self, scheduler: &str) -> Option<Vec<Waiting>> {
        let mut schedulers = lock(&self.schedulers);
        let queue = schedulers.get_mut(scheduler)?;
        if queue.waiting.is_empty() {
            schedulers.remove(scheduler);
            return None;
        }
        let count = queue.waiting.len().min(BATCH_ROOMS);
        Some(queue.waiting.drain(..count).collect())
    }
}

impl KubernetesRuntime {
    fn secrets(&self, scheduler: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), scheduler)
    }

    /// Writes the room's secret variables into a batch Secret of the scheduler and answers its
    /// name, or `None` when the room has none. The batch is written by a task of its own, so a
    /// caller that gives up waiting holds up no other room.
    pub(super) async fn put_room_secrets(
        &self,
        scheduler: &str,
        room: &str,
        data: BTreeMap<String, String>,
    ) -> Result<Option<String>, RuntimeError> {
        if data.is_empty() {
            return Ok(None);
        }
        let (answer, answered) = oneshot::channel();
        let start_writer = {
            let mut schedulers = lock(&self.secret_batches.schedulers);
            let queue = schedulers.entry(scheduler.to_string()).or_default();
            queue.waiting.push(Waiting {
                room: room.to_string(),
                data,
                answer,
            });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start_writer {
            let runtime = self.clone();
            let scheduler = scheduler.to_string();
            tokio::spawn(async move { runtime.write_batches(&scheduler).await });
        }
        match answered.await {
            Ok(written) => written.map(Some),
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "writing the secrets of room {scheduler}/{room}: the writer stopped"
            ))),
        }
    }

    /// Writes the scheduler's batches one after another until no room waits.
    async fn write_batches(&self, scheduler: &str) {
        while let Some(batch) = self.secret_batches.next_batch(scheduler) {
            let name = batch_secret_name(&batch[0].room);
            let data = batch.iter().flat_map(|waiting| waiting.data.clone());
            let written = self.create_secret(scheduler, &name, data.collect()).await;
            for waiting in batch {
                // A room whose creation was abandoned no longer listens.
                let _ = waiting.answer.send(written.clone().map(|()| name.clone()));
            }
        }
    }

    /// Makes Secret `name` with these keys, labelled as Baton's. One that exists already is
    /// an earlier attempt of the same batch; a missing namespace is made again.
    async fn create_secret(
        &self,
        scheduler: &str,
        name: &str,
        data: BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let api = self.secrets(scheduler);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(baton_labels(scheduler)),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_string()),
            data: Some(
                data.into_iter()
                    .map(|(key, value)| (key, ByteString(value.into_bytes())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let what = format!("writing secret {scheduler}/{name}");
        let params = post_params();
        for _ in 0..SECRET_ROUNDS {
            self.ensure_namespace(scheduler).await?;
            match retry(&self.config, || api.create(&params, &secret)).await {
                // 409: an attempt answered too late made it.
                Ok(_) => return Ok(()),
                Err(error) if api_code(&error) == Some(409) => return Ok(()),
                // The namespace is gone: make it again.
                Err(error) if api_code(&error) == Some(404) => self.forget_namespace(scheduler),
                Err(error) => return Err(runtime_error(&what, error)),
            }
        }
        Err(RuntimeError::Unavailable(format!(
            "{what}: its namespace kept disappearing"
        )))
    }

    /// Removes `keys` from Secret `name`, and the Secret itself once no key is left in it (a
    /// missing Secret has none).
    pub(super) async fn drop_secret_keys(
        &self,
        scheduler: &str,
        name: &str,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<(), RuntimeError> {
        let removed: serde_json::Map<String, Value> =
            keys.into_iter().map(|key| (key, Value::Null)).collect();
        if removed.is_empty() {
            return Ok(());
        }
        let api = self.secrets(scheduler);
        let patch = json!({"data": removed});
        let patch = Patch::Merge(&patch);
        let params = patch_params();
        let left = match retry(&self.config, || api.patch(name, &params, &patch)).await {
            Ok(secret) => secret.data.map_or(0, |data| data.len()),
            Err(error) if api_code(&error) == Some(404) => return Ok(()),
            Err(error) => {
                let what = format!("removing keys from secret {scheduler}/{name}");
                return Err(runtime_error(&what, error));
            }
        };
        if left > 0 {
            return Ok(());
        }
        let params = DeleteParams::default();
        match retry(&self.config, || api.delete(name, &params)).await {
            Ok(_) => Ok(()),
            Err(error) if api_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(runtime_error(
                &format!("deleting secret {scheduler}/{name}"),
                error,
            )),
        }
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}
