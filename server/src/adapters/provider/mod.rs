//! Machine providers: who adds and gives back machines when a machine-scaling decision says so.
//! `dry_run` (the default) only records; `webhook` asks an HTTP endpoint the operator runs.

pub mod dry_run;
pub mod webhook;

pub use dry_run::DryRunProvider;
pub use webhook::{WebhookBody, WebhookOptions, WebhookProvider, sign};
