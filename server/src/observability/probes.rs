//! Probes: `GET /healthz` (the process answers: no I/O) and `GET /readyz` (every dependency
//! answers within 2 s, else 503 naming which did not). Both unauthenticated, for orchestrators;
//! they tell nothing but `ok` or `failed` per dependency (the reason goes to the log).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use app::ports::Store;
use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::adapters::storage::sql::SqlStore;

/// How long a dependency has to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Something Baton needs to serve: the database, Redis.
#[async_trait]
pub trait Dependency: Send + Sync {
    /// Its name in `/readyz`'s answer.
    fn name(&self) -> &'static str;
    /// Answers when it is reachable; the error is logged, never shown.
    async fn check(&self) -> Result<(), String>;
}

#[async_trait]
impl Dependency for SqlStore {
    fn name(&self) -> &'static str {
        Store::Database.name()
    }

    async fn check(&self) -> Result<(), String> {
        self.ping().await.map_err(|e| e.to_string())
    }
}

/// Redis, checked with a `PING` on a connection of its own (opened for each check, so that it
/// tells whether Redis can be reached now).
pub struct RedisDependency {
    client: redis::Client,
}

impl RedisDependency {
    pub fn new(url: &str) -> Result<Self, String> {
        redis::Client::open(url)
            .map(|client| Self { client })
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Dependency for RedisDependency {
    fn name(&self) -> &'static str {
        Store::Redis.name()
    }

    async fn check(&self) -> Result<(), String> {
        let mut connection = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// The dependencies `/readyz` checks.
#[derive(Clone, Default)]
pub struct Dependencies(pub Vec<Arc<dyn Dependency>>);

/// The process answers (no I/O, no credentials).
#[utoipa::path(get, path = "/healthz", tag = "probes", security(()),
    responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database and, when configured, Redis answer within 2 s (no credentials).
#[utoipa::path(get, path = "/readyz", tag = "probes", security(()),
    responses((status = 200, description = "`{\"status\":\"ready\",\"checks\":{\"database\":\"ok\",\"redis\":\"ok\"},\"failed\":[]}`"),
        (status = 503, description = "`{\"status\":\"unavailable\",\"checks\":{...},\"failed\":[\"redis\"]}`: the dependencies that did not answer")))]
pub async fn readyz(State(dependencies): State<Dependencies>) -> (StatusCode, Json<Value>) {
    let checks = dependencies.0.iter().map(|dependency| async move {
        let answer = tokio::time::timeout(READY_TIMEOUT, dependency.check()).await;
        let ok = match answer {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::warn!(dependency = dependency.name(), %err, "readiness check failed");
                false
            }
            Err(_) => {
                tracing::warn!(dependency = dependency.name(), "readiness check timed out");
                false
            }
        };
        (dependency.name(), ok)
    });
    let results: BTreeMap<&str, bool> = futures::future::join_all(checks)
        .await
        .into_iter()
        .collect();
    let ready = results.values().all(|ok| *ok);
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(n, _)| *n)
        .collect();
    let checks: BTreeMap<&str, &str> = results
        .iter()
        .map(|(name, ok)| (*name, if *ok { "ok" } else { "failed" }))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "unavailable" },
            "checks": checks,
            "failed": failed,
        })),
    )
}
