//! Validation of a scheduler: every error, each with the path of the field at fault
//! (`spec.containers[0].requests.memory`). Runs on the server and in the browser.

// `allocation`, which the dashboard's form does not edit, is checked on the server only (the API
// answers its field paths), which keeps its rules out of the browser's bundle. The form edits
// `capacity`, so the browser checks it with the same rules.
#[cfg(feature = "ssr")]
mod allocation;
mod capacity;
mod containers;
mod names;
mod ports;
mod regions;
mod scheduler;

#[cfg(test)]
mod autoscaling_tests;

use serde::{Deserialize, Serialize};

pub use capacity::is_os_version_pattern;
pub(crate) use containers::validate_resources;
pub use names::{
    is_dns_label, is_dns_subdomain, is_env_name, is_game_name, is_port_name, is_qualified_key,
    is_secret_key, reserved_namespace,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Path of the field at fault, e.g. `spec.containers[0].requests.memory`.
    pub field: String,
    pub message: String,
}

/// Collects errors while walking a value; empty means valid.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.add(field, message);
        }
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// What the tests of every concern start from.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::domain::scheduler::SchedulerConfig;

    pub(crate) fn valid() -> SchedulerConfig {
        serde_json::from_value(serde_json::json!({
            "name": "my-scheduler", "game": "my-game", "roomsReplicas": 1,
            "portRange": {"start": 20000, "end": 21000}, "maxSurge": "10%",
            "spec": {"terminationGracePeriod": "100s", "containers": [{
                "name": "game-container", "image": "game:1", "imagePullPolicy": "IfNotPresent",
                "command": ["./run"], "environment": [{"name": "EXAMPLE_NAME", "value": "x"}],
                "requests": {"memory": "100Mi", "cpu": "100m"},
                "limits": {"memory": "200Mi", "cpu": "200m"},
                "ports": [{"name": "port-name", "protocol": "tcp", "port": 12345}]}]},
            "forwarders": []
        }))
        .unwrap()
    }

    pub(crate) fn fields(config: &SchedulerConfig) -> Vec<String> {
        match config.validate() {
            Ok(()) => vec![],
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }
}
