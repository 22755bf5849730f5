#![recursion_limit = "256"]
//! Baton's server: the JSON API, the dashboard's server side, storage and runtimes.

pub mod adapters;
pub mod api;
pub mod browser_pages;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod live;
pub mod observability;
pub mod room_tokens;
pub mod runtimes;
pub mod same_origin;
pub mod scheduler_changes;
pub mod startup;
pub mod welcome;
pub mod workers;
