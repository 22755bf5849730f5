//! Ping throughput benchmark (being written).
fn main() {}
