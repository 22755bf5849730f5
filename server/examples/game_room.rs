//! An example game room: reads the variables Baton gives every room, pings `ready`, turns
//! `occupied` for simulated matches and back, and on SIGTERM pings `terminating` and exits.
//!
//! Tunables (environment): `EXAMPLE_PING_SECONDS` (default 2), `EXAMPLE_MATCH_CHANCE` (0..1 per
//! ping while ready, default 0 — no matches unless asked), `EXAMPLE_MATCH_SECONDS` (default 10).

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Room {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Room {
    async fn ping(&self, status: &str, running_matches: u32) {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let body = serde_json::json!({
            "status": status,
            "timestamp": timestamp,
            "runningMatches": running_matches,
        });
        match self
            .client
            .put(&self.url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => eprintln!("ping {status} refused: {}", response.status()),
            Err(err) => eprintln!("ping {status} failed: {err}"),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let required = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            eprintln!("{name} is not set: run this room under Baton");
            std::process::exit(2)
        })
    };
    let scheduler = required("MAESTRO_SCHEDULER_NAME");
    let room_id = required("MAESTRO_ROOM_ID");
    let api = required("BATON_API_URL");
    let room = Room {
        client: reqwest::Client::new(),
        url: format!("{api}/scheduler/{scheduler}/rooms/{room_id}/ping"),
        token: std::env::var("BATON_ROOM_TOKEN").unwrap_or_default(),
    };
    let ping_every = Duration::from_secs_f64(env_or("EXAMPLE_PING_SECONDS", 2.0));
    let match_chance: f64 = env_or("EXAMPLE_MATCH_CHANCE", 0.0);
    let match_length = Duration::from_secs_f64(env_or("EXAMPLE_MATCH_SECONDS", 10.0));
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    println!("room {room_id} of {scheduler} up, pinging {api}");

    let mut match_ends: Option<tokio::time::Instant> = None;
    let mut ticker = tokio::time::interval(ping_every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = tokio::time::Instant::now();
                if match_ends.is_some_and(|end| now >= end) {
                    match_ends = None;
                    println!("match over");
                }
                if match_ends.is_none() && rand::random::<f64>() < match_chance {
                    match_ends = Some(now + match_length);
                    println!("match started");
                }
                let (status, matches) = if match_ends.is_some() { ("occupied", 1) } else { ("ready", 0) };
                room.ping(status, matches).await;
            }
            _ = terminate.recv() => {
                println!("SIGTERM: terminating");
                room.ping("terminating", 0).await;
                return;
            }
        }
    }
}
