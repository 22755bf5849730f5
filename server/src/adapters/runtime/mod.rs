//! Runtime adapters: where room instances run.

pub mod kubernetes;
pub mod local;
