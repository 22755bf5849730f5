//! The composition root: picks adapters from configuration, builds the router and serves it.
//! The only place that knows every adapter.

use std::net::SocketAddr;
use std::sync::Arc;

use app::domain::user::{Role, User};
use app::ports::{SchedulerStore, StoreError, UserStore};
use app::{App, shell};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use rand::distr::{Alphanumeric, SampleString};
use tokio::task::JoinHandle;

use crate::adapters::storage::memory::MemoryRoomStore;
use crate::adapters::storage::sql::SqlStore;
use crate::api::{self, AppState, auth};
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("creating the admin user: {0}")]
    Admin(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// A server that is up and serving.
pub struct Running {
    pub addr: SocketAddr,
    /// The admin password, when it was generated at this start (print it once).
    pub generated_admin_password: Option<String>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Creates the `admin` user when there are no users yet; returns the password if it was generated.
async fn ensure_admin(
    users: &dyn UserStore,
    password: Option<&str>,
) -> Result<Option<String>, StartError> {
    if users.count().await? > 0 {
        return Ok(None);
    }
    let generated = password
        .is_none()
        .then(|| Alphanumeric.sample_string(&mut rand::rng(), 24));
    let password = password.or(generated.as_deref()).unwrap_or_default();
    let hash = auth::hash_password(password).map_err(|e| StartError::Admin(e.to_string()))?;
    let admin = User {
        username: "admin".to_string(),
        role: Role::Admin,
        games: Vec::new(),
        disabled: false,
    };
    match users.create(&admin, &hash).await {
        // Another instance created it first: fine.
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(generated),
        Err(err) => Err(err.into()),
    }
}

fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    let output_name = std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "baton".to_string());
    LeptosOptions::builder()
        .output_name(output_name)
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// The whole HTTP surface: JSON API first, then the dashboard pages and their assets.
fn router(state: AppState, options: LeptosOptions) -> Router {
    let routes = generate_route_list(App);
    let pages: Router = Router::new()
        .leptos_routes(&options, routes, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options);
    api::router(state).merge(pages)
}

/// Connects storage, ensures an admin exists, and serves on `config.listen`.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let store = Arc::new(SqlStore::connect(&config.database_url).await?);
    let generated_admin_password =
        ensure_admin(store.as_ref(), config.admin_password.as_deref()).await?;
    let users: Arc<dyn UserStore> = store.clone();
    let schedulers: Arc<dyn SchedulerStore> = store;
    let state = AppState {
        schedulers,
        rooms: Arc::new(MemoryRoomStore::default()),
        auth: Arc::new(
            auth::Authenticator::new(users).map_err(|e| StartError::Admin(e.to_string()))?,
        ),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let app = router(state, leptos_options(&config, addr));
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running {
        addr,
        generated_admin_password,
        task,
    })
}
