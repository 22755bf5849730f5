//! Pings in batches (group commit): while a batch is in flight, the pings that arrive wait for
//! the next one, which carries them all, one scheduler's rooms per `EVALSHA`.

use std::sync::Arc;

use app::domain::room::RoomStatus;
use app::ports::StoreError;
use redis::aio::ConnectionManager;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::allocation::index_keys;
use super::codec::{Key, status_index};
use super::scripts::{INDEX_KEYS, MAX_SCRIPT_RELOADS, PING_ARGS, Scripts, lost_script};
use crate::adapters::storage::redis_connection::redis_error;

/// Pings of one batch at most (one scheduler's share runs as one script call).
const MAX_PING_BATCH: usize = 256;
/// Batches in flight at once: while they run, the pings that arrive gather into the next ones.
const PING_BATCHES_IN_FLIGHT: usize = 4;
/// Pings waiting for a batch at most; beyond, callers wait to queue theirs.
pub(super) const PING_QUEUE: usize = 8192;

/// A ping waiting for its batch, with where its answer goes: the script's reply for it.
pub(super) struct QueuedPing {
    pub(super) scheduler: String,
    pub(super) id: String,
    pub(super) to: RoomStatus,
    pub(super) now: String,
    /// `now` in microseconds: the room's score in the scheduler's last pings.
    pub(super) micros: i64,
    pub(super) metadata: String,
    pub(super) running_matches: String,
    pub(super) reply: oneshot::Sender<Result<String, StoreError>>,
}

/// Gathers queued pings into batches: at most `PING_BATCHES_IN_FLIGHT` run at once, and each
/// takes every ping queued when it starts (up to `MAX_PING_BATCH`), so a lone ping goes at once
/// and under load one script call serves many rooms. Ends when every store handle is gone.
pub(super) async fn batch_pings(
    mut queue: mpsc::Receiver<QueuedPing>,
    connection: ConnectionManager,
    prefix: String,
    scripts: Arc<Scripts>,
) {
    let in_flight = Arc::new(Semaphore::new(PING_BATCHES_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_PING_BATCH);
        if queue.recv_many(&mut batch, MAX_PING_BATCH).await == 0 {
            return;
        }
        // One script call per scheduler: its keys share one Redis Cluster hash slot.
        batch.sort_by(|a, b| a.scheduler.cmp(&b.scheduler));
        let mut groups: Vec<Vec<QueuedPing>> = Vec::new();
        for ping in batch {
            match groups.last_mut() {
                Some(group) if group[0].scheduler == ping.scheduler => group.push(ping),
                _ => groups.push(vec![ping]),
            }
        }
        let (connection, prefix, scripts) = (connection.clone(), prefix.clone(), scripts.clone());
        tokio::spawn(async move {
            futures::future::join_all(
                groups
                    .into_iter()
                    .map(|group| run_ping_batch(connection.clone(), &prefix, &scripts, group)),
            )
            .await;
            drop(permit);
        });
    }
}

/// One `EVALSHA` for pings to one scheduler's rooms; answers each ping.
async fn run_ping_batch(
    mut connection: ConnectionManager,
    prefix: &str,
    scripts: &Scripts,
    group: Vec<QueuedPing>,
) {
    let scheduler = group[0].scheduler.as_str();
    let mut script = redis::Cmd::with_capacity(
        3 + RoomStatus::ALL.len() + INDEX_KEYS + group.len() * (1 + PING_ARGS),
        256 + (prefix.len() + scheduler.len()) * 8 + group.len() * 160,
    );
    script
        .arg("EVALSHA")
        .arg(scripts.ping.get_hash())
        .arg(RoomStatus::ALL.len() + INDEX_KEYS + group.len());
    for status in RoomStatus::ALL {
        script.arg(Key::status(prefix, scheduler, status));
    }
    for key in index_keys(prefix, scheduler) {
        script.arg(key);
    }
    for ping in &group {
        script.arg(Key::room(prefix, scheduler, &ping.id));
    }
    for ping in &group {
        script
            .arg(&ping.id)
            .arg(ping.to.as_str())
            .arg(&ping.now)
            .arg(&ping.metadata)
            .arg(&ping.running_matches)
            .arg(scripts.allowed_before[status_index(ping.to)].as_str())
            .arg(ping.micros);
    }
    let mut reloads = 0;
    let replies: Result<Vec<String>, StoreError> = loop {
        match script.query_async(&mut connection).await {
            // The server lost its scripts (restart, failover, SCRIPT FLUSH): load it again.
            Err(e) if reloads < MAX_SCRIPT_RELOADS && lost_script(&e) => {
                if let Err(e) = scripts.ping.load_async(&mut connection).await {
                    break Err(redis_error(e));
                }
                reloads += 1;
            }
            reply => break reply.map_err(redis_error),
        }
    };
    match replies {
        Ok(replies) if replies.len() == group.len() => {
            for (ping, reply) in group.into_iter().zip(replies) {
                // A caller that gave up (its request ended) no longer waits for the answer.
                let _ = ping.reply.send(Ok(reply));
            }
        }
        outcome => {
            let error = match outcome {
                Ok(replies) => StoreError::Backend(format!(
                    "redis: a ping batch of {} got {} answers",
                    group.len(),
                    replies.len()
                )),
                Err(error) => error,
            };
            for ping in group {
                let _ = ping.reply.send(Err(error.clone()));
            }
        }
    }
}
