//! The environment of a local room: exactly the variables the room is meant to see, and none of
//! Baton's own (its admin password, database and Redis URLs live in Baton's environment).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use app::domain::room::RoomPort;
use app::domain::scheduler::EnvironmentVariable;

/// The `PATH` of every room, unless its spec sets another.
pub const ROOM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a room process is started with.
#[derive(Debug, Default, PartialEq)]
pub struct RoomEnvironment {
    /// Every variable of the process, by name: nothing else is inherited.
    pub variables: BTreeMap<String, OsString>,
    /// Variables of the spec left out: their `valueFrom` names a pod field or a Kubernetes
    /// Secret, which do not exist on this runtime.
    pub unresolved: Vec<String>,
}

/// `BATON_PORT_<NAME>`: the variable holding a port's host port.
pub fn port_variable(port: &str) -> String {
    format!("BATON_PORT_{}", port.to_ascii_uppercase().replace('-', "_"))
}

/// The room's environment, later entries winning: `PATH` and `HOME` (the room's own directory),
/// the literal variables of the spec, the variables Baton gives every room (`baton`: the
/// `MAESTRO_*` names, `BATON_API_URL`, `BATON_ROOM_TOKEN`), then `BATON_PORT_<NAME>` for each
/// host port. A spec may thus change `PATH` or `HOME`, never what Baton tells the room.
pub fn room_environment(
    spec: &[EnvironmentVariable],
    baton: &[EnvironmentVariable],
    ports: &[RoomPort],
    home: &Path,
) -> RoomEnvironment {
    let mut environment = RoomEnvironment::default();
    let variables = &mut environment.variables;
    variables.insert("PATH".to_string(), ROOM_PATH.into());
    variables.insert("HOME".to_string(), home.as_os_str().to_owned());
    for variable in spec {
        if variable.value_from.is_some() {
            environment.unresolved.push(variable.name.clone());
        } else {
            variables.insert(variable.name.clone(), variable.value.clone().into());
        }
    }
    for variable in baton {
        variables.insert(variable.name.clone(), variable.value.clone().into());
    }
    for port in ports {
        variables.insert(port_variable(&port.name), port.port.to_string().into());
    }
    environment
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::scheduler::{EnvironmentSource, FieldReference};

    fn from_pod(name: &str) -> EnvironmentVariable {
        EnvironmentVariable {
            name: name.to_string(),
            value_from: Some(EnvironmentSource {
                field_ref: Some(FieldReference {
                    field_path: "status.hostIP".to_string(),
                }),
                secret_key_ref: None,
            }),
            ..EnvironmentVariable::default()
        }
    }

    #[test]
    fn only_the_spec_baton_and_ports_and_a_minimal_path_and_home() {
        let spec = [
            EnvironmentVariable::plain("GAME_MODE", "ranked"),
            EnvironmentVariable::secret("GAME_KEY", "k"),
            from_pod("HOST_IP"),
            // Baton's own names win over the spec's.
            EnvironmentVariable::plain("MAESTRO_ROOM_ID", "forged"),
        ];
        let baton = [
            EnvironmentVariable::plain("MAESTRO_SCHEDULER_NAME", "s"),
            EnvironmentVariable::plain("MAESTRO_ROOM_ID", "r-1"),
            EnvironmentVariable::secret("BATON_ROOM_TOKEN", "t"),
        ];
        let ports = [RoomPort {
            name: "game-udp".to_string(),
            protocol: "udp".to_string(),
            port: 41000,
        }];
        let environment = room_environment(&spec, &baton, &ports, Path::new("/rooms/s/r-1"));
        let expected: BTreeMap<String, OsString> = [
            ("BATON_PORT_GAME_UDP", "41000"),
            ("BATON_ROOM_TOKEN", "t"),
            ("GAME_KEY", "k"),
            ("GAME_MODE", "ranked"),
            ("HOME", "/rooms/s/r-1"),
            ("MAESTRO_ROOM_ID", "r-1"),
            ("MAESTRO_SCHEDULER_NAME", "s"),
            ("PATH", ROOM_PATH),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
        assert_eq!(environment.variables, expected);
        assert_eq!(environment.unresolved, ["HOST_IP"]);
    }

    #[test]
    fn a_spec_may_set_its_own_path_and_home() {
        let spec = [
            EnvironmentVariable::plain("PATH", "/opt/game/bin"),
            EnvironmentVariable::plain("HOME", "/opt/game"),
        ];
        let environment = room_environment(&spec, &[], &[], Path::new("/rooms/s/r"));
        assert_eq!(environment.variables["PATH"], "/opt/game/bin");
        assert_eq!(environment.variables["HOME"], "/opt/game");
    }
}
