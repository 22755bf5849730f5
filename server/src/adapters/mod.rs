//! One module per technology behind the ports of `app::ports`.

pub mod forwarder;
pub mod provider;
pub mod runtime;
pub mod storage;
