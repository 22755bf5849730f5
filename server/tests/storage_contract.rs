//! The `SchedulerStore` and `UserStore` contracts (session epochs included), and tower-sessions' `SessionStore`, run
//! against `SqlStore` on SQLite and on PostgreSQL (a fresh database per test; see `common`).

#[macro_use]
mod common;

use std::collections::BTreeMap;

use app::domain::scheduler::{SchedulerConfig, SchedulerState};
use app::domain::user::{Role, User};
use app::ports::{Account, SchedulerFilter, SchedulerHead, SchedulerStore, StoreError, UserStore};
use chrono::Utc;
use common::{Backend, TestDb};
use server::adapters::storage::sql::SqlStore;

on_databases!(
    create_then_get_round_trips,
    create_conflicts_on_a_taken_name,
    unknown_schedulers_and_versions_are_not_found,
    list_filters_by_name_and_game,
    add_version_stores_and_activates,
    add_version_conflicts_on_an_existing_version,
    versions_are_oldest_first_with_the_active_one_marked,
    switch_active_changes_what_get_and_list_return,
    stored_versions_wait_inactive_and_only_inactive_ones_are_removed,
    set_state_round_trips_every_state,
    heads_tell_each_schedulers_active_version_and_state,
    delete_removes_the_scheduler_and_all_its_versions,
    concurrent_creates_of_one_name,
    concurrent_add_version_of_one_version,
    users_round_trip_and_conflict,
    users_are_listed_and_changed,
    session_epochs_move_on_at_sign_out_everywhere_and_at_disable,
    sessions_are_created_saved_loaded_and_deleted,
    expired_sessions_are_neither_loaded_nor_kept,
);

/// A fresh database and the store on it (the store is dropped first).
async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    (db, store)
}

fn config(name: &str, game: &str) -> SchedulerConfig {
    serde_json::from_value(common::seed(name, game)).expect("a valid scheduler")
}

fn replicas(mut config: SchedulerConfig, rooms: i64) -> SchedulerConfig {
    config.rooms_replicas = rooms;
    config
}

fn names(schedulers: &[app::domain::scheduler::Scheduler]) -> Vec<&str> {
    schedulers.iter().map(|s| s.config.name.as_str()).collect()
}

async fn version_flags(store: &SqlStore, name: &str) -> Vec<(String, bool)> {
    store
        .versions(name)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.is_active))
        .collect()
}

fn owned(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(v, a)| (v.to_string(), *a)).collect()
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
}

async fn create_then_get_round_trips(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut full = config("full", "game");
    full.annotations = BTreeMap::from([("example.com/owner".into(), "team".into())]);
    full.labels = BTreeMap::from([("team".into(), "red".into())]);
    full.allow_tokenless_pings = true;
    full.autoscaling = serde_json::from_value(serde_json::json!({
        "min": 1, "max": 5, "policy": {"type": "roomOccupancy",
            "parameters": {"readyTarget": 0.5, "downThreshold": 0.9}}
    }))
    .unwrap();

    let before = Utc::now() - chrono::Duration::seconds(1);
    let created = SchedulerStore::create(&store, &full).await.unwrap();
    assert_eq!(created.config, full);
    assert_eq!(created.version, "v1");
    assert_eq!(created.state, SchedulerState::Creating);
    assert!(created.created_at >= before && created.created_at <= Utc::now());

    let active = store.get("full", None).await.unwrap();
    assert_eq!(active, created);
    let v1 = store.get("full", Some("v1")).await.unwrap();
    assert_eq!(v1, created);
}

async fn create_conflicts_on_a_taken_name(backend: Backend) {
    let (_db, store) = open(backend).await;
    let first = SchedulerStore::create(&store, &config("s", "game-a"))
        .await
        .unwrap();
    assert_conflict(SchedulerStore::create(&store, &config("s", "game-b")).await);
    assert_conflict(SchedulerStore::create(&store, &config("s", "game-a")).await);
    assert_eq!(store.get("s", None).await.unwrap(), first);
    assert_eq!(version_flags(&store, "s").await, owned(&[("v1", true)]));
}

