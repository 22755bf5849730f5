//! The `AuditLog` contract, run against `SqlStore` on SQLite and on PostgreSQL (a fresh
//! database per test; see `common`).

#[macro_use]
mod common;

use app::domain::audit::{AuditAction, AuditEntry};
use app::ports::{AuditFilter, AuditLog, StoreError};
use chrono::{DateTime, Utc};
use common::{Backend, TestDb};
use serde_json::json;
use server::adapters::storage::sql::SqlStore;

on_databases!(
    entries_round_trip_with_their_snapshots,
    entries_are_newest_first_and_filtered_by_game_and_scheduler,
    pages_follow_the_before_cursor,
    an_unknown_cursor_is_not_found,
);

async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    (db, store)
}

/// Microseconds: both databases keep them exactly.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_800_000_000_000_000 + seconds * 1_000_000 + 123).unwrap()
}

fn entry(seconds: i64, game: Option<&str>, scheduler: Option<&str>) -> AuditEntry {
    let mut entry = AuditEntry::new(
        at(seconds),
        "alice",
        AuditAction::NewVersion,
        format!("change at {seconds}"),
    );
    entry.game = game.map(str::to_string);
    entry.scheduler = scheduler.map(str::to_string);
    entry
}

fn summaries(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.summary.as_str()).collect()
}

fn all(limit: u64) -> AuditFilter {
    AuditFilter {
        limit,
        ..AuditFilter::default()
    }
}

async fn entries_round_trip_with_their_snapshots(backend: Backend) {
    let (_db, store) = open(backend).await;
    let written = entry(1, Some("g1"), Some("s1")).with(
        Some(json!({"autoscaling": {"min": 1}, "list": [1, "two", null]})),
        None,
    );
    let stored = store.record(&written).await.unwrap();
    assert!(stored.id > 0, "the log gives the id");
    assert_eq!(
        AuditEntry {
            id: 0,
            ..stored.clone()
        },
        written
    );
    let second = store.record(&entry(2, None, None)).await.unwrap();
    assert!(second.id > stored.id, "ids increase");

    let listed = store.list(&all(10)).await.unwrap();
    assert_eq!(listed, vec![second, stored]);
}

async fn entries_are_newest_first_and_filtered_by_game_and_scheduler(backend: Backend) {
    let (_db, store) = open(backend).await;
    // Recorded out of time order: the list follows `at`, then the id.
    for (seconds, game, scheduler) in [
        (3, Some("g1"), Some("a")),
        (1, Some("g1"), Some("b")),
        (2, Some("g2"), Some("c")),
        (3, None, None),
        (5, Some("g1"), Some("a")),
    ] {
        store
            .record(&entry(seconds, game, scheduler))
            .await
            .unwrap();
    }
    let listed = store.list(&all(10)).await.unwrap();
    let times: Vec<i64> = listed.iter().map(|e| e.at.timestamp()).collect();
    assert_eq!(
        times,
        [at(5), at(3), at(3), at(2), at(1)].map(|t| t.timestamp())
    );
    // Same time: the later record first.
    assert_eq!(listed[1].game, None);
    assert_eq!(listed[2].scheduler.as_deref(), Some("a"));

    let g1 = AuditFilter {
        games: Some(vec!["g1".into()]),
        ..all(10)
    };
    assert_eq!(
        summaries(&store.list(&g1).await.unwrap()),
        ["change at 5", "change at 3", "change at 1"]
    );
    let readable = AuditFilter {
        games: Some(vec!["g2".into(), "g1".into()]),
        scheduler: Some("a".into()),
        ..all(10)
    };
    assert_eq!(
        summaries(&store.list(&readable).await.unwrap()),
        ["change at 5", "change at 3"]
    );
    let none = AuditFilter {
        games: Some(vec![]),
        ..all(10)
    };
    assert!(store.list(&none).await.unwrap().is_empty());
    assert_eq!(store.list(&all(2)).await.unwrap().len(), 2);
}

async fn pages_follow_the_before_cursor(backend: Backend) {
    let (_db, store) = open(backend).await;
    for seconds in [1, 2, 2, 2, 3] {
        store
            .record(&entry(seconds, Some("g"), Some("s")))
            .await
            .unwrap();
    }
    let everything = store.list(&all(10)).await.unwrap();
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = store.list(&AuditFilter { before, ..all(2) }).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        paged.extend(page);
    }
    assert_eq!(
        paged, everything,
        "pages of 2 list every entry once, in order"
    );
}

async fn an_unknown_cursor_is_not_found(backend: Backend) {
    let (_db, store) = open(backend).await;
    let result = store
        .list(&AuditFilter {
            before: Some(42),
            ..all(10)
        })
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
}
