//! Ports: the scheduler's host port range and each container's ports.

use std::collections::HashSet;

use super::Errors;
use super::names::is_port_name;
use crate::domain::scheduler::{Container, SchedulerConfig};

/// The scheduler's `portRange`: well formed, and present when a container port needs it.
pub(super) fn validate_port_range(config: &SchedulerConfig, errors: &mut Errors) {
    match config.port_range {
        Some(range) => {
            errors.check(
                (1..=65535).contains(&range.start),
                "portRange.start",
                "must be a port from 1 to 65535",
            );
            errors.check(
                (1..=65536).contains(&range.end),
                "portRange.end",
                "must be from 2 to 65536 (the end is exclusive)",
            );
            errors.check(
                range.start < range.end,
                "portRange",
                "start must be lower than end",
            );
        }
        None => {
            let needs_range = config
                .spec
                .containers
                .iter()
                .flat_map(|c| &c.ports)
                // A hostPortRange is refused at its own field.
                .any(|p| p.host_port.is_none() && p.host_port_range.is_none());
            errors.check(
                !needs_range,
                "portRange",
                "is required when a container port has no hostPort",
            );
        }
    }
}

/// A container's ports; `port_names` holds the names taken by the scheduler's earlier ports.
pub(super) fn validate_ports(
    container: &Container,
    path: &str,
    port_names: &mut HashSet<String>,
    errors: &mut Errors,
) {
    let mut container_ports = HashSet::new();
    for (j, port) in container.ports.iter().enumerate() {
        let port_path = format!("{path}.ports[{j}]");
        if !is_port_name(&port.name) {
            errors.add(
                format!("{port_path}.name"),
                "must be 1-15 lowercase letters, digits or '-' with at least one letter",
            );
        } else if !port_names.insert(port.name.clone()) {
            errors.add(format!("{port_path}.name"), "is used by another port");
        }
        errors.check(
            ["tcp", "udp", "sctp"]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&port.protocol)),
            format!("{port_path}.protocol"),
            "must be tcp, udp or sctp",
        );
        errors.check(
            (1..=65535).contains(&port.port),
            format!("{port_path}.port"),
            "must be a port from 1 to 65535",
        );
        if !container_ports.insert((port.port, port.protocol.to_ascii_lowercase())) {
            errors.add(
                format!("{port_path}.port"),
                "is exposed twice with the same protocol",
            );
        }
        errors.check(
            port.host_port_range.is_none(),
            format!("{port_path}.hostPortRange"),
            "is not supported: set the scheduler's portRange instead",
        );
        if let Some(host_port) = port.host_port {
            errors.check(
                (1..=65535).contains(&host_port),
                format!("{port_path}.hostPort"),
                "must be a port from 1 to 65535",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fields, valid};
    use crate::domain::scheduler::PortRange;

    #[test]
    fn port_range_bounds() {
        let mut c = valid();
        c.port_range = Some(PortRange {
            start: 0,
            end: 70000,
        });
        assert_eq!(fields(&c), ["portRange.start", "portRange.end"]);
        c.port_range = None;
        assert_eq!(fields(&c), ["portRange"]);
        c.spec.containers[0].ports[0].host_port = Some(7000);
        assert_eq!(fields(&c), Vec::<String>::new());
    }
}