async fn unknown_schedulers_and_versions_are_not_found(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_not_found(store.get("nope", None).await);
    assert_not_found(store.get("nope", Some("v1")).await);
    assert_not_found(store.versions("nope").await);
    assert_not_found(store.add_version(&config("nope", "g"), "v2").await);
    assert_not_found(store.switch_active("nope", "v1").await);
    assert_not_found(store.set_state("nope", SchedulerState::InSync).await);
    assert_not_found(store.delete("nope").await);

    SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    assert_not_found(store.get("s", Some("v9")).await);
    assert_not_found(store.switch_active("s", "v9").await);
    // The failed switch left the active version alone.
    assert_eq!(store.get("s", None).await.unwrap().version, "v1");
    // add_version with an unknown scheduler stored nothing.
    assert_eq!(
        names(&store.list(&SchedulerFilter::default()).await.unwrap()),
        ["s"]
    );
}

async fn list_filters_by_name_and_game(backend: Backend) {
    let (_db, store) = open(backend).await;
    let list = |name: Option<&str>, game: Option<&str>| {
        let filter = SchedulerFilter {
            name: name.map(String::from),
            game: game.map(String::from),
        };
        let store = store.clone();
        async move { store.list(&filter).await.unwrap() }
    };
    assert!(list(None, None).await.is_empty());
    for (name, game) in [("s-c", "g2"), ("s-a", "g1"), ("s-b", "g1")] {
        SchedulerStore::create(&store, &config(name, game))
            .await
            .unwrap();
    }
    assert_eq!(names(&list(None, None).await), ["s-a", "s-b", "s-c"]);
    assert_eq!(names(&list(None, Some("g1")).await), ["s-a", "s-b"]);
    assert_eq!(names(&list(Some("s-c"), None).await), ["s-c"]);
    assert_eq!(names(&list(Some("s-c"), Some("g2")).await), ["s-c"]);
    assert!(list(Some("s-c"), Some("g1")).await.is_empty());
    assert!(list(Some("nope"), None).await.is_empty());
    assert!(list(None, Some("nope")).await.is_empty());

    // Lists carry the active version.
    store
        .add_version(&replicas(config("s-b", "g1"), 7), "v1.1")
        .await
        .unwrap();
    let listed = list(Some("s-b"), None).await;
    assert_eq!(listed[0].version, "v1.1");
    assert_eq!(listed[0].config.rooms_replicas, 7);
    assert_eq!(listed[0], store.get("s-b", None).await.unwrap());
}

async fn add_version_stores_and_activates(backend: Backend) {
    let (_db, store) = open(backend).await;
    let created = SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    let next = replicas(config("s", "g"), 3);
    let added = store.add_version(&next, "v1.1").await.unwrap();
    assert_eq!(added.version, "v1.1");
    assert_eq!(added.config, next);
    assert_eq!(added.state, SchedulerState::PendingSync);
    assert_eq!(added.created_at, created.created_at);

    assert_eq!(store.get("s", None).await.unwrap(), added);
    assert_eq!(store.get("s", Some("v1.1")).await.unwrap(), added);
    let old = store.get("s", Some("v1")).await.unwrap();
    assert_eq!(old.config, created.config);
    assert_eq!(old.version, "v1");
}

async fn add_version_conflicts_on_an_existing_version(backend: Backend) {
    let (_db, store) = open(backend).await;
    SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    let v2 = store
        .add_version(&replicas(config("s", "g"), 2), "v2")
        .await
        .unwrap();
    assert_conflict(
        store
            .add_version(&replicas(config("s", "g"), 9), "v2")
            .await,
    );
    assert_conflict(
        store
            .add_version(&replicas(config("s", "g"), 9), "v1")
            .await,
    );
    // Nothing changed: the same active version with the same configuration.
    assert_eq!(store.get("s", None).await.unwrap(), v2);
    assert_eq!(
        store.get("s", Some("v1")).await.unwrap().config,
        config("s", "g")
    );
    assert_eq!(
        version_flags(&store, "s").await,
        owned(&[("v1", false), ("v2", true)])
    );
}

async fn versions_are_oldest_first_with_the_active_one_marked(backend: Backend) {
    let (_db, store) = open(backend).await;
    SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    assert_eq!(version_flags(&store, "s").await, owned(&[("v1", true)]));
    for (version, rooms) in [("v1.1", 2), ("v2", 3), ("v10", 4)] {
        store
            .add_version(&replicas(config("s", "g"), rooms), version)
            .await
            .unwrap();
    }
    store.switch_active("s", "v1").await.unwrap();
    store
        .add_version(&replicas(config("s", "g"), 5), "v1.2")
        .await
        .unwrap();
    assert_eq!(
        version_flags(&store, "s").await,
        owned(&[
            ("v1", false),
            ("v1.1", false),
            ("v2", false),
            ("v10", false),
            ("v1.2", true)
        ])
    );
    let versions = store.versions("s").await.unwrap();
    assert!(
        versions
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at),
        "{versions:?}"
    );
}

