//! Maestro v9 scheduler files (YAML) as Baton schedulers: a pure mapping, field by field, that
//! also says what of the file had no equivalent.
//!
//! v9's shape: `name`, `game`, one container's fields at the top (`image`, `imagePullPolicy`,
//! `ports`, `limits`, `requests`, `env`, `cmd`) or a `containers` list of them,
//! `shutdownTimeout` (seconds), `occupiedTimeout`, `portRange`, `maxSurge`, `nodeAffinity`,
//! `toleration`, `forwarders`, `authorizedUsers` and `autoscaling` (`min`, `max`, and per
//! direction `up`/`down`: `delta`, `trigger` {`usage`, `time`, `threshold`, `limit`},
//! `metricsTrigger` [...], `cooldown`).

use app::domain::autoscaling::{Autoscaling, MetricsTrigger, ScalingDirection};
use app::domain::capacity::zeuz::{DEFAULT_PORT_RANGE, NotMapped};
use app::domain::quantity::GracePeriod;
use app::domain::scheduler::{
    Container, ContainerPort, EnvironmentSource, EnvironmentVariable, FieldReference, GameRoomSpec,
    PortRange, Resources, SchedulerConfig, SecretKeyReference, default_max_surge,
    default_pull_policy,
};
use app::domain::validation::FieldError;
use serde_json::{Map, Value};

/// The name given to the container of a v9 file that describes one container at its top.
pub const SINGLE_CONTAINER: &str = "game";
/// v9's trigger threshold when a file leaves it out.
pub const DEFAULT_THRESHOLD: i64 = 80;

/// The scheduler a v9 file describes, and what of it was dropped or defaulted (by v9 path).
pub fn to_scheduler(doc: &Value) -> Result<(SchedulerConfig, Vec<NotMapped>), Vec<FieldError>> {
    let Some(object) = doc.as_object() else {
        return Err(vec![FieldError {
            field: String::new(),
            message: "a Maestro v9 scheduler is a mapping".into(),
        }]);
    };
    let mut m = Mapper::default();
    let mut top = object.clone();
    let name = m.text(&mut top, "", "name").unwrap_or_default();
    let game = m.text(&mut top, "", "game").unwrap_or_default();
    let containers = match top.remove("containers") {
        Some(Value::Array(list)) => {
            let mut containers = Vec::new();
            for (i, item) in list.into_iter().enumerate() {
                let path = format!("containers[{i}]");
                match item {
                    Value::Object(mut fields) => {
                        let container = m.container(&mut fields, &path, None);
                        m.leftovers(fields, &path);
                        containers.push(container);
                    }
                    _ => m.error(&path, "must be a mapping"),
                }
            }
            containers
        }
        Some(_) => {
            m.error("containers", "must be a list");
            Vec::new()
        }
        None => vec![m.container(&mut top, "", Some(SINGLE_CONTAINER))],
    };
    let termination_grace_period = match m.int(&mut top, "", "shutdownTimeout") {
        Some(seconds) => GracePeriod(format!("{seconds}s")),
        None => GracePeriod::default(),
    };
    let port_range = match top.remove("portRange") {
        Some(Value::Object(mut range)) => {
            let start = m.int(&mut range, "portRange", "start").unwrap_or_default();
            let end = m.int(&mut range, "portRange", "end").unwrap_or_default();
            m.leftovers(range, "portRange");
            Some(PortRange { start, end })
        }
        Some(_) => {
            m.error("portRange", "must be a mapping of start and end");
            None
        }
        None => {
            m.note(
                "portRange",
                &format!(
                    "not in the file (v9 took it from Maestro's settings): {}-{} used",
                    DEFAULT_PORT_RANGE.start, DEFAULT_PORT_RANGE.end
                ),
            );
            Some(DEFAULT_PORT_RANGE)
        }
    };
    let max_surge = m
        .text(&mut top, "", "maxSurge")
        .unwrap_or_else(default_max_surge);
    let affinity = m.text(&mut top, "", "nodeAffinity").unwrap_or_default();
    let toleration = m.text(&mut top, "", "toleration").unwrap_or_default();
    let autoscaling = match top.remove("autoscaling") {
        Some(Value::Object(fields)) => Some(m.autoscaling(fields)),
        Some(Value::Null) | None => None,
        Some(_) => {
            m.error("autoscaling", "must be a mapping");
            None
        }
    };
    for (field, why) in [
        (
            "occupiedTimeout",
            "Baton has no occupied timeout: a room stays occupied until it reports another status",
        ),
        (
            "authorizedUsers",
            "Baton authorizes by its users' roles and games: grant them on Baton",
        ),
        (
            "forwarders",
            "v9 forwarders name plugins configured in Maestro; add Baton forwarders (name, address) to the scheduler",
        ),
    ] {
        if top.remove(field).is_some() {
            m.note(field, why);
        }
    }
    m.leftovers(top, "");
    if !m.errors.is_empty() {
        return Err(m.errors);
    }
    let config = SchedulerConfig {
        name,
        game,
        rooms_replicas: autoscaling.as_ref().map_or(0, |a| a.min),
        port_range,
        max_surge,
        spec: GameRoomSpec {
            termination_grace_period,
            containers,
            toleration,
            affinity,
            ..GameRoomSpec::default()
        },
        autoscaling,
        ..SchedulerConfig::default()
    };
    Ok((config, m.notes))
}

