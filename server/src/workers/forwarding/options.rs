//! Forwarding settings.

/// How events reach forwarders (see the README's "Event forwarders").
#[derive(clap::Args, Clone, Debug)]
pub struct ForwardingOptions {
    /// The HMAC-SHA256 key that signs `http` forwarders' requests (`X-Baton-Signature`), for
    /// forwarders without `options.secret`.
    #[arg(long, env = "BATON_FORWARDER_SECRET", hide_env_values = true)]
    pub forwarder_secret: Option<String>,
    /// Milliseconds between two resyncs of every room's status to the forwarders; 0: none.
    #[arg(long, env = "BATON_FORWARDER_RESYNC_MS", default_value_t = 60_000)]
    pub forwarder_resync_ms: u64,
    /// Events waiting per forwarder (and notes waiting for the dispatcher); when full, the
    /// oldest waiting event is dropped and counted.
    #[arg(long, env = "BATON_FORWARDER_QUEUE", default_value_t = 10_000)]
    pub forwarder_queue: usize,
    /// Retries of an event that failed (each after a backoff of 100 ms, doubling, at most 2 s).
    #[arg(long, env = "BATON_FORWARDER_RETRIES", default_value_t = 3)]
    pub forwarder_retries: u32,
}
