//! The scheduler's namespace, named after the scheduler: Baton creates it with its own labels
//! ([`baton_labels`]), never adopts a namespace it did not create, and never deletes one that
//! lacks those labels.

use std::collections::BTreeMap;

use app::ports::RuntimeError;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Preconditions};

use super::retry::{api_code, retry, runtime_error};
use super::{KubernetesRuntime, SCHEDULER_LABEL, lock, post_params};

/// The well-known label naming the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Baton's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "baton";

/// The labels Baton puts on what it makes for a scheduler: its namespace and its Secret.
pub fn baton_labels(scheduler: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
        (SCHEDULER_LABEL.to_string(), scheduler.to_string()),
    ])
}

/// Whether `labels` say Baton made the object for `scheduler`.
pub fn is_baton_owned(labels: &BTreeMap<String, String>, scheduler: &str) -> bool {
    baton_labels(scheduler)
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

/// Why Baton leaves namespace `scheduler` alone.
fn not_baton_owned(scheduler: &str, consequence: &str) -> RuntimeError {
    RuntimeError::Rejected(format!(
        "namespace {scheduler} was not created by Baton for scheduler {scheduler} (it lacks the \
         labels {MANAGED_BY_LABEL}={MANAGED_BY} and {SCHEDULER_LABEL}={scheduler}): {consequence}"
    ))
}

impl KubernetesRuntime {
    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    pub(super) fn forget_namespace(&self, scheduler: &str) {
        lock(&self.known_namespaces).remove(scheduler);
    }

    /// Creates the scheduler's namespace unless this process already knows it is there. One that
    /// exists already (409) is used only when it carries Baton's labels for this scheduler.
    /// Creations that arrive together wait for the first one's check (one call, not one each).
    pub(super) async fn ensure_namespace(&self, scheduler: &str) -> Result<(), RuntimeError> {
        if lock(&self.known_namespaces).contains(scheduler) {
            return Ok(());
        }
        let _checking = self.namespace_checks.lock().await;
        if lock(&self.known_namespaces).contains(scheduler) {
            return Ok(());
        }
        let api = self.namespaces();
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(scheduler.to_string()),
                labels: Some(baton_labels(scheduler)),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let params = post_params();
        match retry(&self.config, || api.create(&params, &namespace)).await {
            Ok(_) => {}
            Err(error) if api_code(&error) == Some(409) => {
                match self.read_namespace(scheduler).await? {
                    Some(existing) if is_baton_owned(existing.labels(), scheduler) => {}
                    Some(_) => {
                        return Err(not_baton_owned(
                            scheduler,
                            "Baton does not adopt namespaces it did not create",
                        ));
                    }
                    None => {
                        return Err(RuntimeError::Unavailable(format!(
                            "namespace {scheduler} was there when created and gone when read"
                        )));
                    }
                }
            }
            Err(error) => {
                return Err(runtime_error(
                    &format!("creating namespace {scheduler}"),
                    error,
                ));
            }
        }
        lock(&self.known_namespaces).insert(scheduler.to_string());
        Ok(())
    }

    /// The scheduler's namespace, `None` when there is none.
    async fn read_namespace(&self, scheduler: &str) -> Result<Option<Namespace>, RuntimeError> {
        let api = self.namespaces();
        match retry(&self.config, || api.get(scheduler)).await {
            Ok(namespace) => Ok(Some(namespace)),
            Err(error) if api_code(&error) == Some(404) => Ok(None),
            Err(error) => Err(runtime_error(
                &format!("reading namespace {scheduler}"),
                error,
            )),
        }
    }

    /// Deletes the scheduler's namespace (and everything in it) when it is Baton's; one without
    /// Baton's labels is left alone and reported.
    pub(super) async fn delete_namespace(&self, scheduler: &str) -> Result<(), RuntimeError> {
        let namespace = match self.read_namespace(scheduler).await? {
            None => return Ok(()),
            Some(namespace) if !is_baton_owned(namespace.labels(), scheduler) => {
                return Err(not_baton_owned(scheduler, "left alone, not deleted"));
            }
            // Already on its way out (deleting it again would answer 409).
            Some(namespace) if namespace.metadata.deletion_timestamp.is_some() => return Ok(()),
            Some(namespace) => namespace,
        };
        let api = self.namespaces();
        // Only the namespace just read, as it was read: not one relabelled or made anew since.
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: namespace.metadata.uid,
                resource_version: namespace.metadata.resource_version,
            }),
            ..DeleteParams::default()
        };
        match retry(&self.config, || api.delete(scheduler, &params)).await {
            Ok(_) => Ok(()),
            Err(error) if api_code(&error) == Some(404) => Ok(()),
            Err(error) if api_code(&error) == Some(409) => Err(RuntimeError::Unavailable(format!(
                "namespace {scheduler} changed while being deleted; not deleted, try again"
            ))),
            Err(error) => Err(runtime_error(
                &format!("deleting namespace {scheduler}"),
                error,
            )),
        }
    }
}