async fn switch_active_changes_what_get_and_list_return(backend: Backend) {
    let (_db, store) = open(backend).await;
    let created = SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    store
        .add_version(&replicas(config("s", "g"), 4), "v2")
        .await
        .unwrap();
    store.set_state("s", SchedulerState::InSync).await.unwrap();

    let switched = store.switch_active("s", "v1").await.unwrap();
    assert_eq!(switched.version, "v1");
    assert_eq!(switched.config, created.config);
    assert_eq!(switched.state, SchedulerState::PendingSync);
    assert_eq!(switched.created_at, created.created_at);
    assert_eq!(store.get("s", None).await.unwrap(), switched);
    assert_eq!(
        store.list(&SchedulerFilter::default()).await.unwrap(),
        std::slice::from_ref(&switched)
    );
    assert_eq!(
        version_flags(&store, "s").await,
        owned(&[("v1", true), ("v2", false)])
    );

    let forward = store.switch_active("s", "v2").await.unwrap();
    assert_eq!(forward.config.rooms_replicas, 4);
    assert_eq!(
        version_flags(&store, "s").await,
        owned(&[("v1", false), ("v2", true)])
    );
}

async fn set_state_round_trips_every_state(backend: Backend) {
    let (_db, store) = open(backend).await;
    SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    SchedulerStore::create(&store, &config("other", "g"))
        .await
        .unwrap();
    for state in [
        SchedulerState::InSync,
        SchedulerState::PendingSync,
        SchedulerState::OnError,
        SchedulerState::Creating,
        SchedulerState::InSync,
    ] {
        store.set_state("s", state).await.unwrap();
        assert_eq!(store.get("s", None).await.unwrap().state, state);
        let listed = store
            .list(&SchedulerFilter {
                name: Some("s".into()),
                game: None,
            })
            .await
            .unwrap();
        assert_eq!(listed[0].state, state);
    }
    // Setting the state it already has is fine.
    store.set_state("s", SchedulerState::InSync).await.unwrap();
    // Only that scheduler changed, and no version was added.
    assert_eq!(
        store.get("other", None).await.unwrap().state,
        SchedulerState::Creating
    );
    assert_eq!(version_flags(&store, "s").await, owned(&[("v1", true)]));
}

async fn heads_tell_each_schedulers_active_version_and_state(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert!(store.heads().await.unwrap().is_empty());
    SchedulerStore::create(&store, &config("b", "g2"))
        .await
        .unwrap();
    SchedulerStore::create(&store, &config("a", "g1"))
        .await
        .unwrap();
    store
        .add_version(&replicas(config("b", "g2"), 3), "v2")
        .await
        .unwrap();
    store.set_state("a", SchedulerState::OnError).await.unwrap();
    let head = |name: &str, game: &str, version: &str, state| SchedulerHead {
        name: name.into(),
        game: game.into(),
        version: version.into(),
        state,
    };
    let mut heads = store.heads().await.unwrap();
    heads.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(
        heads,
        vec![
            head("a", "g1", "v1", SchedulerState::OnError),
            head("b", "g2", "v2", SchedulerState::PendingSync),
        ]
    );
    // What `get` answers is what the head describes, and the default (from `list`) agrees.
    for head in &heads {
        assert!(head.describes(&store.get(&head.name, None).await.unwrap()));
    }
    let listed: Vec<SchedulerHead> = store
        .list(&SchedulerFilter::default())
        .await
        .unwrap()
        .iter()
        .map(SchedulerHead::of)
        .collect();
    assert_eq!(listed, heads);

    store.switch_active("b", "v1").await.unwrap();
    store.delete("a").await.unwrap();
    let heads = store.heads().await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].version, "v1");
    assert!(!heads[0].describes(&store.get("b", Some("v2")).await.unwrap()));
}

