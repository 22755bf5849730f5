//! Machines: where rooms run, as their source sees them (Kubernetes nodes, this host), and the
//! provider that adds or gives back machines when the machine-scaling decision says so.

use async_trait::async_trait;

use super::RuntimeError;
use crate::domain::capacity::{Machine, MachineAction, MachineDecision};

/// A machine and the rooms placed on it, before any scheduler's payloads are counted
/// (`machine.payloads` and `machine.busy_payloads` are 0 here; the capacity use case counts
/// them per scheduler from `rooms`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineReport {
    pub machine: Machine,
    /// `(scheduler, room id)` of every Baton room placed on the machine.
    pub rooms: Vec<(String, String)>,
}

/// The machines of one region: one adapter per technology (`KubernetesMachines`,
/// `LocalMachines`).
#[async_trait]
pub trait Machines: Send + Sync {
    /// Every machine this source knows, with the rooms placed on each.
    async fn machines(&self) -> Result<Vec<MachineReport>, RuntimeError>;
    /// Stops placing rooms on the machine (Kubernetes: cordon) and moves off the rooms that are
    /// neither reserved nor occupied; `busy` names the rooms that must stay. Idempotent.
    async fn drain(&self, machine: &str, busy: &[String]) -> Result<(), RuntimeError>;
}

/// Why a provider did not carry out an action.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    /// Worth retrying later (the provider was unreachable or overloaded).
    #[error("machine provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the action; retrying it unchanged fails again.
    #[error("machine provider refused: {0}")]
    Rejected(String),
}

/// Who adds and releases machines when the decision says so (a webhook, or nobody: dry run).
#[async_trait]
pub trait MachineProvider: Send + Sync {
    /// Carries out `action` of `decision` (identified by `decision_id`) for `scheduler`.
    /// Idempotent by `(decision_id, action)`: a retried call must not add machines twice.
    async fn act(
        &self,
        scheduler: &str,
        decision_id: &str,
        action: &MachineAction,
        decision: &MachineDecision,
    ) -> Result<(), ProviderError>;
}
