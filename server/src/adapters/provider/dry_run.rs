//! The dry-run machine provider: nothing is asked of anyone; the decision and its actions are
//! recorded (as `dryRun`) by the machine-scaling worker, which is all that happens.

use app::domain::capacity::{MachineAction, MachineDecision};
use app::ports::{MachineProvider, ProviderError};
use async_trait::async_trait;

#[derive(Clone, Copy, Debug, Default)]
pub struct DryRunProvider;

#[async_trait]
impl MachineProvider for DryRunProvider {
    async fn act(
        &self,
        scheduler: &str,
        decision_id: &str,
        action: &MachineAction,
        _decision: &MachineDecision,
    ) -> Result<(), ProviderError> {
        tracing::info!(%scheduler, decision = %decision_id, ?action, "machine provider (dry run): not carried out");
        Ok(())
    }
}
