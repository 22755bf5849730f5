//! Reading `deploy/kubernetes/*.yaml`: every document into its `k8s-openapi` type by
//! `apiVersion` and `kind`, refusing any field the type does not keep.
//!
//! `k8s-openapi` ignores fields it does not know when deserializing, so a misspelt field would
//! vanish silently; here the typed object is serialized back and every field of the document
//! must come back with the same value ([`dropped_fields`]).

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Deserialize;
use serde_json::Value;

/// One manifest document, typed. A handful of them are read once: their sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    ConfigMap(ConfigMap),
    Secret(Secret),
    Deployment(Deployment),
    Service(Service),
    PodDisruptionBudget(PodDisruptionBudget),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Namespace(_) => "Namespace",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::ClusterRole(_) => "ClusterRole",
            Object::ClusterRoleBinding(_) => "ClusterRoleBinding",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
            Object::Deployment(_) => "Deployment",
            Object::Service(_) => "Service",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
        }
    }
}

/// Every document of `deploy/kubernetes/`, with the file it is in.
pub struct Manifests {
    pub all: Vec<(PathBuf, Object)>,
}

/// The one object of a kind (there must be exactly one).
macro_rules! the_one {
    ($name:ident, $variant:ident, $type:ty) => {
        pub fn $name(&self) -> &$type {
            let found: Vec<&$type> = self
                .all
                .iter()
                .filter_map(|(_, object)| match object {
                    Object::$variant(typed) => Some(typed),
                    _ => None,
                })
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{} objects of kind {}",
                found.len(),
                stringify!($variant)
            );
            found[0]
        }
    };
}

impl Manifests {
    the_one!(service_account, ServiceAccount, ServiceAccount);
    the_one!(cluster_role, ClusterRole, ClusterRole);
    the_one!(cluster_role_binding, ClusterRoleBinding, ClusterRoleBinding);
    the_one!(config_map, ConfigMap, ConfigMap);
    the_one!(secret, Secret, Secret);
    the_one!(deployment, Deployment, Deployment);
    the_one!(service, Service, Service);
    the_one!(disruption_budget, PodDisruptionBudget, PodDisruptionBudget);
}

pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Reads and types every document; panics naming the file and the problem.
pub fn manifests() -> Manifests {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifests_dir())
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifest in deploy/kubernetes");
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable manifest");
        for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let document = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{}, document {index}: {e}", file.display()));
            if document.is_null() {
                continue;
            }
            let object = typed(&document)
                .unwrap_or_else(|e| panic!("{}, document {index}: {e}", file.display()));
            all.push((file.clone(), object));
        }
    }
    Manifests { all }
}

/// The document as its type, when every one of its fields is kept.
pub fn typed(document: &Value) -> Result<Object, String> {
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let kind = document["kind"].as_str().unwrap_or_default();
    macro_rules! parse {
        ($variant:ident, $type:ty) => {{
            let typed: $type =
                serde_json::from_value(document.clone()).map_err(|e| format!("{kind}: {e}"))?;
            let back = serde_json::to_value(&typed).map_err(|e| format!("{kind}: {e}"))?;
            let dropped = dropped_fields(document, &back);
            if !dropped.is_empty() {
                return Err(format!("{kind}: unknown or invalid fields {dropped:?}"));
            }
            Ok(Object::$variant(typed))
        }};
    }
    match (api_version, kind) {
        ("v1", "Namespace") => parse!(Namespace, Namespace),
        ("v1", "ServiceAccount") => parse!(ServiceAccount, ServiceAccount),
        ("v1", "ConfigMap") => parse!(ConfigMap, ConfigMap),
        ("v1", "Secret") => parse!(Secret, Secret),
        ("v1", "Service") => parse!(Service, Service),
        ("apps/v1", "Deployment") => parse!(Deployment, Deployment),
        ("policy/v1", "PodDisruptionBudget") => parse!(PodDisruptionBudget, PodDisruptionBudget),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => parse!(ClusterRole, ClusterRole),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            parse!(ClusterRoleBinding, ClusterRoleBinding)
        }
        _ => Err(format!(
            "no type known for apiVersion {api_version:?} kind {kind:?}"
        )),
    }
}

/// The paths of the fields of `original` that `back` (its typed round trip) lacks or changed.
/// Fields `back` adds (defaults of the type) are fine; a `null` in the original means absent.
pub fn dropped_fields(original: &Value, back: &Value) -> Vec<String> {
    let mut dropped = Vec::new();
    compare(original, back, "", &mut dropped);
    dropped
}

fn compare(original: &Value, back: &Value, path: &str, dropped: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(fields), Value::Object(kept)) => {
            for (name, value) in fields {
                let inner = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match kept.get(name) {
                    _ if value.is_null() => {}
                    Some(kept) => compare(value, kept, &inner, dropped),
                    None => dropped.push(inner),
                }
            }
        }
        (Value::Array(items), Value::Array(kept)) if items.len() == kept.len() => {
            for (index, (item, kept)) in items.iter().zip(kept).enumerate() {
                compare(item, kept, &format!("{path}[{index}]"), dropped);
            }
        }
        (original, back) if same_scalar(original, back) => {}
        _ => dropped.push(path.to_string()),
    }
}

/// Equal, or the same number written once as a number and once as a string (int-or-string,
/// quantities).
fn same_scalar(original: &Value, back: &Value) -> bool {
    let text = |value: &Value| match value {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(text.clone()),
        _ => None,
    };
    original == back || (text(original).is_some() && text(original) == text(back))
}
