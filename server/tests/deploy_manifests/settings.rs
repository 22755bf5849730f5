//! Baton's settings as the Deployment gives them: the ConfigMap and the Secret's keys, parsed as
//! `baton serve`'s configuration, and no secret written in plain text.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;

use clap::{ArgAction, CommandFactory, Parser};
use k8s_openapi::api::core::v1::EnvVar;
use server::config::{Config, RuntimeKind};

use super::baton_container;
use super::objects::{Manifests, manifests};

#[test]
fn settings_come_from_the_config_map_and_parse_as_baton_s_configuration() {
    let manifests = manifests();
    let config = deployed_config(&manifests);
    assert_eq!(config.runtime, RuntimeKind::Kubernetes);
    assert!(config.database_url.starts_with("postgres://"));
    assert!(config.redis_url.is_some(), "two replicas share Redis");
    // Rooms, in namespaces of their own, call Baton back through its Service.
    let service = manifests.service();
    let (name, namespace) = (
        service.metadata.name.clone(),
        service.metadata.namespace.clone(),
    );
    let port = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default()[0]
        .port;
    let expected = format!(
        "http://{}.{}.svc.cluster.local:{port}",
        name.unwrap_or_default(),
        namespace.unwrap_or_default()
    );
    assert_eq!(config.api_url.as_deref(), Some(expected.as_str()));
}

/// Every secret setting is read from the Secret by key; none is written in the Deployment or the
/// ConfigMap, and every key the Deployment needs is in the Secret's template.
#[test]
fn secrets_come_from_the_secret_only() {
    let manifests = manifests();
    let secret = manifests.secret();
    let secret_name = secret.metadata.name.clone().expect("a Secret name");
    let template_keys: Vec<String> = secret
        .string_data
        .iter()
        .flatten()
        .map(|(key, _)| key.clone())
        .chain(secret.data.iter().flatten().map(|(key, _)| key.clone()))
        .collect();
    let container = baton_container(manifests.deployment());
    let env = container.env.as_deref().unwrap_or_default();
    let mut from_secret = Vec::new();
    for var in env {
        let reference = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref());
        match reference {
            Some(reference) => {
                assert_eq!(
                    reference.name, secret_name,
                    "{} reads another Secret",
                    var.name
                );
                assert!(
                    reference.optional == Some(true) || template_keys.contains(&reference.key),
                    "{} needs key {} that the Secret's template lacks",
                    var.name,
                    reference.key
                );
                from_secret.push(reference.key.clone());
            }
            None => assert!(!looks_secret(&var.name), "{} is written inline", var.name),
        }
    }
    for key in &template_keys {
        assert!(
            from_secret.contains(key),
            "Secret key {key} is read by nobody"
        );
    }
    for required in [
        "BATON_DATABASE_URL",
        "BATON_REDIS_URL",
        "BATON_ADMIN_PASSWORD",
    ] {
        assert!(
            from_secret.iter().any(|k| k == required),
            "{required} not read from the Secret"
        );
    }
    let config_map = manifests.config_map();
    for key in config_map.data.iter().flatten().map(|(key, _)| key) {
        assert!(!looks_secret(key), "ConfigMap key {key} looks secret");
    }
    // The only envFrom is the ConfigMap: a whole Secret poured into the environment would hide
    // which keys are read.
    for source in container.env_from.iter().flatten() {
        assert!(source.secret_ref.is_none(), "envFrom a Secret: {source:?}");
        assert_eq!(
            source.config_map_ref.as_ref().map(|r| &r.name),
            config_map.metadata.name.as_ref()
        );
    }
}

/// Names of settings that must never be written in plain text.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "REDIS_URL"]
        .iter()
        .any(|part| name.contains(part))
}

/// Baton's configuration as the Deployment's environment gives it: the ConfigMap, the plain
/// variables, and the Secret's template values for its references. Every variable must be one
/// Baton reads (a misspelt name would otherwise be ignored).
pub fn deployed_config(manifests: &Manifests) -> Config {
    let mut environment: BTreeMap<String, String> = BTreeMap::new();
    let container = baton_container(manifests.deployment());
    let config_map = manifests.config_map();
    for source in container.env_from.iter().flatten() {
        if source.config_map_ref.as_ref().map(|r| &r.name) == config_map.metadata.name.as_ref() {
            environment.extend(config_map.data.clone().unwrap_or_default());
        }
    }
    let secret = manifests.secret().string_data.clone().unwrap_or_default();
    for EnvVar {
        name,
        value,
        value_from,
    } in container.env.iter().flatten()
    {
        let reference = value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref());
        match (value, reference) {
            (Some(value), _) => {
                environment.insert(name.clone(), value.clone());
            }
            (None, Some(reference)) => {
                if let Some(value) = secret.get(&reference.key) {
                    environment.insert(name.clone(), value.clone());
                }
            }
            (None, None) => panic!("{name} has neither a value nor a Secret reference"),
        }
    }
    config_from_environment(&environment)
}

/// Parses `environment` as the server would read it, each variable turned into its flag.
fn config_from_environment(environment: &BTreeMap<String, String>) -> Config {
    let command = Config::command();
    let mut args: Vec<OsString> = vec!["baton".into()];
    for (name, value) in environment {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name.as_str()))
            .unwrap_or_else(|| panic!("{name} is not a setting Baton reads"));
        let long = arg
            .get_long()
            .unwrap_or_else(|| panic!("{name} has no flag"));
        match arg.get_action() {
            ArgAction::SetTrue => {
                if !matches!(value.as_str(), "" | "0" | "false") {
                    args.push(format!("--{long}").into());
                }
            }
            _ => args.push(format!("--{long}={value}").into()),
        }
    }
    Config::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn a_misspelt_setting_is_refused() {
    let environment = BTreeMap::from([("BATON_LISTN".to_string(), "0.0.0.0:8080".to_string())]);
    let outcome = std::panic::catch_unwind(|| config_from_environment(&environment));
    let message = outcome
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned());
    assert_eq!(
        message.as_deref(),
        Some("BATON_LISTN is not a setting Baton reads")
    );
    // And a correct one is read.
    let listen: SocketAddr = "0.0.0.0:9000".parse().expect("an address");
    let environment = BTreeMap::from([("BATON_LISTEN".to_string(), listen.to_string())]);
    assert_eq!(config_from_environment(&environment).listen, listen);
}