async fn delete_removes_the_scheduler_and_all_its_versions(backend: Backend) {
    let (_db, store) = open(backend).await;
    SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    SchedulerStore::create(&store, &config("kept", "g"))
        .await
        .unwrap();
    store
        .add_version(&replicas(config("s", "g"), 2), "v1.1")
        .await
        .unwrap();
    store
        .add_version(&replicas(config("kept", "g"), 2), "v1.1")
        .await
        .unwrap();

    store.delete("s").await.unwrap();
    assert_not_found(store.get("s", None).await);
    assert_not_found(store.get("s", Some("v1")).await);
    assert_not_found(store.versions("s").await);
    assert_not_found(store.delete("s").await);
    assert_eq!(
        names(&store.list(&SchedulerFilter::default()).await.unwrap()),
        ["kept"]
    );
    assert_eq!(
        version_flags(&store, "kept").await,
        owned(&[("v1", false), ("v1.1", true)])
    );

    // The name can be used again, with no history left over.
    let again = SchedulerStore::create(&store, &replicas(config("s", "g"), 9))
        .await
        .unwrap();
    assert_eq!(again.version, "v1");
    assert_eq!(version_flags(&store, "s").await, owned(&[("v1", true)]));
    assert_not_found(store.get("s", Some("v1.1")).await);
    assert_eq!(store.get("s", None).await.unwrap().config.rooms_replicas, 9);
}

async fn concurrent_creates_of_one_name(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            SchedulerStore::create(&store, &replicas(config("race", "g"), i)).await
        });
    }
    let mut created = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(scheduler) => created.push(scheduler),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a losing create must be a Conflict, got {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one create wins");
    assert_eq!(store.get("race", None).await.unwrap(), created[0]);
    assert_eq!(version_flags(&store, "race").await, owned(&[("v1", true)]));
}

async fn concurrent_add_version_of_one_version(backend: Backend) {
    let (_db, store) = open(backend).await;
    SchedulerStore::create(&store, &config("race", "g"))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .add_version(&replicas(config("race", "g"), 10 + i), "v1.1")
                .await
        });
    }
    let mut added = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(scheduler) => added.push(scheduler),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a losing add_version must be a Conflict, got {other:?}"),
        }
    }
    assert_eq!(added.len(), 1, "exactly one add_version wins");
    let active = store.get("race", None).await.unwrap();
    assert_eq!(active.version, "v1.1");
    assert_eq!(active.config, added[0].config);
    assert_eq!(
        version_flags(&store, "race").await,
        owned(&[("v1", false), ("v1.1", true)])
    );
}

async fn users_round_trip_and_conflict(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.count().await.unwrap(), 0);
    assert_eq!(store.credentials("admin").await.unwrap(), None);

    let users = [
        (
            User {
                username: "admin".into(),
                role: Role::Admin,
                games: vec![],
                disabled: false,
            },
            "$argon2id$admin-hash",
        ),
        (
            User {
                username: "editor".into(),
                role: Role::Editor,
                games: vec!["g1".into(), "g2".into()],
                disabled: false,
            },
            "$argon2id$editor-hash",
        ),
        (
            User {
                username: "viewer".into(),
                role: Role::Viewer,
                games: vec![],
                disabled: true,
            },
            "$argon2id$viewer-hash",
        ),
    ];
    for (i, (user, hash)) in users.iter().enumerate() {
        UserStore::create(&store, user, hash).await.unwrap();
        assert_eq!(store.count().await.unwrap(), i as u64 + 1);
    }
    for (user, hash) in &users {
        assert_eq!(
            store.credentials(&user.username).await.unwrap(),
            Some((user.clone(), hash.to_string()))
        );
    }

    // A taken username: Conflict, and the first user is kept as it was.
    let mut impostor = users[1].0.clone();
    impostor.role = Role::Admin;
    assert_conflict(UserStore::create(&store, &impostor, "$argon2id$other").await);
    assert_eq!(store.count().await.unwrap(), 3);
    assert_eq!(
        store.credentials("editor").await.unwrap(),
        Some((users[1].0.clone(), users[1].1.to_string()))
    );
    // Usernames match exactly.
    assert_eq!(store.credentials("Editor").await.unwrap(), None);
    assert_eq!(store.credentials("nobody").await.unwrap(), None);
}

fn user(username: &str, role: Role, games: &[&str]) -> User {
    User {
        username: username.into(),
        role,
        games: games.iter().map(|g| g.to_string()).collect(),
        disabled: false,
    }
}

