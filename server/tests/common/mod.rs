//! Test harness: a fresh database per test (SQLite file or PostgreSQL database), the real server
//! started on it, and an HTTP client that speaks Basic auth.
//!
//! Every scenario is an `async fn(Backend)`; `on_both_backends!` turns a list of them into
//! `sqlite::NAME`, `postgres::NAME` and `redis::NAME` tests (the last on SQLite with the Redis
//! room store), `on_databases!` into the first two, `on_room_stores!` into the first and last.
//! A Redis test server gets a key prefix of its own, whose keys are deleted when it stops, so
//! tests on one Redis do not see each other.

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

pub mod browser;
pub mod rooms;

/// The PostgreSQL server the tests create their databases on (trust auth).
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The Redis the `redis` tests keep rooms in.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Password of the `admin` user every test server is started with.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, rooms in process.
    Sqlite,
    /// PostgreSQL, rooms in process.
    Postgres,
    /// SQLite, rooms (and autoscaling points) in Redis.
    Redis,
}

/// Runs each scenario of the parenthesized list once per `module = Backend` pair, as
/// `module::scenario` tests.
#[allow(unused_macros)]
macro_rules! on_backends {
    ($($module:ident = $backend:ident),+ ; $scenarios:tt) => {
        $( on_backends!(@module $module $backend $scenarios); )+
    };
    (@module $module:ident $backend:ident ($($scenario:ident),* $(,)?)) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::common::Backend::$backend).await
                }
            )*
        }
    };
}

/// Runs each listed `async fn(Backend)` scenario on SQLite, on PostgreSQL and on SQLite with
/// the Redis room store (declare the harness with `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        on_backends!(sqlite = Sqlite, postgres = Postgres, redis = Redis; ($($scenario),*));
    };
}

/// Runs each listed scenario on both databases (for the SQL store's own tests).
#[allow(unused_macros)]
macro_rules! on_databases {
    ($($scenario:ident),* $(,)?) => {
        on_backends!(sqlite = Sqlite, postgres = Postgres; ($($scenario),*));
    };
}

/// Runs each listed scenario with both room stores, on SQLite.
#[allow(unused_macros)]
macro_rules! on_room_stores {
    ($($scenario:ident),* $(,)?) => {
        on_backends!(sqlite = Sqlite, redis = Redis; ($($scenario),*));
    };
}

pub fn redis_url() -> String {
    std::env::var("BATON_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string())
}

/// Deletes every key under `prefix:` (the keys of one test server).
pub async fn delete_redis_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            let () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut connection)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The keys of one test under one Redis prefix: deleted when dropped, also when the test failed.
pub struct RedisKeys {
    pub url: String,
    pub prefix: String,
}

