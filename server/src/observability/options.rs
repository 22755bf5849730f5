//! The command-line options of observability, flattened into `Config`.

use std::net::SocketAddr;

use clap::Args;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON formatter).
    Json,
}

#[derive(Args, Clone, Debug, Default)]
pub struct ObservabilityOptions {
    /// Serve `GET /metrics` (and the probes) on this separate address, without authentication
    /// (keep it on an internal network); `/metrics` is then not served on the main port.
    /// Unset: `/metrics` is served on the main port to an admin's Basic credentials or to
    /// `Authorization: Bearer <--metrics-token>`.
    #[arg(long, env = "BATON_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// A bearer token that lets a scraper read `/metrics` on the main port.
    #[arg(long, env = "BATON_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Log line format.
    #[arg(long, env = "BATON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