#[derive(Default)]
struct Mapper {
    errors: Vec<FieldError>,
    notes: Vec<NotMapped>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Mapper {
    fn error(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    fn note(&mut self, field: &str, message: &str) {
        self.notes.push(NotMapped {
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    /// Every field not taken: no equivalent.
    fn leftovers(&mut self, fields: Map<String, Value>, prefix: &str) {
        for key in fields.keys() {
            self.note(&join(prefix, key), "no equivalent in Baton");
        }
    }

    /// A string (or a number or boolean, as YAML writes them unquoted).
    fn text(&mut self, fields: &mut Map<String, Value>, prefix: &str, key: &str) -> Option<String> {
        match fields.remove(key)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            _ => {
                self.error(&join(prefix, key), "must be a string");
                None
            }
        }
    }

    /// A whole number (or a string of one).
    fn int(&mut self, fields: &mut Map<String, Value>, prefix: &str, key: &str) -> Option<i64> {
        let value = fields.remove(key)?;
        let number = match &value {
            Value::Null => return None,
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if number.is_none() {
            self.error(&join(prefix, key), "must be a whole number");
        }
        number
    }

    fn list(&mut self, fields: &mut Map<String, Value>, prefix: &str, key: &str) -> Vec<Value> {
        match fields.remove(key) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                self.error(&join(prefix, key), "must be a list");
                Vec::new()
            }
        }
    }

    /// The entries of a list of mappings, each with its path.
    fn mappings(
        &mut self,
        fields: &mut Map<String, Value>,
        prefix: &str,
        key: &str,
    ) -> Vec<(String, Map<String, Value>)> {
        let path = join(prefix, key);
        let mut out = Vec::new();
        for (i, item) in self.list(fields, prefix, key).into_iter().enumerate() {
            match item {
                Value::Object(map) => out.push((format!("{path}[{i}]"), map)),
                _ => self.error(&format!("{path}[{i}]"), "must be a mapping"),
            }
        }
        out
    }

    fn container(
        &mut self,
        fields: &mut Map<String, Value>,
        prefix: &str,
        name: Option<&str>,
    ) -> Container {
        let name = match name {
            Some(name) => name.to_string(),
            None => self.text(fields, prefix, "name").unwrap_or_default(),
        };
        let image = self.text(fields, prefix, "image").unwrap_or_default();
        let image_pull_policy = self
            .text(fields, prefix, "imagePullPolicy")
            .unwrap_or_else(default_pull_policy);
        let mut command = Vec::new();
        for key in ["cmd", "command"] {
            for (i, part) in self.list(fields, prefix, key).into_iter().enumerate() {
                match part {
                    Value::String(s) => command.push(s),
                    Value::Number(n) => command.push(n.to_string()),
                    _ => self.error(&format!("{}[{i}]", join(prefix, key)), "must be a string"),
                }
            }
        }
        let environment = self
            .mappings(fields, prefix, "env")
            .into_iter()
            .map(|(path, env)| self.environment(env, &path))
            .collect();
        let requests = self.resources(fields, prefix, "requests");
        let limits = self.resources(fields, prefix, "limits");
        let ports = self
            .mappings(fields, prefix, "ports")
            .into_iter()
            .map(|(path, mut port)| {
                let name = self.text(&mut port, &path, "name").unwrap_or_default();
                let protocol = self
                    .text(&mut port, &path, "protocol")
                    .map_or_else(|| "tcp".to_string(), |p| p.to_ascii_lowercase());
                let number = self
                    .int(&mut port, &path, "containerPort")
                    .unwrap_or_default();
                let host_port = self.int(&mut port, &path, "hostPort");
                self.leftovers(port, &path);
                ContainerPort {
                    name,
                    protocol,
                    port: number,
                    host_port,
                    host_port_range: None,
                }
            })
            .collect();
        Container {
            name,
            image,
            image_pull_policy,
            command,
            environment,
            requests,
            limits,
            ports,
        }
    }

    fn environment(&mut self, mut env: Map<String, Value>, path: &str) -> EnvironmentVariable {
        let name = self.text(&mut env, path, "name").unwrap_or_default();
        let value = self.text(&mut env, path, "value").unwrap_or_default();
        let mut source = EnvironmentSource::default();
        if let Some(Value::Object(mut from)) = env.remove("valueFrom") {
            let from_path = join(path, "valueFrom");
            if let Some(Value::Object(mut secret)) = from.remove("secretKeyRef") {
                let secret_path = join(&from_path, "secretKeyRef");
                let secret_name = self
                    .text(&mut secret, &secret_path, "name")
                    .unwrap_or_default();
                let key = self
                    .text(&mut secret, &secret_path, "key")
                    .unwrap_or_default();
                // v9 files carry an empty `secretKeyRef` beside every plain value.
                if !secret_name.is_empty() || !key.is_empty() {
                    source.secret_key_ref = Some(SecretKeyReference {
                        name: secret_name,
                        key,
                    });
                }
                self.leftovers(secret, &secret_path);
            }
            if let Some(Value::Object(mut field)) = from.remove("fieldRef") {
                let field_path = join(&from_path, "fieldRef");
                let path = self
                    .text(&mut field, &field_path, "fieldPath")
                    .unwrap_or_default();
                if !path.is_empty() {
                    source.field_ref = Some(FieldReference { field_path: path });
                }
                self.leftovers(field, &field_path);
            }
            self.leftovers(from, &from_path);
        }
        self.leftovers(env, path);
        let value_from =
            (source.secret_key_ref.is_some() || source.field_ref.is_some()).then_some(source);
        EnvironmentVariable {
            name,
            value: if value_from.is_some() {
                String::new()
            } else {
                value
            },
            value_from,
            secret: false,
        }
    }

    fn resources(
        &mut self,
        fields: &mut Map<String, Value>,
        prefix: &str,
        key: &str,
    ) -> Option<Resources> {
        let path = join(prefix, key);
        match fields.remove(key)? {
            Value::Object(mut map) => {
                let memory = self.text(&mut map, &path, "memory").unwrap_or_default();
                let cpu = self.text(&mut map, &path, "cpu").unwrap_or_default();
                self.leftovers(map, &path);
                Some(Resources { memory, cpu })
            }
            Value::Null => None,
            _ => {
                self.error(&path, "must be a mapping of cpu and memory");
                None
            }
        }
    }

    fn autoscaling(&mut self, mut fields: Map<String, Value>) -> Autoscaling {
        let min = self
            .int(&mut fields, "autoscaling", "min")
            .unwrap_or_default();
        let max = self
            .int(&mut fields, "autoscaling", "max")
            .unwrap_or_default();
        let up = self.direction(&mut fields, "up");
        let down = self.direction(&mut fields, "down");
        self.leftovers(fields, "autoscaling");
        Autoscaling {
            enabled: true,
            min,
            max,
            cooldown: 0,
            policy: None,
            up,
            down,
            enable_panic_scale: false,
            requests: None,
        }
    }

    fn direction(
        &mut self,
        fields: &mut Map<String, Value>,
        key: &str,
    ) -> Option<ScalingDirection> {
        let path = format!("autoscaling.{key}");
        let mut direction = match fields.remove(key)? {
            Value::Object(map) => map,
            Value::Null => return None,
            _ => {
                self.error(&path, "must be a mapping");
                return None;
            }
        };
        let cooldown = self
            .int(&mut direction, &path, "cooldown")
            .unwrap_or_default();
        let mut triggers = Vec::new();
        if direction.remove("delta").is_some() {
            self.note(
                &join(&path, "delta"),
                "Baton computes each step from the trigger's usage target, not a fixed delta",
            );
        }
        match direction.remove("trigger") {
            Some(Value::Object(trigger)) => {
                let trigger_path = join(&path, "trigger");
                triggers.push(self.trigger(trigger, &trigger_path, Some("room")));
            }
            Some(Value::Null) | None => {}
            Some(_) => self.error(&join(&path, "trigger"), "must be a mapping"),
        }
        for (trigger_path, trigger) in self.mappings(&mut direction, &path, "metricsTrigger") {
            triggers.push(self.trigger(trigger, &trigger_path, None));
        }
        self.leftovers(direction, &path);
        Some(ScalingDirection {
            metrics_trigger: triggers,
            cooldown,
        })
    }

    fn trigger(
        &mut self,
        mut fields: Map<String, Value>,
        path: &str,
        kind: Option<&str>,
    ) -> MetricsTrigger {
        let r#type = match kind {
            Some(kind) => kind.to_string(),
            None => self
                .text(&mut fields, path, "type")
                .unwrap_or_else(|| "room".to_string()),
        };
        let usage = self.int(&mut fields, path, "usage").unwrap_or_default();
        let time = self.int(&mut fields, path, "time").unwrap_or_default();
        let threshold = match self.int(&mut fields, path, "threshold") {
            Some(threshold) => threshold,
            None => {
                self.note(
                    &join(path, "threshold"),
                    &format!("not set: {DEFAULT_THRESHOLD} used"),
                );
                DEFAULT_THRESHOLD
            }
        };
        let limit = self.int(&mut fields, path, "limit");
        if fields.remove("delta").is_some() {
            self.note(
                &join(path, "delta"),
                "Baton computes each step from the trigger's usage target, not a fixed delta",
            );
        }
        self.leftovers(fields, path);
        MetricsTrigger {
            r#type,
            usage,
            threshold,
            time,
            limit,
        }
    }
}

#[cfg(test)]
#[path = "maestro_v9_tests.rs"]
mod tests;
