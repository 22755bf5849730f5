//! Command line and environment configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use clap::builder::NonEmptyStringValueParser;

mod machines;
mod runtimes;
pub use machines::{InjectedMachines, MachineProviderKind, MachineScalingOptions};
pub use runtimes::{RuntimeEntry, RuntimeSpec, RuntimesConfig, RuntimesFileError};

/// Baton: a game-room orchestrator.
#[derive(Parser, Clone, Debug)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on. Loopback by default: the local runtime runs commands from scheduler
    /// specs, so expose Baton to a network only behind authentication you trust.
    #[arg(long, env = "BATON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database: `sqlite://FILE?mode=rwc` (embedded default) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "BATON_DATABASE_URL",
        default_value = "sqlite://baton.db?mode=rwc"
    )]
    pub database_url: String,
    /// Redis for the room store (`redis://127.0.0.1:6379`); in-process when unset.
    #[arg(long, env = "BATON_REDIS_URL")]
    pub redis_url: Option<String>,
    /// What every Redis key of this Baton starts with (`PREFIX:`), so that several Batons, or
    /// tests, can share one Redis.
    #[arg(long, env = "BATON_REDIS_PREFIX", default_value = "baton", value_parser = NonEmptyStringValueParser::new())]
    pub redis_prefix: String,
    /// Password for the `admin` user created on first start; generated and printed once when unset.
    #[arg(long, env = "BATON_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Failed password checks (HTTP Basic, the dashboard's sign-in) one client address may make
    /// per minute; its further checks that minute are refused with 429 and `Retry-After`.
    /// Raise it only where no one guesses passwords (the API fuzz run sets it high).
    #[arg(long, env = "BATON_PASSWORD_CHECK_LIMIT", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub password_check_limit: u64,
    /// Where rooms run: `local` processes (embedded default) or `kubernetes` (KUBECONFIG or in-cluster).
    #[arg(long, env = "BATON_RUNTIME", value_enum, default_value_t = RuntimeKind::Local)]
    pub runtime: RuntimeKind,
    /// A TOML file of several runtimes, each named and tagged with a region (see the README's
    /// "Regions"); `--runtime` and `--local-rooms-dir` (as the root of local runtimes' rooms
    /// dirs) apply when it is unset.
    #[arg(long, env = "BATON_RUNTIMES")]
    pub runtimes: Option<PathBuf>,
    /// Local runtime: the folder under which each room gets its own directory, its cwd and
    /// HOME (`DIR/<scheduler>/<room>`, mode 0700, removed when the room stops). It must not be,
    /// nor hold, the folder of the SQLite database.
    #[arg(long, env = "BATON_LOCAL_ROOMS_DIR", default_value_os_t = default_rooms_dir())]
    pub local_rooms_dir: PathBuf,
    /// The base URL rooms call back (`BATON_API_URL` in each room); defaults to the listen address.
    #[arg(long, env = "BATON_API_URL")]
    pub api_url: Option<String>,
    /// Milliseconds between two health checks of a scheduler.
    #[arg(long, env = "BATON_HEALTH_TICK_MS", default_value_t = 1000)]
    pub health_tick_ms: u64,
    /// Milliseconds a process keeps a scheduler's lease without renewing it (it renews it once a
    /// third has passed): when a replica dies, another takes its schedulers over within this time.
    #[arg(long, env = "BATON_LEASE_TTL_MS", default_value_t = 10_000)]
    pub lease_ttl_ms: u64,
    /// How many validation rooms a new major version gets to turn ready before it is refused;
    /// 0 makes a major version active at once, unvalidated (for development and API tests).
    #[arg(long, env = "BATON_VALIDATION_ATTEMPTS", default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(0..=10))]
    pub validation_attempts: u32,
    /// Milliseconds between two autoscaling usage points of a scheduler (the seed's
    /// autoScalingPeriod): a trigger considers `time / period` points.
    #[arg(long, env = "BATON_AUTOSCALING_PERIOD_MS", default_value_t = 10_000)]
    pub autoscaling_period_ms: u64,
    /// Path of the example game room binary: when set, a `demo` scheduler running it is created
    /// on start (if absent), so a newcomer sees live rooms at once.
    #[arg(long, env = "BATON_DEMO_ROOM")]
    pub demo_room: Option<String>,
    /// Games whose editors may create and change schedulers on the local runtime, whose commands
    /// run on this host as Baton's OS user (comma-separated). Otherwise only administrators may.
    #[arg(
        long,
        env = "BATON_LOCAL_RUNTIME_EDITOR_GAMES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub local_runtime_editor_games: Vec<String>,
    /// Mark the dashboard's session cookie `Secure` (browsers then send it over HTTPS only):
    /// set it when Baton is served behind TLS.
    #[arg(long, env = "BATON_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Seconds a dashboard session lasts without a signed-in request; every such request
    /// renews it (sliding expiry). Default: 12 hours.
    #[arg(long, env = "BATON_SESSION_IDLE_SECS", default_value_t = 43_200,
        value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub session_idle_secs: u64,
    /// Folder with the built dashboard assets (set by cargo-leptos as LEPTOS_SITE_ROOT).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    #[command(flatten)]
    pub observability: crate::observability::ObservabilityOptions,
    #[command(flatten)]
    pub forwarding: crate::workers::forwarding::ForwardingOptions,
    /// Machine scaling: the provider and the period (see the README's "Capacity").
    #[command(flatten)]
    pub machine_scaling: MachineScalingOptions,
}

