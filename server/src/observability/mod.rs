//! Observability: Prometheus metrics (`/metrics`), probes (`/healthz`, `/readyz`), a request id
//! on every request's log lines, and the log format. Everything the composition root needs is
//! on [`Observability`].

pub mod endpoint;
pub mod forwarding;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod options;
pub mod probes;
pub mod rooms;
pub mod runtime;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::ports::Runtime;
use axum::Router;
use axum::routing::get;
use tokio::task::JoinHandle;

pub use metrics::Metrics;
pub use options::{LogFormat, ObservabilityOptions};
pub use probes::{Dependencies, Dependency, RedisDependency};
pub use runtime::MeteredRuntime;

use crate::adapters::storage::sql::SqlStore;
use crate::api::AppState;
use crate::config::Config;

pub struct Observability {
    pub metrics: Arc<Metrics>,
    options: ObservabilityOptions,
    dependencies: Dependencies,
}

/// The internal listener, when there is one.
pub struct InternalListener {
    pub addr: SocketAddr,
    /// Stops serving when aborted.
    pub task: JoinHandle<()>,
}

impl Observability {
    /// `rooms_stale_after`: see [`rooms::RoomGauges`]; `dependencies`: what `/readyz` checks.
    pub fn new(
        options: &ObservabilityOptions,
        rooms_stale_after: Duration,
        dependencies: Vec<Arc<dyn Dependency>>,
    ) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(rooms_stale_after)),
            options: options.clone(),
            dependencies: Dependencies(dependencies),
        }
    }

    /// As the configuration says: `/readyz` checks the database and, when configured, Redis.
    pub fn for_config(config: &Config, database: Arc<SqlStore>) -> Result<Self, String> {
        let mut dependencies: Vec<Arc<dyn Dependency>> = vec![database];
        if let Some(url) = &config.redis_url {
            dependencies.push(Arc::new(RedisDependency::new(url)?));
        }
        // A scheduler's lease outlives its last tick here by at most the lease time.
        let tick = config.health_tick_ms.max(50);
        let stale_after = Duration::from_millis(config.lease_ttl_ms.max(tick * 3) + 2 * tick);
        Ok(Self::new(&config.observability, stale_after, dependencies))
    }

    /// The runtime, its calls counted and timed.
    pub fn meter(&self, runtime: Arc<dyn Runtime>) -> Arc<dyn Runtime> {
        Arc::new(MeteredRuntime::new(runtime, self.metrics.clone()))
    }

    fn probes(&self) -> Router {
        Router::new()
            .route("/healthz", get(probes::healthz))
            .route("/readyz", get(probes::readyz))
            .with_state(self.dependencies.clone())
    }

    /// The whole HTTP surface with the probes, `/metrics` unless it has a listener of its own,
    /// and every request counted, timed and given a request id.
    pub fn wrap(&self, app: Router, state: &AppState) -> Router {
        let mut app = app.merge(self.probes());
        if self.options.metrics_listen.is_none() {
            app = app.merge(endpoint::guarded_router(
                self.metrics.clone(),
                self.options.metrics_token.as_deref(),
                state.clone(),
            ));
        }
        app.layer(axum::middleware::from_fn_with_state(
            self.metrics.clone(),
            http::observe,
        ))
    }

    /// Serves `/metrics` and the probes on `--metrics-listen`, when set.
    pub async fn listen_internal(
        &self,
    ) -> Result<Option<InternalListener>, (SocketAddr, std::io::Error)> {
        let Some(address) = self.options.metrics_listen else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| (address, e))?;
        let addr = listener.local_addr().map_err(|e| (address, e))?;
        let app = endpoint::open_router(self.metrics.clone()).merge(self.probes());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "the metrics listener stopped");
            }
        });
        Ok(Some(InternalListener { addr, task }))
    }
}