async fn session_epochs_move_on_at_sign_out_everywhere_and_at_disable(backend: Backend) {
    let (_db, store) = open(backend).await;
    let bob = user("bob", Role::Viewer, &["g1"]);
    UserStore::create(&store, &bob, "$argon2id$bob")
        .await
        .unwrap();
    UserStore::create(&store, &user("ann", Role::Viewer, &[]), "$argon2id$ann")
        .await
        .unwrap();
    let epoch = |store: SqlStore, name: &'static str| async move {
        store.account(name).await.unwrap().unwrap().session_epoch
    };
    // A new user starts at 0; the account is the user, its hash and its epoch.
    assert_eq!(
        store.account("bob").await.unwrap(),
        Some(Account {
            user: bob.clone(),
            password_hash: "$argon2id$bob".to_string(),
            session_epoch: 0,
        })
    );
    store.end_sessions("bob").await.unwrap();
    assert_eq!(epoch(store.clone(), "bob").await, 1);
    // Concurrent sign-outs each count (the database adds, not the caller).
    let (a, b) = tokio::join!(store.end_sessions("bob"), store.end_sessions("bob"));
    a.unwrap();
    b.unwrap();
    assert_eq!(epoch(store.clone(), "bob").await, 3);
    // Disabling moves it on; enabling does not move it back.
    store.set_disabled("bob", true).await.unwrap();
    assert_eq!(epoch(store.clone(), "bob").await, 4);
    store.set_disabled("bob", false).await.unwrap();
    assert_eq!(epoch(store.clone(), "bob").await, 4);
    // Other users keep theirs; an unknown user is not found.
    assert_eq!(epoch(store.clone(), "ann").await, 0);
    assert_not_found(store.end_sessions("nobody").await);
    assert_eq!(store.account("nobody").await.unwrap(), None);
}

async fn users_are_listed_and_changed(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.list_users().await.unwrap(), Vec::<User>::new());
    let bob = user("bob", Role::Viewer, &[]);
    let ann = user("ann", Role::Editor, &["g1"]);
    UserStore::create(&store, &bob, "$argon2id$bob")
        .await
        .unwrap();
    UserStore::create(&store, &ann, "$argon2id$ann")
        .await
        .unwrap();
    // By username.
    assert_eq!(
        store.list_users().await.unwrap(),
        [ann.clone(), bob.clone()]
    );

    store.set_password("bob", "$argon2id$new").await.unwrap();
    assert_eq!(
        store.credentials("bob").await.unwrap(),
        Some((bob.clone(), "$argon2id$new".to_string()))
    );

    store.set_disabled("bob", true).await.unwrap();
    let (found, _) = store.credentials("bob").await.unwrap().unwrap();
    assert!(found.disabled);
    store.set_disabled("bob", false).await.unwrap();
    assert!(!store.credentials("bob").await.unwrap().unwrap().0.disabled);

    // Role and games change; the password and status stay.
    let promoted = user("bob", Role::Editor, &["g2", "g3"]);
    store.update(&promoted).await.unwrap();
    assert_eq!(
        store.credentials("bob").await.unwrap(),
        Some((promoted, "$argon2id$new".to_string()))
    );
    assert_eq!(store.credentials("ann").await.unwrap().unwrap().0, ann);

    assert_not_found(store.set_password("nobody", "$argon2id$x").await);
    assert_not_found(store.set_disabled("nobody", true).await);
    assert_not_found(store.update(&user("nobody", Role::Admin, &[])).await);
    assert_eq!(store.count().await.unwrap(), 2);

    // Deleted: gone from the list and its credentials; a second delete finds nothing.
    store.delete_user("bob").await.unwrap();
    assert_eq!(store.credentials("bob").await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap(), [ann]);
    assert_not_found(store.delete_user("bob").await);
    assert_eq!(store.count().await.unwrap(), 1);
}

mod session_records {
    use std::collections::HashMap;

    use tower_sessions::cookie::time::{Duration, OffsetDateTime};
    use tower_sessions::session::{Id, Record};

    /// A record expiring `seconds` from now (whole seconds: every backend keeps those).
    pub fn record(user: &str, seconds: i64) -> Record {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        Record {
            id: Id::default(),
            data: HashMap::from([("user".to_string(), serde_json::json!({ "username": user }))]),
            expiry_date: now + Duration::seconds(seconds),
        }
    }
}

