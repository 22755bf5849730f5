//! Tests of the Maestro v9 mapping.

use super::*;

fn map(yaml: &str) -> (SchedulerConfig, Vec<NotMapped>) {
    let doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
    to_scheduler(&doc).unwrap()
}

fn dropped(notes: &[NotMapped]) -> Vec<&str> {
    notes.iter().map(|n| n.field.as_str()).collect()
}

const SINGLE: &str = r#"
name: arena
game: tennis
image: registry.example.com/arena:1.2
imagePullPolicy: Always
occupiedTimeout: 3600
shutdownTimeout: 45
ports:
  - containerPort: 7777
    protocol: UDP
    name: game
requests: {cpu: 100m, memory: 128Mi}
limits: {cpu: 200m, memory: 256Mi}
env:
  - name: MODE
    value: ranked
    valueFrom: {secretKeyRef: {name: "", key: ""}}
  - name: TOKEN
    valueFrom: {secretKeyRef: {name: arena-secrets, key: token}}
cmd: ["./arena", "--port", 7777]
autoscaling:
  min: 2
  max: 10
  up:
    delta: 2
    trigger: {usage: 70, time: 60, threshold: 80}
    cooldown: 30
  down:
    delta: 1
    trigger: {usage: 50, time: 120}
    cooldown: 60
nodeSelector: {pool: games}
"#;

#[test]
fn a_single_container_file_maps_field_by_field() {
    let (config, notes) = map(SINGLE);
    assert_eq!(
        (config.name.as_str(), config.game.as_str()),
        ("arena", "tennis")
    );
    assert_eq!(config.rooms_replicas, 2);
    assert_eq!(config.port_range, Some(DEFAULT_PORT_RANGE));
    assert_eq!(
        config.spec.termination_grace_period,
        GracePeriod("45s".into())
    );
    let [container] = &config.spec.containers[..] else {
        panic!("one container: {:?}", config.spec.containers)
    };
    assert_eq!(container.name, SINGLE_CONTAINER);
    assert_eq!(container.image, "registry.example.com/arena:1.2");
    assert_eq!(container.image_pull_policy, "Always");
    assert_eq!(container.command, ["./arena", "--port", "7777"]);
    assert_eq!(
        container.ports,
        [ContainerPort {
            name: "game".into(),
            protocol: "udp".into(),
            port: 7777,
            host_port: None,
            host_port_range: None
        }]
    );
    assert_eq!(
        container.requests.as_ref().map(|r| r.cpu.as_str()),
        Some("100m")
    );
    assert_eq!(
        container.limits.as_ref().map(|r| r.memory.as_str()),
        Some("256Mi")
    );
    assert_eq!(container.environment[0].value, "ranked");
    assert_eq!(container.environment[0].value_from, None);
    assert_eq!(
        container.environment[1]
            .value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.clone()),
        Some(SecretKeyReference {
            name: "arena-secrets".into(),
            key: "token".into()
        })
    );
    let autoscaling = config.autoscaling.expect("autoscaling");
    assert_eq!((autoscaling.min, autoscaling.max), (2, 10));
    let up = autoscaling.up.expect("up");
    assert_eq!(up.cooldown, 30);
    assert_eq!(
        up.metrics_trigger,
        [MetricsTrigger {
            r#type: "room".into(),
            usage: 70,
            threshold: 80,
            time: 60,
            limit: None
        }]
    );
    assert_eq!(autoscaling.down.expect("down").metrics_trigger[0].usage, 50);
    let mut fields = dropped(&notes);
    fields.sort();
    assert_eq!(
        fields,
        [
            "autoscaling.down.delta",
            "autoscaling.down.trigger.threshold",
            "autoscaling.up.delta",
            "nodeSelector",
            "occupiedTimeout",
            "portRange",
        ]
    );
    config_validates(SINGLE);
}

fn config_validates(yaml: &str) {
    let (config, _) = map(yaml);
    assert_eq!(config.validate(), Ok(()), "{yaml}");
}

#[test]
fn a_containers_list_maps_each_container_and_its_unknown_fields() {
    let (config, notes) = map(r#"
name: arena
game: tennis
portRange: {start: 20000, end: 20100}
containers:
  - name: main
    image: arena:1
    ports: [{containerPort: 8080, protocol: TCP, name: tcp}]
    volumeMounts: []
  - name: sidecar
    image: sidecar:1
autoscaling:
  min: 1
  up:
    metricsTrigger:
      - {type: cpu, usage: 60, threshold: 70, time: 30, delta: 1}
"#);
    let names: Vec<_> = config
        .spec
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["main", "sidecar"]);
    assert_eq!(
        config.port_range,
        Some(PortRange {
            start: 20000,
            end: 20100
        })
    );
    let trigger = &config.autoscaling.unwrap().up.unwrap().metrics_trigger[0];
    assert_eq!((trigger.r#type.as_str(), trigger.usage), ("cpu", 60));
    assert_eq!(
        dropped(&notes),
        [
            "containers[0].volumeMounts",
            "autoscaling.up.metricsTrigger[0].delta"
        ]
    );
}

#[test]
fn wrong_types_name_their_field() {
    let doc: Value = serde_yaml_ng::from_str(
        "name: a\ngame: g\nimage: i\nshutdownTimeout: soon\nports: 7\nautoscaling: {min: x}",
    )
    .unwrap();
    let errors = to_scheduler(&doc).unwrap_err();
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["ports", "shutdownTimeout", "autoscaling.min"]);
    assert!(to_scheduler(&Value::from(3)).is_err());
}
