//! The webhook machine provider: every action of a machine-scaling decision is POSTed as JSON
//! ([`WebhookBody`]) to the configured URL.
//!
//! - `X-Baton-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes, keyed with the
//!   configured secret (never logged);
//! - `Idempotency-Key: <decision id>-<action index>`: the same for every retry of one action, so
//!   the receiver can tell a retry from a new request;
//! - each call has a timeout; a 5xx answer or a failed connection is retried with exponential
//!   backoff a bounded number of times (then `Unavailable`); a 4xx (or any other non-2xx)
//!   answer is `Rejected` at once.

use std::time::Duration;

use app::domain::capacity::{MachineAction, MachineDecision, MachineFigures, MachineScalingReason};
use app::ports::{MachineProvider, ProviderError};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What the webhook receives for one action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    pub scheduler: String,
    pub decision_id: String,
    /// The action's position in the decision (`Idempotency-Key` is `decisionId-actionIndex`).
    pub action_index: usize,
    pub action: MachineAction,
    pub reason: MachineScalingReason,
    pub summary: String,
    pub figures: MachineFigures,
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`, the `X-Baton-Signature` header's value.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// How the webhook is called.
#[derive(Clone)]
pub struct WebhookOptions {
    pub url: String,
    pub secret: String,
    /// Per call.
    pub timeout: Duration,
    /// Calls in all for one action (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; doubled before each next one.
    pub backoff: Duration,
}

impl std::fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookOptions")
            .field("url", &self.url)
            .field("secret", &"<hidden>")
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl WebhookOptions {
    /// 10 s per call, 4 calls, 500 ms before the first retry.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

pub struct WebhookProvider {
    options: WebhookOptions,
    client: reqwest::Client,
}

impl WebhookProvider {
    pub fn new(options: WebhookOptions) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| ProviderError::Rejected(format!("webhook client: {e}")))?;
        Ok(Self { options, client })
    }

    /// One call: `Ok(true)` delivered, `Ok(false)` worth retrying (with why), `Err` refused.
    async fn call(&self, body: &[u8], key: &str) -> Result<Result<(), String>, ProviderError> {
        let sent = self
            .client
            .post(&self.options.url)
            .header("content-type", "application/json")
            .header(
                "x-baton-signature",
                sign(self.options.secret.as_bytes(), body),
            )
            .header("idempotency-key", key)
            .body(body.to_vec())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return Ok(Err(format!("webhook unreachable: {err}"))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(()));
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        if status.is_server_error() {
            Ok(Err(format!("webhook answered {status}: {text}")))
        } else {
            Err(ProviderError::Rejected(format!(
                "webhook answered {status}: {text}"
            )))
        }
    }
}

#[async_trait]
impl MachineProvider for WebhookProvider {
    async fn act(
        &self,
        scheduler: &str,
        decision_id: &str,
        action: &MachineAction,
        decision: &MachineDecision,
    ) -> Result<(), ProviderError> {
        let action_index = decision
            .actions
            .iter()
            .position(|a| a == action)
            .unwrap_or(decision.actions.len());
        let body = WebhookBody {
            scheduler: scheduler.to_string(),
            decision_id: decision_id.to_string(),
            action_index,
            action: action.clone(),
            reason: decision.reason,
            summary: decision.summary.clone(),
            figures: decision.figures.clone(),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| ProviderError::Rejected(format!("encoding the webhook body: {e}")))?;
        let key = format!("{decision_id}-{action_index}");
        let mut wait = self.options.backoff;
        let mut last = String::new();
        for attempt in 1..=self.options.attempts.max(1) {
            match self.call(&body, &key).await? {
                Ok(()) => return Ok(()),
                Err(why) => {
                    tracing::warn!(%scheduler, decision = %decision_id, attempt, %why, "machine webhook failed");
                    last = why;
                }
            }
            if attempt < self.options.attempts {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        Err(ProviderError::Unavailable(last))
    }
}

#[cfg(test)]
mod tests;
