//! Command line and environment configuration.

use std::net::SocketAddr;

use clap::Parser;

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
    /// Password for the `admin` user created on first start; generated and printed once when unset.
    #[arg(long, env = "BATON_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Where rooms run: `local` processes (embedded default) or `kubernetes` (KUBECONFIG or in-cluster).
    #[arg(long, env = "BATON_RUNTIME", value_enum, default_value_t = RuntimeKind::Local)]
    pub runtime: RuntimeKind,
    /// The base URL rooms call back (`BATON_API_URL` in each room); defaults to the listen address.
    #[arg(long, env = "BATON_API_URL")]
    pub api_url: Option<String>,
    /// Milliseconds between two health checks of a scheduler.
    #[arg(long, env = "BATON_HEALTH_TICK_MS", default_value_t = 1000)]
    pub health_tick_ms: u64,
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
    /// Folder with the built dashboard assets (set by cargo-leptos as LEPTOS_SITE_ROOT).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
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
            "listen={} database={} rooms={} runtime={:?} api_url={} site_root={} secure_cookies={} admin_password={}",
            self.listen,
            mask_password(&self.database_url),
            self.redis_url
                .as_deref()
                .map_or("in-process".to_string(), mask_password),
            self.runtime,
            self.api_url.as_deref().unwrap_or("(listen address)"),
            self.site_root,
            self.secure_cookies,
            if self.admin_password.is_some() {
                "set"
            } else {
                "unset"
            },
        )
    }
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
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
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let config = Config::try_parse_from(["baton"]).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert!(config.database_url.starts_with("sqlite://"));
    }
}
