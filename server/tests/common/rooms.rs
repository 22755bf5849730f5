//! Helpers for end-to-end tests with live rooms on the local runtime.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestServer;

/// The example room binary (crate `game-room`), in the profile folder of this test binary's
/// target dir; `cargo build -p game-room` builds it (in seconds).
pub fn example_room() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("game_room"))
        .expect("target folder");
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p game-room`",
        path.display()
    );
    path
}

/// Pids of live processes whose environment has `KEY=value`.
pub fn processes_with(key: &str, value: &str) -> Vec<i32> {
    let needle = format!("{key}={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Zombies have exited already.
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'));
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                    .unwrap_or(false)
        })
        .collect()
}

pub async fn rooms(server: &TestServer, scheduler: &str) -> Vec<Value> {
    server
        .admin()
        .get(&format!("/schedulers/{scheduler}/rooms"))
        .await
        .ok()["rooms"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn ids_with_status(rooms: &[Value], status: &str) -> Vec<String> {
    rooms
        .iter()
        .filter(|r| r["status"] == status)
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect()
}

/// Polls until `done` holds for the scheduler's rooms, or fails with what was last seen.
pub async fn wait_for(
    server: &TestServer,
    scheduler: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let current = rooms(server, scheduler).await;
        if done(&current) {
            return current;
        }
        if started.elapsed() > within {
            let summary: Vec<String> = current
                .iter()
                .map(|r| format!("{}={}", r["id"], r["status"]))
                .collect();
            panic!("waited {within:?} for {what}; rooms: {summary:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