impl RedisKeys {
    /// A prefix of its own on the test Redis.
    pub fn new() -> Self {
        Self {
            url: redis_url(),
            prefix: format!("baton-test-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let deleted = block_on_own_runtime(async move { delete_redis_keys(&url, &prefix).await });
        if let Ok(Err(err)) = deleted {
            eprintln!(
                "could not delete the Redis keys under {}: {err}",
                self.prefix
            );
        }
    }
}

/// Runs `work` to completion on a runtime of its own, in a thread: for `Drop`, which runs inside
/// the test's runtime and cannot block on it.
fn block_on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for clean-up")
            .block_on(work)
    })
    .join()
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
            Backend::Sqlite | Backend::Redis => {
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
            Backend::Sqlite | Backend::Redis => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
            Backend::Postgres => {
                // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
                // with its own runtime. FORCE ends the connections the server still holds.
                let base = postgres_base_url();
                let name = self.name.clone();
                let dropped = block_on_own_runtime(async move {
                    let admin = postgres_admin_connection(&base).await;
                    let result = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                    result
                });
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
    /// What it was started with (a restart uses it again).
    pub config: Config,
    task: JoinHandle<std::io::Result<()>>,
    client: reqwest::Client,
    // Dropped after the server task is stopped (fields drop after `Drop::drop`).
    pub db: TestDb,
    /// `Backend::Redis`: the server's keys.
    redis: Option<RedisKeys>,
}

impl TestServer {
    /// Starts the server with the test defaults: the local runtime, and a health controller so
    /// slow that it never touches the schedulers a test creates (their state and room counts stay
    /// as the management API left them). Tests of the controller use `start_with`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// The test defaults on `db` (and for `Backend::Redis`, rooms in Redis under `redis`'s
    /// prefix); local rooms in a folder of their own.
    fn config(db: &TestDb, redis: Option<&RedisKeys>) -> Config {
        // Clap's defaults (and BATON_* variables) for whatever this harness does not set, so new
        // settings need no change here; the ones that matter to these tests are set explicitly.
        let mut config = Config::try_parse_from(["baton"]).expect("default settings");
        let id = uuid::Uuid::new_v4().simple();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database_url = db.url.clone();
        config.redis_url = redis.map(|keys| keys.url.clone());
        if let Some(keys) = redis {
            config.redis_prefix = keys.prefix.clone();
        }
        config.local_rooms_dir = std::env::temp_dir().join(format!("baton-test-rooms-{id}"));
        config.admin_password = Some(ADMIN_PASSWORD.to_string());
        config.runtime = RuntimeKind::Local;
        config.api_url = None;
        config.health_tick_ms = 3_600_000;
        // Changes still run as operations (woken at once), but a major version needs no room
        // to turn ready; the operations tests turn validation on.
        config.validation_attempts = 0;
        config.demo_room = None;
        config.site_root = "target/site".to_string();
        config
    }

    /// Stops the server and starts a new one with the same settings, on the same database (on
    /// another port).
    pub async fn restart(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        let running = server::startup::start(self.config.clone())
            .await
            .unwrap_or_else(|e| panic!("restarting the server on {}: {e}", self.db.url));
        self.addr = running.addr;
        self.base_url = format!("http://{}", running.addr);
        self.task = running.task;
    }

    /// Starts the server with the test defaults changed by `adjust`.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        // The server's log, shown with a failing test's output (`RUST_LOG` to change the level).
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn,server=info,app=info".into()),
            )
            .try_init();
        let db = TestDb::new(backend).await;
        let redis = (backend == Backend::Redis).then(RedisKeys::new);
        let mut config = Self::config(&db, redis.as_ref());
        adjust(&mut config);
        let running =
            server::startup::start(config.clone())
                .await
                .unwrap_or_else(|e| match &config.redis_url {
                    Some(redis) => panic!(
                        "starting the server on {} with Redis at {redis}: {e}\n\
                     The `redis` tests need a local Redis (or BATON_TEST_REDIS_URL). Start it \
                     with:\n    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
                     --save \"\" --appendonly no",
                        db.url
                    ),
                    None => panic!("starting the server on {}: {e}", db.url),
                });
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
            config,
            task: running.task,
            client,
            db,
            redis,
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
            wait: true,
        }
    }

    /// Requests without credentials.
    pub fn anonymous(&self) -> Api<'_> {
        Api {
            server: self,
            credentials: None,
            wait: true,
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

/// Points `config` at a runtimes file (see the README's "Regions") holding `text`, written
/// beside the test's rooms dir; local runtimes that name no `rooms_dir` get theirs under the
/// test's rooms dir, so that the server's drop stops their rooms too.
pub fn use_runtimes_file(config: &mut Config, text: &str) {
    let file = config.local_rooms_dir.with_extension("runtimes.toml");
    std::fs::write(&file, text).expect("writing the runtimes file");
    config.runtimes = Some(file);
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        // Local rooms outlive the server that started them: none may outlive the test.
        server::adapters::runtime::local::kill_recorded_rooms(&self.config.local_rooms_dir);
        // The rooms dirs of a runtimes file's local runtimes are kept under it in these tests.
        for dir in std::fs::read_dir(&self.config.local_rooms_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            server::adapters::runtime::local::kill_recorded_rooms(&dir.path());
        }
        let _ = std::fs::remove_dir_all(&self.config.local_rooms_dir);
        let _ = std::fs::remove_file(self.config.local_rooms_dir.with_extension("runtimes.toml"));
    }
}

/// A request maker bound to one server and one set of credentials. Changes to schedulers
/// (`POST`, `PUT`, `PATCH`, `DELETE` under `/schedulers`) wait for their operation like a
/// synchronous client (`?wait=10s`), unless made with `queued()`.
#[derive(Clone)]
pub struct Api<'a> {
    server: &'a TestServer,
    credentials: Option<(String, String)>,
    wait: bool,
}

impl Api<'_> {
    /// Changes answer as soon as their operation is queued.
    pub fn queued(mut self) -> Self {
        self.wait = false;
        self
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let waits = self.wait
            && method != Method::GET
            && path.starts_with("/schedulers")
            && !path.contains('?')
            && !path.contains("/operations");
        let path = if waits {
            format!("{path}?wait=10s")
        } else {
            path.to_string()
        };
        let request = self.server.client.request(method, self.server.url(&path));
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