fn default_rooms_dir() -> PathBuf {
    std::env::temp_dir().join("baton-rooms")
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    Local,
    Kubernetes,
}

impl Config {
    /// The settings in force, safe to print: passwords in URLs are masked.
    pub fn describe(&self) -> String {
        format!(
            "listen={} database={} rooms={} runtimes={} api_url={} site_root={} secure_cookies={} session_idle_secs={} admin_password={}",
            self.listen,
            mask_password(&self.database_url),
            self.redis_url
                .as_deref()
                .map_or("in-process".to_string(), |url| format!(
                    "{} (prefix {})",
                    mask_password(url),
                    self.redis_prefix
                )),
            match self.runtimes() {
                Ok(runtimes) => runtimes.describe(),
                Err(err) => format!("(unusable: {err})"),
            },
            self.api_url.as_deref().unwrap_or("(listen address)"),
            self.site_root,
            self.secure_cookies,
            self.session_idle_secs,
            if self.admin_password.is_some() {
                "set"
            } else {
                "unset"
            },
        )
    }
}

/// The folder of the SQLite database file, when the database is a SQLite file
/// (`sqlite://FILE`, `sqlite:FILE`; not `sqlite::memory:`).
pub fn sqlite_folder(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
    if file.is_empty() || file == ":memory:" || query.split('&').any(|q| q == "mode=memory") {
        return None;
    }
    let folder = std::path::Path::new(file).parent()?;
    Some(if folder.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        folder.to_path_buf()
    })
}

/// The URL with every secret masked as `***`: the password of its user info
/// (`scheme://user:password@host`, `redis://:password@host`) and the values of query
/// parameters that name a secret (`password`, `secret`, `token`, `key`, ...).
pub fn mask_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
                    None => base.to_string(),
                },
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    let Some(query) = query else {
        return base;
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if names_a_secret(name) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", masked.join("&"))
}

fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "auth", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_urls() {
        assert_eq!(
            mask_password("postgres://baton:secret@db/baton"),
            "postgres://baton:***@db/baton"
        );
        assert_eq!(
            mask_password("postgres://baton@db/baton"),
            "postgres://baton@db/baton"
        );
        assert_eq!(
            mask_password("sqlite://baton.db?mode=rwc"),
            "sqlite://baton.db?mode=rwc"
        );
        assert_eq!(
            mask_password("redis://:p@ss@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            mask_password("postgres://db/baton?user=b&password=hunter2&sslmode=require"),
            "postgres://db/baton?user=b&password=***&sslmode=require"
        );
        assert_eq!(
            mask_password("rediss://u:pw@h/?auth_token=abc"),
            "rediss://u:***@h/?auth_token=***"
        );
    }

    #[test]
    fn the_sqlite_folder_is_found_in_every_url_form() {
        let folder = |url| sqlite_folder(url).map(|p| p.display().to_string());
        assert_eq!(folder("sqlite://baton.db?mode=rwc").as_deref(), Some("."));
        assert_eq!(
            folder("sqlite:///var/lib/baton/b.db").as_deref(),
            Some("/var/lib/baton")
        );
        assert_eq!(folder("sqlite:data/b.db").as_deref(), Some("data"));
        assert_eq!(folder("sqlite::memory:"), None);
        assert_eq!(folder("sqlite://b.db?mode=memory"), None);
        assert_eq!(folder("postgres://u@h/db"), None);
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let config = Config::try_parse_from(["baton"]).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert!(config.database_url.starts_with("sqlite://"));
    }
}
