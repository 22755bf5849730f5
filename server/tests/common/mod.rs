//! Test harness: a fresh database per test (SQLite file or PostgreSQL database), the real server
//! started on it, and an HTTP client that speaks Basic auth.
//!
//! Every scenario is an `async fn(Backend)`; `on_both_backends!` turns a list of them into
//! `sqlite::NAME` and `postgres::NAME` tests.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use app::domain::user::{Role, User};
use app::ports::UserStore;
use clap::Parser;
use reqwest::{Method, RequestBuilder, StatusCode};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use server::adapters::storage::sql::SqlStore;
use server::config::{Config, RuntimeKind};
use tokio::task::JoinHandle;

pub mod rooms;

/// The PostgreSQL server the tests create their databases on (trust auth).
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Password of the `admin` user every test server is started with.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn(Backend)` scenario as one test per backend
/// (declare the harness with `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

fn postgres_base_url() -> String {
    std::env::var("BATON_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

/// `postgres://user@host:port/db?query` with the database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (url, None),
    };
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let root = match url[authority_start..].find('/') {
        Some(slash) => &url[..authority_start + slash],
        None => url,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

async fn postgres_admin_connection(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    match Database::connect(options).await {
        Ok(db) => db,
        Err(err) => panic!(
            "PostgreSQL is not reachable at {url}: {err}\n\
             The PostgreSQL tests need a local server with trust auth. Start it with:\n    \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
             or point BATON_TEST_POSTGRES_URL at another server \
             (default {DEFAULT_POSTGRES_URL})."
        ),
    }
}

/// A database that exists for one test only: removed (SQLite) or dropped (PostgreSQL) on drop.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    /// SQLite: the file. PostgreSQL: the database name.
    name: String,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("baton-test-{id}.db"));
                let path = path.to_string_lossy().into_owned();
                Self {
                    backend,
                    url: format!("sqlite://{path}?mode=rwc"),
                    name: path,
                }
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let name = format!("baton_{}", id.simple());
                let admin = postgres_admin_connection(&base).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("creating database {name} on {base}: {e}"));
                let _ = admin.close().await;
                Self {
                    backend,
                    url: with_database(&base, &name),
                    name,
                }
            }
        }
    }

    /// The store the server uses, opened separately (e.g. to create users).
    pub async fn store(&self) -> SqlStore {
        SqlStore::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.backend {
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
            Backend::Postgres => {
                // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
                // with its own runtime. FORCE ends the connections the server still holds.
                let base = postgres_base_url();
                let name = self.name.clone();
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime to drop the test database");
                    runtime.block_on(async {
                        let admin = postgres_admin_connection(&base).await;
                        let result = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                        result
                    })
                })
                .join();
                if let Ok(Err(err)) = dropped {
                    eprintln!("could not drop test database {}: {err}", self.name);
                }
            }
        }
    }
}

/// The real server, started by `server::startup::start` on a fresh database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base_url: String,
    task: JoinHandle<std::io::Result<()>>,
    client: reqwest::Client,
    // Dropped after the server task is stopped (fields drop after `Drop::drop`).
    pub db: TestDb,
}

impl TestServer {
    /// Starts the server with the test defaults: the local runtime, and a health controller so
    /// slow that it never touches the schedulers a test creates (their state and room counts stay
    /// as the management API left them). Tests of the controller use `start_with`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// The test defaults on the database at `url`.
    fn config(url: &str) -> Config {
        // Clap's defaults (and BATON_* variables) for whatever this harness does not set, so new
        // settings need no change here; the ones that matter to these tests are set explicitly.
        let mut config = Config::try_parse_from(["baton"]).expect("default settings");
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database_url = url.to_string();
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.runtime = RuntimeKind::Local;
        config.api_url = None;
        config.health_tick_ms = 3_600_000;
        config.demo_room = None;
        config.site_root = "target/site".to_string();
        config
    }

    /// Stops the server and starts a new one on the same database (on another port).
    pub async fn restart(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        let running = server::startup::start(Self::config(&self.db.url))
            .await
            .unwrap_or_else(|e| panic!("restarting the server on {}: {e}", self.db.url));
        self.addr = running.addr;
        self.base_url = format!("http://{}", running.addr);
        self.task = running.task;
    }

