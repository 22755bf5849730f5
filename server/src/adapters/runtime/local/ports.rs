//! Host ports of local rooms: fixed ones as the spec says, others picked from the scheduler's
//! range among those no live room holds (this process's or any recorded one) and nothing else
//! on the machine listens on (TCP).

use std::collections::HashSet;

use app::domain::room::RoomPort;
use app::domain::scheduler::Scheduler;
use app::ports::RuntimeError;

use super::{LocalRuntime, State};

impl LocalRuntime {
    /// Picks free host ports from the scheduler's range for every port without a fixed one,
    /// leaving out those of live processes and of `recorded` rooms.
    pub(super) fn allocate_ports(
        state: &mut State,
        scheduler: &Scheduler,
        recorded: &HashSet<u16>,
    ) -> Result<Vec<RoomPort>, RuntimeError> {
        let mut ports = Vec::new();
        for port in scheduler
            .config
            .spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
        {
            let number = match port.host_port {
                Some(fixed) => u16::try_from(fixed).map_err(|_| {
                    RuntimeError::Rejected(format!("host port {fixed} is out of range"))
                })?,
                None => {
                    let range = scheduler.config.port_range.ok_or_else(|| {
                        RuntimeError::Rejected(
                            "a port has no hostPort and there is no portRange".into(),
                        )
                    })?;
                    let free = (range.start..range.end)
                        .filter_map(|p| u16::try_from(p).ok())
                        .find(|p| {
                            !state.ports.contains(p) && !recorded.contains(p) && port_is_free(*p)
                        });
                    let Some(free) = free else {
                        for taken in &ports {
                            let taken: &RoomPort = taken;
                            state.ports.remove(&taken.port);
                        }
                        return Err(RuntimeError::PortsExhausted(scheduler.config.name.clone()));
                    };
                    free
                }
            };
            state.ports.insert(number);
            ports.push(RoomPort {
                name: port.name.clone(),
                protocol: port.protocol.to_ascii_lowercase(),
                port: number,
            });
        }
        Ok(ports)
    }
}

/// Whether nothing else on this machine listens on `port` (TCP).
fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}
