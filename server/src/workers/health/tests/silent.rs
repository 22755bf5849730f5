//! Pings and time-outs through whole ticks, on each room store (the Redis one answers the
//! tick's listing from its last read while only heartbeats came): a room that stops pinging is
//! replaced once its ping timeout passes, one that keeps pinging never is, and what another
//! process changes (a second store handle on the same Redis) shows in the next tick.

use app::domain::health::{HealthPlan, RemovalReason};
use app::domain::room::Ping;
use chrono::Utc;

use super::*;
use crate::adapters::storage::redis::RedisRoomStore;

fn redis_url() -> String {
    std::env::var("BATON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn ready() -> Ping {
    Ping {
        status: RoomStatus::Ready,
        timestamp: None,
        metadata: None,
        running_matches: None,
    }
}

fn removed(plan: &HealthPlan, room: &str) -> Option<RemovalReason> {
    plan.remove
        .iter()
        .find(|r| r.room == room)
        .map(|r| r.reason)
}

/// Two rooms with a 1 s ping timeout: `a` pings every 100 ms, `b` once. Ticks every 100 ms
/// until `b` is replaced; then `other` (another process's store) turns `a` to error.
async fn silent_rooms_time_out(rooms: Arc<dyn RoomStore>, other: Arc<dyn RoomStore>) {
    let setup = setup_on(
        serde_json::json!(["eu-west"]),
        2,
        serde_json::json!({"roomTimeouts": {"ping": "1s"}}),
        rooms.clone(),
    )
    .await;
    let mut streak = TickMemory::default();
    let tick = async |streak: &mut TickMemory| {
        setup
            .controller
            .tick_once("arena", streak, &[])
            .await
            .unwrap()
    };
    assert_eq!(tick(&mut streak).await.create, 2);
    let ids = ids(&rooms.list("arena").await.unwrap());
    let (a, b) = (&ids[0], &ids[1]);
    for id in [a, b] {
        rooms
            .ping("arena", id, &ready(), Utc::now())
            .await
            .unwrap()
            .unwrap();
    }
    let b_pinged = Utc::now();
    assert!(
        tick(&mut streak).await.is_empty(),
        "two ready rooms: nothing to do"
    );
    let started = std::time::Instant::now();
    let b_gone = loop {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "b never timed out"
        );
        rooms
            .ping("arena", a, &ready(), Utc::now())
            .await
            .unwrap()
            .unwrap();
        let plan = tick(&mut streak).await;
        assert_eq!(removed(&plan, a), None, "a pings: it stays");
        if let Some(reason) = removed(&plan, b) {
            break (reason, Utc::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(b_gone.0, RemovalReason::PingTimeout);
    assert!(
        b_gone.1 - b_pinged > chrono::Duration::seconds(1),
        "b went after its timeout"
    );
    assert!(
        b_gone.1 - b_pinged < chrono::Duration::milliseconds(1800),
        "b went in the first tick after its timeout"
    );
    assert_eq!(
        rooms.get("arena", b).await.unwrap().status,
        RoomStatus::Terminating
    );
    assert_eq!(
        rooms.get("arena", a).await.unwrap().status,
        RoomStatus::Ready
    );

    // Another process turns a to error: the next tick replaces it.
    other
        .set_status("arena", a, RoomStatus::Error, Utc::now())
        .await
        .unwrap();
    let plan = tick(&mut streak).await;
    assert_eq!(removed(&plan, a), Some(RemovalReason::Error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_room_times_out_in_memory() {
    let rooms: Arc<dyn RoomStore> = Arc::new(MemoryRoomStore::default());
    silent_rooms_time_out(rooms.clone(), rooms).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_room_times_out_on_redis_and_another_processs_change_shows() {
    let url = redis_url();
    let prefix = format!("baton-test-{}", uuid::Uuid::new_v4().simple());
    let mut stores: Vec<Arc<dyn RoomStore>> = Vec::new();
    for _ in 0..2 {
        let store = RedisRoomStore::connect(&url, &prefix)
            .await
            .expect("Redis at BATON_TEST_REDIS_URL or 127.0.0.1:6379");
        stores.push(Arc::new(store));
    }
    let (rooms, other) = (stores[0].clone(), stores[1].clone());
    let outcome = tokio::spawn(silent_rooms_time_out(rooms, other)).await;
    // The test's keys go, even when it failed.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}