async fn sessions_are_created_saved_loaded_and_deleted(backend: Backend) {
    use tower_sessions::SessionStore;
    use tower_sessions::session::Id;

    let (_db, store) = open(backend).await;
    let mut record = session_records::record("ann", 3600);
    SessionStore::create(&store, &mut record).await.unwrap();
    assert_eq!(
        SessionStore::load(&store, &record.id).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        SessionStore::load(&store, &Id::default()).await.unwrap(),
        None
    );

    // Saving replaces the data and expiry of the same id.
    let mut changed = session_records::record("bob", 7200);
    changed.id = record.id;
    SessionStore::save(&store, &changed).await.unwrap();
    assert_eq!(
        SessionStore::load(&store, &record.id).await.unwrap(),
        Some(changed.clone())
    );

    // Saving an unknown id stores it (tower-sessions saves new sessions that way too).
    let other = session_records::record("cat", 60);
    SessionStore::save(&store, &other).await.unwrap();
    assert_eq!(
        SessionStore::load(&store, &other.id).await.unwrap(),
        Some(other.clone())
    );

    SessionStore::delete(&store, &record.id).await.unwrap();
    assert_eq!(SessionStore::load(&store, &record.id).await.unwrap(), None);
    // Deleting twice is fine.
    SessionStore::delete(&store, &record.id).await.unwrap();
    assert_eq!(
        SessionStore::load(&store, &other.id).await.unwrap(),
        Some(other)
    );

    // A second store on the same database (another instance, or after a restart) sees it.
    let mut kept = session_records::record("dan", 3600);
    SessionStore::create(&store, &mut kept).await.unwrap();
    let reopened = _db.store().await;
    assert_eq!(
        SessionStore::load(&reopened, &kept.id).await.unwrap(),
        Some(kept)
    );
}

/// The ids of the rows of the `sessions` table, read straight from the database (`load` hides
/// expired rows, so it cannot tell whether they were deleted).
async fn stored_session_ids(db: &TestDb) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};

    let connection = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let rows = connection
        .query_all_raw(Statement::from_string(
            connection.get_database_backend(),
            "SELECT id FROM sessions ORDER BY id",
        ))
        .await
        .unwrap();
    let ids = rows
        .iter()
        .map(|row| row.try_get::<String>("", "id").unwrap())
        .collect();
    let _ = connection.close().await;
    ids
}

async fn expired_sessions_are_neither_loaded_nor_kept(backend: Backend) {
    use tower_sessions::{ExpiredDeletion, SessionStore};

    let (db, store) = open(backend).await;
    let mut expired = session_records::record("ann", -5);
    let mut live = session_records::record("bob", 3600);
    SessionStore::create(&store, &mut expired).await.unwrap();
    SessionStore::create(&store, &mut live).await.unwrap();
    let mut both = vec![expired.id.to_string(), live.id.to_string()];
    both.sort();
    assert_eq!(stored_session_ids(&db).await, both);
    assert_eq!(SessionStore::load(&store, &expired.id).await.unwrap(), None);

    // The expired row is deleted from the table, the live one stays.
    store.delete_expired().await.unwrap();
    assert_eq!(stored_session_ids(&db).await, [live.id.to_string()]);
    assert_eq!(
        SessionStore::load(&store, &live.id).await.unwrap(),
        Some(live.clone())
    );
    // An expired id saved again with a future expiry is live again.
    let mut revived = expired.clone();
    revived.expiry_date = live.expiry_date;
    SessionStore::save(&store, &revived).await.unwrap();
    assert_eq!(
        SessionStore::load(&store, &expired.id).await.unwrap(),
        Some(revived)
    );
}

async fn stored_versions_wait_inactive_and_only_inactive_ones_are_removed(backend: Backend) {
    let (_db, store) = open(backend).await;
    SchedulerStore::create(&store, &config("s", "g"))
        .await
        .unwrap();
    let mut next = config("s", "g");
    next.rooms_replicas = 9;
    let stored = store.store_version(&next, "v2").await.unwrap();
    assert_eq!(stored.version, "v2");
    assert!(!stored.is_active);
    // Not active: get answers v1 still, and v2 on request.
    assert_eq!(store.get("s", None).await.unwrap().version, "v1");
    assert_eq!(
        store
            .get("s", Some("v2"))
            .await
            .unwrap()
            .config
            .rooms_replicas,
        9
    );
    assert!(matches!(
        store.store_version(&next, "v2").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.store_version(&config("nope", "g"), "v2").await,
        Err(StoreError::NotFound(_))
    ));
    // The active version is never removed; an inactive one is, and unknown ones are fine.
    assert!(matches!(
        store.remove_version("s", "v1").await,
        Err(StoreError::Conflict(_))
    ));
    store.remove_version("s", "v2").await.unwrap();
    store.remove_version("s", "v9").await.unwrap();
    let versions: Vec<String> = store
        .versions("s")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, ["v1"]);
}
