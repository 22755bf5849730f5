//! Event forwarders: Maestro's gRPC protocol and signed JSON over HTTP.

mod grpc;
mod http;

pub use grpc::GrpcForwarder;
pub use http::{HttpForwarder, SIGNATURE_HEADER, signature};

/// The messages, client and server of Maestro's forwarder protocol
/// (`proto/eventforwarder.proto`), generated at build time. The server is for tests and for
/// matchmakers written in Rust.
pub mod proto {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("eventforwarder");
}
