//! Secret variables (the room token, spec variables marked `secret`) travel in one Secret per
//! scheduler, [`ROOM_SECRET`] in the scheduler's namespace, one key per room, container and
//! variable; the pod only references them (`valueFrom.secretKeyRef`), so reading pods shows no
//! secret. A room's keys are written before its pod is posted and removed when it is deleted.

use std::collections::BTreeMap;

use app::domain::scheduler::{Container, EnvironmentVariable, Scheduler};
use app::domain::validation::is_secret_key;
use app::ports::RuntimeError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::namespaces::baton_labels;
use super::retry::{api_code, retry, runtime_error};
use super::{FIELD_MANAGER, KubernetesRuntime, post_params};

/// The Secret, in each scheduler's namespace, that holds its rooms' secret variables.
pub const ROOM_SECRET: &str = "baton-room-secrets";

/// How often writing a room's keys may find the Secret (or its namespace) gone and make it again.
const SECRET_ROUNDS: usize = 3;

/// The key of variable `var` of container `container` of room `room` in [`ROOM_SECRET`]. Room
/// ids and container names hold no '.', so the key names one variable of one room.
pub fn secret_key(room: &str, container: &str, var: &str) -> String {
    format!("{room}.{container}.{var}")
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

/// What room `room` keeps in [`ROOM_SECRET`], by key: the value of every secret variable of every
/// container (variables with a `valueFrom` are read from where they point instead).
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
                    "secret variable {} of room {room} cannot be kept in Secret {ROOM_SECRET}: \
                     {key:?} is not a valid Secret key",
                    var.name
                )));
            }
            data.insert(key, var.value.clone());
        }
    }
    Ok(data)
}

/// The keys of `room` among the keys of [`ROOM_SECRET`].
fn is_room_key(room: &str, key: &str) -> bool {
    key.strip_prefix(room)
        .is_some_and(|rest| rest.starts_with('.'))
}

impl KubernetesRuntime {
    fn secrets(&self, scheduler: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), scheduler)
    }

    /// Adds the room's keys to the scheduler's Secret, making the Secret (labelled as Baton's)
    /// when it is missing. A creation answered 409 means another room made it meanwhile.
    pub(super) async fn put_room_secrets(
        &self,
        scheduler: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        if data.is_empty() {
            return Ok(());
        }
        let api = self.secrets(scheduler);
        let encoded: BTreeMap<&str, String> = data
            .iter()
            .map(|(key, value)| (key.as_str(), STANDARD.encode(value)))
            .collect();
        let patch = json!({
            "metadata": {"labels": baton_labels(scheduler)},
            "data": encoded,
        });
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(ROOM_SECRET.to_string()),
                labels: Some(baton_labels(scheduler)),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_string()),
            data: Some(
                data.iter()
                    .map(|(key, value)| (key.clone(), ByteString(value.clone().into_bytes())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let what = format!("writing secret {scheduler}/{ROOM_SECRET}");
        let (patch_params, post_params) = (patch_params(), post_params());
        let patch = Patch::Merge(&patch);
        for _ in 0..SECRET_ROUNDS {
            match retry(&self.config, || {
                api.patch(ROOM_SECRET, &patch_params, &patch)
            })
            .await
            {
                Ok(_) => return Ok(()),
                Err(error) if api_code(&error) == Some(404) => {}
                Err(error) => return Err(runtime_error(&what, error)),
            }
            match retry(&self.config, || api.create(&post_params, &secret)).await {
                Ok(_) => return Ok(()),
                // Made by another room's creation meanwhile: add the keys to it.
                Err(error) if api_code(&error) == Some(409) => {}
                // The namespace is gone: make it again.
                Err(error) if api_code(&error) == Some(404) => {
                    self.forget_namespace(scheduler);
                    self.ensure_namespace(scheduler).await?;
                }
                Err(error) => return Err(runtime_error(&what, error)),
            }
        }
        Err(RuntimeError::Unavailable(format!(
            "{what}: the Secret or its namespace kept disappearing"
        )))
    }

    /// Removes the room's keys from the scheduler's Secret, whatever they are.
    pub(super) async fn remove_room_secrets(
        &self,
        scheduler: &str,
        room: &str,
    ) -> Result<(), RuntimeError> {
        let api = self.secrets(scheduler);
        let what = format!("reading secret {scheduler}/{ROOM_SECRET}");
        let secret = match retry(&self.config, || api.get(ROOM_SECRET)).await {
            Ok(secret) => secret,
            Err(error) if api_code(&error) == Some(404) => return Ok(()),
            Err(error) => return Err(runtime_error(&what, error)),
        };
        let keys: Vec<String> = secret
            .data
            .iter()
            .flatten()
            .map(|(key, _)| key)
            .filter(|key| is_room_key(room, key))
            .cloned()
            .collect();
        self.drop_secret_keys(scheduler, keys).await
    }

    /// Removes these keys from the scheduler's Secret (a missing Secret has none).
    pub(super) async fn drop_secret_keys(
        &self,
        scheduler: &str,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<(), RuntimeError> {
        let removed: serde_json::Map<String, Value> =
            keys.into_iter().map(|key| (key, Value::Null)).collect();
        if removed.is_empty() {
            return Ok(());
        }
        let patch = json!({"data": removed});
        let patch = Patch::Merge(&patch);
        let api = self.secrets(scheduler);
        let params = patch_params();
        match retry(&self.config, || api.patch(ROOM_SECRET, &params, &patch)).await {
            Ok(_) => Ok(()),
            Err(error) if api_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(runtime_error(
                &format!("removing keys from secret {scheduler}/{ROOM_SECRET}"),
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
