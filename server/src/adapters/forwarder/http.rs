//! `HttpForwarder`: each event as a JSON `POST`, signed with HMAC-SHA256.

use std::time::Duration;

use app::domain::forwarding::ForwardedEvent;
use app::ports::{ForwardError, Forwarder};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `sha256=<hex of HMAC-SHA256(secret, body)>`: the receiver recomputes it over the raw body
/// with the shared secret and compares.
pub const SIGNATURE_HEADER: &str = "x-baton-signature";
/// The event's kind (`roomStatus`, `roomResync`, `roomEvent`, `playerEvent`).
pub const EVENT_HEADER: &str = "x-baton-event";

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

pub struct HttpForwarder {
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

impl HttpForwarder {
    /// `url`: where events are posted; `secret`: the signing key; `timeout`: each call's deadline.
    pub fn new(url: &str, secret: &str, timeout: Duration) -> Result<Self, ForwardError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ForwardError::Unreachable(e.to_string()))?;
        Ok(Self {
            client,
            url: url.to_string(),
            secret: secret.as_bytes().to_vec(),
        })
    }
}

#[async_trait]
impl Forwarder for HttpForwarder {
    async fn send(&self, event: &ForwardedEvent) -> Result<(), ForwardError> {
        let body = serde_json::to_vec(event).map_err(|e| ForwardError::Refused(e.to_string()))?;
        let answer = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event.kind())
            .header(SIGNATURE_HEADER, signature(&self.secret, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| ForwardError::Unreachable(e.to_string()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(ForwardError::Refused(format!("HTTP {}", answer.status())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
