//! An example game room: reads the variables Baton gives every room, pings `ready`, turns
//! `occupied` for simulated matches and back, and on SIGTERM pings `terminating` and exits.
//!
//! Tunables (environment): `EXAMPLE_PING_SECONDS` (default 2), `EXAMPLE_MATCH_CHANCE` (0..1 per
//! ping while ready, default 0 — no matches unless asked), `EXAMPLE_MATCH_SECONDS` (default 10).
//!
//! Its own small crate (tokio only, plain HTTP/1.1 to `BATON_API_URL`), so that it builds in
//! seconds instead of compiling the server's dependency graph a second time.

mod ping;

use std::hash::{BuildHasher, Hasher};
use std::task::Poll;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use ping::Pinger;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A number in [0, 1), different at every call (std's randomly keyed hasher: no dependency).
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn main() {
    let required = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            eprintln!("{name} is not set: run this room under Baton");
            std::process::exit(2)
        })
    };
    let scheduler = required("MAESTRO_SCHEDULER_NAME");
    let room_id = required("MAESTRO_ROOM_ID");
    let api = required("BATON_API_URL");
    let token = std::env::var("BATON_ROOM_TOKEN").unwrap_or_default();
    let pinger = match Pinger::new(&api, &scheduler, &room_id, &token) {
        Ok(pinger) => pinger,
        Err(err) => {
            eprintln!("BATON_API_URL {api}: {err}");
            std::process::exit(2)
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("no runtime: {err}");
            std::process::exit(1)
        }
    };
    println!("room {room_id} of {scheduler} up, pinging {api}");
    runtime.block_on(run(pinger));
}

async fn run(pinger: Pinger) {
    let ping_every = Duration::from_secs_f64(env_or("EXAMPLE_PING_SECONDS", 2.0));
    let match_chance: f64 = env_or("EXAMPLE_MATCH_CHANCE", 0.0);
    let match_length = Duration::from_secs_f64(env_or("EXAMPLE_MATCH_SECONDS", 10.0));
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(err) => {
            eprintln!("no SIGTERM handler: {err}");
            std::process::exit(1)
        }
    };
    let mut match_ends: Option<tokio::time::Instant> = None;
    let mut ticker = tokio::time::interval(ping_every);
    loop {
        // Whichever comes first (tokio's `select!` would need its proc-macro crates).
        let terminating = std::future::poll_fn(|cx| {
            if terminate.poll_recv(cx).is_ready() {
                Poll::Ready(true)
            } else if ticker.poll_tick(cx).is_ready() {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
        .await;
        if terminating {
            println!("SIGTERM: terminating");
            pinger.ping("terminating", 0).await;
            return;
        }
        let now = tokio::time::Instant::now();
        if match_ends.is_some_and(|end| now >= end) {
            match_ends = None;
            println!("match over");
        }
        if match_ends.is_none() && random_fraction() < match_chance {
            match_ends = Some(now + match_length);
            println!("match started");
        }
        let (status, matches) = if match_ends.is_some() {
            ("occupied", 1)
        } else {
            ("ready", 0)
        };
        pinger.ping(status, matches).await;
    }
}