    /// Starts the server with the test defaults changed by `adjust`.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend).await;
        let mut config = Self::config(&db.url);
        adjust(&mut config);
        let running = server::startup::start(config)
            .await
            .unwrap_or_else(|e| panic!("starting the server on {}: {e}", db.url));
        assert!(
            running.generated_admin_password.is_none(),
            "the admin password was given, nothing should be generated"
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            addr: running.addr,
            base_url: format!("http://{}", running.addr),
            task: running.task,
            client,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Requests as `admin`.
    pub fn admin(&self) -> Api<'_> {
        self.user("admin", ADMIN_PASSWORD)
    }

    /// Requests with these Basic credentials.
    pub fn user(&self, username: &str, password: &str) -> Api<'_> {
        Api {
            server: self,
            credentials: Some((username.to_string(), password.to_string())),
        }
    }

    /// Requests without credentials.
    pub fn anonymous(&self) -> Api<'_> {
        Api {
            server: self,
            credentials: None,
        }
    }

    /// Creates a user straight through the `UserStore` port (the API has no user endpoints).
    pub async fn create_user(&self, username: &str, password: &str, role: Role, games: &[&str]) {
        self.create_user_with(username, password, role, games, false)
            .await
    }

    pub async fn create_user_with(
        &self,
        username: &str,
        password: &str,
        role: Role,
        games: &[&str],
        disabled: bool,
    ) {
        let store = self.db.store().await;
        let user = User {
            username: username.to_string(),
            role,
            games: games.iter().map(|g| g.to_string()).collect(),
            disabled,
        };
        let hash = server::api::auth::hash_password(password).expect("hashing a password");
        UserStore::create(&store, &user, &hash)
            .await
            .unwrap_or_else(|e| panic!("creating user {username}: {e}"));
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request maker bound to one server and one set of credentials.
#[derive(Clone)]
pub struct Api<'a> {
    server: &'a TestServer,
    credentials: Option<(String, String)>,
}

impl Api<'_> {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.server.client.request(method, self.server.url(path));
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        send(self.request(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        send(self.request(Method::PATCH, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        send(self.request(Method::PUT, path).json(body)).await
    }

    /// Sends `body` as is, with a JSON content type.
    pub async fn raw(&self, method: Method, path: &str, body: &str) -> Reply {
        send(
            self.request(method, path)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
        .await
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body as JSON, or `Null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    /// Panics, showing the body, unless the status is `expected`.
    #[track_caller]
    pub fn expect(&self, expected: StatusCode) -> &Value {
        assert_eq!(
            self.status, expected,
            "expected {expected}, got {} with body {}",
            self.status, self.text
        );
        &self.json
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        self.expect(StatusCode::OK)
    }

    /// Asserts an error status with its machine-readable code.
    #[track_caller]
    pub fn expect_error(&self, status: StatusCode, code: &str) {
        self.expect(status);
        assert_eq!(self.json["code"], code, "body: {}", self.text);
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error has a message: {}",
            self.text
        );
    }

    /// Asserts a 400 `INVALID_ARGUMENT` naming exactly these fields, in order, each with a message.
    #[track_caller]
    pub fn expect_invalid(&self, fields: &[&str]) {
        self.expect_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
        let errors = self.json["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors list in {}", self.text));
        let found: Vec<&str> = errors
            .iter()
            .map(|e| e["field"].as_str().unwrap_or("<no field>"))
            .collect();
        assert_eq!(found, fields, "body: {}", self.text);
        for error in errors {
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every field error has a message: {}",
                self.text
            );
        }
    }
}

pub async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a readable body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        json,
    }
}

/// The seed scheduler: Maestro v10's example body.
pub fn seed(name: &str, game: &str) -> Value {
    serde_json::json!({
        "name": name,
        "game": game,
        "roomsReplicas": 1,
        "portRange": {"start": 20000, "end": 21000},
        "maxSurge": "10%",
        "spec": {
            "terminationGracePeriod": "100s",
            "containers": [{
                "name": "game-container",
                "image": "registry.example.com/game:1.0.0",
                "imagePullPolicy": "IfNotPresent",
                "command": [],
                "environment": [{"name": "EXAMPLE_NAME", "value": "EXAMPLE_VALUE"}],
                "requests": {"memory": "100Mi", "cpu": "100m"},
                "limits": {"memory": "200Mi", "cpu": "200m"},
                "ports": [{"name": "port-name", "protocol": "tcp", "port": 12345}]
            }]
        },
        "forwarders": []
    })
}
