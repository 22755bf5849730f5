//! The webhook provider against a webhook served by the test (axum on port 0).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::*;
use app::domain::capacity::MachineKind;

/// What the webhook saw: (headers, body) per call; it answers the next status of `answers`
/// (200 once they run out).
#[derive(Clone, Default)]
struct Hook {
    calls: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    hook.calls.lock().unwrap().push((headers, body));
    let mut answers = hook.answers.lock().unwrap();
    let status = if answers.is_empty() {
        200
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(status).unwrap()
}

async fn serve(answers: &[u16]) -> (Hook, String) {
    let hook = Hook {
        answers: Arc::new(Mutex::new(answers.to_vec())),
        ..Hook::default()
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hook, format!("http://{addr}/hook"))
}

fn provider(url: &str) -> WebhookProvider {
    WebhookProvider::new(WebhookOptions {
        timeout: Duration::from_secs(2),
        attempts: 3,
        backoff: Duration::from_millis(10),
        ..WebhookOptions::new(url, "s3cret")
    })
    .unwrap()
}

fn decision() -> MachineDecision {
    MachineDecision {
        actions: vec![
            MachineAction::Release {
                machine: "old".into(),
            },
            MachineAction::Add {
                kind: MachineKind::BareMetal,
                count: 2,
                region: Some("eu".into()),
            },
        ],
        reason: MachineScalingReason::BelowMinFree,
        summary: "1 free payloads, below min 4".into(),
        figures: MachineFigures {
            free_payload_capacity: 1,
            min_free_payload_capacity: 4,
            ..MachineFigures::default()
        },
    }
}

#[tokio::test]
async fn the_webhook_receives_the_signed_body() {
    let (hook, url) = serve(&[]).await;
    let decision = decision();
    provider(&url)
        .act("game-eu", "d-1", &decision.actions[1], &decision)
        .await
        .unwrap();
    let calls = hook.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    let (headers, body) = &calls[0];
    assert_eq!(
        headers["x-baton-signature"].to_str().unwrap(),
        sign(b"s3cret", body)
    );
    assert_ne!(
        headers["x-baton-signature"].to_str().unwrap(),
        sign(b"other", body)
    );
    assert_eq!(headers["idempotency-key"], "d-1-1");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "scheduler": "game-eu", "decisionId": "d-1", "actionIndex": 1,
            "action": {"action": "add", "kind": "bare-metal", "count": 2, "region": "eu"},
            "reason": "belowMinFree", "summary": "1 free payloads, below min 4",
            "figures": serde_json::to_value(&decision.figures).unwrap(),
        })
    );
}

#[test]
fn the_signature_is_hmac_sha256_hex() {
    // RFC 4231, test case 2.
    assert_eq!(
        sign(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test]
async fn a_503_is_retried_and_delivered_once() {
    let (hook, url) = serve(&[503]).await;
    let decision = decision();
    provider(&url)
        .act("s", "d-2", &decision.actions[0], &decision)
        .await
        .unwrap();
    let calls = hook.calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "one failed call, one delivered");
    assert_eq!(calls[0].1, calls[1].1, "the same body");
    assert_eq!(calls[1].0["idempotency-key"], "d-2-0");
}

#[tokio::test]
async fn a_400_is_rejected_without_retry() {
    let (hook, url) = serve(&[400]).await;
    let decision = decision();
    let result = provider(&url)
        .act("s", "d-3", &decision.actions[0], &decision)
        .await;
    assert!(matches!(result, Err(ProviderError::Rejected(ref why)) if why.contains("400")));
    assert_eq!(hook.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let (hook, url) = serve(&[500, 502, 503, 504]).await;
    let decision = decision();
    let result = provider(&url)
        .act("s", "d-4", &decision.actions[0], &decision)
        .await;
    assert!(matches!(result, Err(ProviderError::Unavailable(_))));
    assert_eq!(hook.calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn an_unreachable_webhook_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let decision = decision();
    let result = provider(&url)
        .act("s", "d-5", &decision.actions[0], &decision)
        .await;
    assert!(matches!(result, Err(ProviderError::Unavailable(_))));
}

#[test]
fn options_hide_the_secret() {
    let shown = format!("{:?}", WebhookOptions::new("http://x", "s3cret"));
    assert!(!shown.contains("s3cret"));
}
