//! Retries and errors of API calls: 429, 5xx and connection errors are retried with backoff;
//! every other answer, 409 (already exists) included, is final and reaches the caller at once.

use std::future::Future;
use std::time::Duration;

use app::ports::RuntimeError;

use super::KubernetesRuntimeConfig;

/// Calls `call` until it succeeds, fails for good, or `config.attempts` are spent; a call taking
/// longer than `config.call_timeout` counts as a connection failure. Each attempt waits for the
/// client-side limit (`config.limits`) first and holds its slot while it runs.
pub(super) async fn retry<T, F, Fut>(
    config: &KubernetesRuntimeConfig,
    mut call: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let attempts = config.attempts.max(1);
    let mut attempt = 1;
    loop {
        let permit = config.limits.admit().await;
        let result = match tokio::time::timeout(config.call_timeout, call()).await {
            Ok(result) => result,
            Err(elapsed) => Err(kube::Error::Service(Box::new(elapsed))),
        };
        drop(permit);
        match result {
            Err(error) if attempt < attempts && is_transient(&error) => {
                let delay = retry_delay(config, attempt, &error);
                tracing::debug!(%error, attempt, ?delay, "Kubernetes API call failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Exponential backoff with jitter, at least what the server asked for (within `max_delay`).
fn retry_delay(config: &KubernetesRuntimeConfig, attempt: u32, error: &kube::Error) -> Duration {
    let exponential = config
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(config.max_delay);
    let jittered = exponential.mul_f64(rand::random_range(0.5..=1.0));
    let asked = match error {
        kube::Error::Api(status) => status
            .details
            .as_ref()
            .map_or(0, |details| details.retry_after_seconds),
        _ => 0,
    };
    jittered.max(Duration::from_secs(asked.into()).min(config.max_delay))
}

/// Whether trying the same call again may work: throttling (429), server errors (5xx) and
/// connection errors. Never 409: "already exists" is an answer, which the callers handle.
pub(super) fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500 || status.code == 0,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

pub(super) fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

pub(super) fn runtime_error(what: &str, error: kube::Error) -> RuntimeError {
    match &error {
        kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429 => {
            let detail = format!(
                "{what}: {} ({} {})",
                status.message, status.code, status.reason
            );
            // Writing into a namespace being deleted works again once it is gone and recreated.
            if status.code == 403 && status.message.contains("being terminated") {
                RuntimeError::Unavailable(detail)
            } else {
                RuntimeError::Rejected(detail)
            }
        }
        kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => {
            RuntimeError::Rejected(format!("{what}: {error}"))
        }
        _ => RuntimeError::Unavailable(format!("{what}: {error}")),
    }
}
