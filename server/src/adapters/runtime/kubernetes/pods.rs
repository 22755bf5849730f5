//! The room's pod: what Baton sends for a room (pure, [`room_pod`]) and posting it.

use std::collections::BTreeMap;

use app::domain::scheduler::{EnvironmentVariable, Resources, Scheduler};
use app::ports::RuntimeError;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec,
    ResourceRequirements, SecretKeySelector, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::machines::MachinesConfig;
use super::placement;
use super::retry::{api_code, retry, runtime_error};
use super::secrets::{SECRET_ANNOTATION, batch_secret_name, container_env, secret_key};
use super::{
    KubernetesRuntime, ROOM_LABEL, SCHEDULER_LABEL, VERSION_LABEL, post_params, scheduler_selector,
};

impl KubernetesRuntime {
    pub(super) fn pods(&self, scheduler: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), scheduler)
    }

    pub(super) async fn list_pods(&self, scheduler: &str) -> Result<Vec<Pod>, RuntimeError> {
        let api = self.pods(scheduler);
        let params = ListParams::default().labels(&scheduler_selector(scheduler));
        retry(&self.config, || api.list(&params))
            .await
            .map(|list| list.items)
            .map_err(|error| runtime_error(&format!("listing pods of {scheduler}"), error))
    }

    /// Posts the room's pod; `None` when the namespace is missing (deleted behind our back).
    /// An existing pod of the same name is fine when it is this room's (an earlier attempt).
    pub(super) async fn post_pod(
        &self,
        scheduler: &str,
        room: &str,
        pod: &Pod,
    ) -> Result<Option<Pod>, RuntimeError> {
        let api = self.pods(scheduler);
        let params = post_params();
        match retry(&self.config, || api.create(&params, pod)).await {
            Ok(created) => Ok(Some(created)),
            Err(error) if api_code(&error) == Some(409) => {
                self.existing_pod(scheduler, room).await.map(Some)
            }
            Err(error) if api_code(&error) == Some(404) => Ok(None),
            Err(error) => Err(runtime_error(
                &format!("creating pod {scheduler}/{room}"),
                error,
            )),
        }
    }

    pub(super) async fn existing_pod(
        &self,
        scheduler: &str,
        room: &str,
    ) -> Result<Pod, RuntimeError> {
        let api = self.pods(scheduler);
        let pod = retry(&self.config, || api.get(room))
            .await
            .map_err(|error| runtime_error(&format!("reading pod {scheduler}/{room}"), error))?;
        let labels = pod.labels();
        let ours = labels.get(SCHEDULER_LABEL).map(String::as_str) == Some(scheduler)
            && labels.get(ROOM_LABEL).map(String::as_str) == Some(room);
        if ours {
            Ok(pod)
        } else {
            Err(RuntimeError::Rejected(format!(
                "pod {scheduler}/{room} already exists and is not this room's"
            )))
        }
    }
}

/// The pod of room `room`: `assigned` are the host ports for the container ports without one, in
/// the order of the containers and their ports. Secret variables are read from the Secret of a
/// batch the room starts ([`batch_secret_name`]), never written into the pod; `valueFrom`
/// variables pass unchanged.
pub fn room_pod(
    scheduler: &Scheduler,
    room: &str,
    env: &[EnvironmentVariable],
    assigned: &[u16],
) -> Pod {
    let secret = batch_secret_name(room);
    room_pod_placed(
        scheduler,
        room,
        env,
        assigned,
        Some(&secret),
        &MachinesConfig::default(),
    )
}

