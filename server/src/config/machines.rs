//! Machine scaling's settings: who adds and releases machines, and how often each scheduler's
//! machines are judged.

use std::sync::Arc;
use std::time::Duration;

use app::ports::{MachineProvider, Machines};

use crate::adapters::provider::{DryRunProvider, WebhookOptions, WebhookProvider};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MachineProviderKind {
    /// Decisions are recorded, nothing is carried out.
    #[default]
    DryRun,
    /// Each action is POSTed, signed, to `--machine-webhook-url`.
    Webhook,
}

/// Machine sources given by the embedding program (tests) rather than by the runtimes:
/// `(region, source)`. Empty from the command line.
#[derive(Clone, Default)]
pub struct InjectedMachines(pub Vec<(String, Arc<dyn Machines>)>);

impl std::fmt::Debug for InjectedMachines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(region, _)| region))
            .finish()
    }
}

#[derive(clap::Args, Clone)]
pub struct MachineScalingOptions {
    /// Who adds and releases machines: `dry-run` (record decisions only) or `webhook`.
    #[arg(long, env = "BATON_MACHINE_PROVIDER", value_enum, default_value_t = MachineProviderKind::DryRun)]
    pub machine_provider: MachineProviderKind,
    /// `webhook`: the URL each machine-scaling action is POSTed to (plain `http://`).
    #[arg(long, env = "BATON_MACHINE_WEBHOOK_URL")]
    pub machine_webhook_url: Option<String>,
    /// `webhook`: the HMAC-SHA256 key of the `X-Baton-Signature` header.
    #[arg(long, env = "BATON_MACHINE_WEBHOOK_SECRET", hide_env_values = true)]
    pub machine_webhook_secret: Option<String>,
    /// Milliseconds between two machine-scaling decisions of a scheduler with a capacity section.
    #[arg(
        long,
        env = "BATON_MACHINE_SCALING_PERIOD_MS",
        default_value_t = 30_000
    )]
    pub machine_scaling_period_ms: u64,
    #[arg(skip)]
    pub injected_machines: InjectedMachines,
}

impl std::fmt::Debug for MachineScalingOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineScalingOptions")
            .field("machine_provider", &self.machine_provider)
            .field("machine_webhook_url", &self.machine_webhook_url)
            .field(
                "machine_webhook_secret",
                &self.machine_webhook_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("machine_scaling_period_ms", &self.machine_scaling_period_ms)
            .field("injected_machines", &self.injected_machines)
            .finish()
    }
}

impl MachineScalingOptions {
    /// The provider, and whether it only records (dry run).
    pub fn provider(&self) -> Result<(Arc<dyn MachineProvider>, bool), String> {
        match self.machine_provider {
            MachineProviderKind::DryRun => Ok((Arc::new(DryRunProvider), true)),
            MachineProviderKind::Webhook => {
                let url = self
                    .machine_webhook_url
                    .clone()
                    .filter(|u| !u.is_empty())
                    .ok_or("--machine-provider webhook needs --machine-webhook-url")?;
                let secret = self
                    .machine_webhook_secret
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or("--machine-provider webhook needs --machine-webhook-secret")?;
                let provider = WebhookProvider::new(WebhookOptions::new(url, secret))
                    .map_err(|e| e.to_string())?;
                Ok((Arc::new(provider), false))
            }
        }
    }

    pub fn period(&self) -> Duration {
        Duration::from_millis(self.machine_scaling_period_ms.max(50))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use clap::Parser;

    #[test]
    fn dry_run_by_default_and_a_webhook_needs_its_url_and_secret() {
        let config = Config::try_parse_from(["baton"]).unwrap();
        assert!(config.machine_scaling.provider().unwrap().1);
        assert_eq!(config.machine_scaling.machine_scaling_period_ms, 30_000);
        let config = Config::try_parse_from(["baton", "--machine-provider", "webhook"]).unwrap();
        assert!(config.machine_scaling.provider().is_err());
        let config = Config::try_parse_from([
            "baton",
            "--machine-provider",
            "webhook",
            "--machine-webhook-url",
            "http://127.0.0.1:1/hook",
            "--machine-webhook-secret",
            "s3cret",
        ])
        .unwrap();
        assert!(!config.machine_scaling.provider().unwrap().1);
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