/// [`room_pod`], with its secret variables read from Secret `secret` (named in the pod's
/// [`SECRET_ANNOTATION`]), placed as the scheduler's capacity section says (see `placement`),
/// with the node labels of `machines`.
pub fn room_pod_placed(
    scheduler: &Scheduler,
    room: &str,
    env: &[EnvironmentVariable],
    assigned: &[u16],
    secret: Option<&str>,
    machines: &MachinesConfig,
) -> Pod {
    let config = &scheduler.config;
    let spec = &config.spec;
    let mut labels = config.labels.clone();
    labels.insert(SCHEDULER_LABEL.to_string(), config.name.clone());
    labels.insert(ROOM_LABEL.to_string(), room.to_string());
    labels.insert(VERSION_LABEL.to_string(), scheduler.version.clone());

    let mut assigned = assigned.iter().copied();
    let quota_requests = placement::quota_requests(scheduler);
    let containers: Vec<Container> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(index, container)| {
            let ports: Vec<ContainerPort> = container
                .ports
                .iter()
                .map(|port| ContainerPort {
                    name: Some(port.name.clone()),
                    container_port: port.port as i32,
                    protocol: Some(port.protocol.to_ascii_uppercase()),
                    host_port: match port.host_port {
                        Some(host_port) => Some(host_port as i32),
                        None => assigned.next().map(i32::from),
                    },
                    ..ContainerPort::default()
                })
                .collect();
            let env: Vec<EnvVar> = container_env(container, env)
                .map(|var| env_var(room, &container.name, var, secret.unwrap_or_default()))
                .collect();
            let mut requests = quantities(container.requests.as_ref());
            if index == 0
                && let Some(quota) = &quota_requests
            {
                requests = Some(quota.clone());
            }
            let limits = quantities(container.limits.as_ref());
            Container {
                name: container.name.clone(),
                image: Some(container.image.clone()),
                image_pull_policy: non_empty(&container.image_pull_policy),
                command: (!container.command.is_empty()).then(|| container.command.clone()),
                env: (!env.is_empty()).then_some(env),
                resources: (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
                    requests,
                    limits,
                    ..ResourceRequirements::default()
                }),
                ports: (!ports.is_empty()).then_some(ports),
                ..Container::default()
            }
        })
        .collect();

    let mut annotations = config.annotations.clone();
    let secret_read = |container: &Container| {
        container.env.iter().flatten().any(|var| {
            var.value_from
                .as_ref()
                .and_then(|source| source.secret_key_ref.as_ref())
                .is_some_and(|selector| Some(selector.name.as_str()) == secret)
        })
    };
    if let Some(secret) = secret
        && containers.iter().any(secret_read)
    {
        annotations.insert(SECRET_ANNOTATION.to_string(), secret.to_string());
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(room.to_string()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers,
            restart_policy: Some(spec.restart_policy.clone()),
            termination_grace_period_seconds: spec
                .termination_grace_period
                .seconds()
                .map(|seconds| i64::try_from(seconds).unwrap_or(i64::MAX)),
            tolerations: non_empty(&spec.toleration).map(|key| {
                vec![Toleration {
                    key: Some(key),
                    operator: Some("Equal".to_string()),
                    value: Some("true".to_string()),
                    effect: Some("NoSchedule".to_string()),
                    ..Toleration::default()
                }]
            }),
            affinity: placement::node_affinity(scheduler, machines),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// A variable as the pod carries it: its source when it has one, a reference into Secret
/// `secret` when it is secret, its value otherwise.
fn env_var(room: &str, container: &str, var: &EnvironmentVariable, secret: &str) -> EnvVar {
    let value_from = match &var.value_from {
        Some(source) => Some(EnvVarSource {
            field_ref: source.field_ref.as_ref().map(|field| ObjectFieldSelector {
                field_path: field.field_path.clone(),
                ..ObjectFieldSelector::default()
            }),
            secret_key_ref: source
                .secret_key_ref
                .as_ref()
                .map(|secret| SecretKeySelector {
                    name: secret.name.clone(),
                    key: secret.key.clone(),
                    ..SecretKeySelector::default()
                }),
            ..EnvVarSource::default()
        }),
        None if var.secret => Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: secret_key(room, container, &var.name),
                ..SecretKeySelector::default()
            }),
            ..EnvVarSource::default()
        }),
        None => None,
    };
    EnvVar {
        name: var.name.clone(),
        value: value_from.is_none().then(|| var.value.clone()),
        value_from,
    }
}

fn quantities(resources: Option<&Resources>) -> Option<BTreeMap<String, Quantity>> {
    let resources = resources?;
    let map: BTreeMap<String, Quantity> = [("cpu", &resources.cpu), ("memory", &resources.memory)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_string(), Quantity(value.clone())))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}
