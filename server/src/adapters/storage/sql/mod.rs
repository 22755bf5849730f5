//! SQL storage with sea-orm: SQLite (the embedded default) and PostgreSQL, one schema for both.
//! One file per port: schedulers, users, sessions, operations, leases.

use std::time::Duration;

use app::ports::{Store, StoreError};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, RuntimeErr, Set, SqlErr,
    SqliteTransactionMode, SqlxError, Statement, TransactionOptions, TransactionTrait,
};

mod settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod audit;
mod leases;
mod operations;
mod schedulers;
mod sessions;
mod users;

/// Schedulers, their versions, users, dashboard sessions, operations and leases in one SQL
/// database.
#[derive(Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").finish_non_exhaustive()
    }
}

/// A failed database call: `Unavailable` when the database could not be reached or did not
/// answer in time (no pooled connection within `ACQUIRE_TIMEOUT`, a dropped connection, a server
/// shutting down or starting), `Backend` for anything else.
fn backend(err: DbErr) -> StoreError {
    if is_unavailable(&err) {
        StoreError::Unavailable {
            store: Store::Database,
            detail: err.to_string(),
        }
    } else {
        StoreError::Backend(err.to_string())
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(err))
        | DbErr::Exec(RuntimeErr::SqlxError(err))
        | DbErr::Query(RuntimeErr::SqlxError(err)) => match err.as_ref() {
            SqlxError::Io(_)
            | SqlxError::Tls(_)
            | SqlxError::PoolTimedOut
            | SqlxError::PoolClosed
            | SqlxError::WorkerCrashed => true,
            // PostgreSQL's classes 08 (connection exception) and 57P (operator intervention:
            // the server is shutting down, crashed, or not accepting connections yet).
            SqlxError::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        },
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// How long a call waits for a pooled connection (including opening one) before it fails as
/// `Unavailable`: a database that is down answers in seconds, not after sqlx's 30 s default.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A unique-key violation means someone else got there first.
fn conflict_or_backend(err: DbErr, conflict: impl FnOnce() -> String) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(conflict()),
        _ => backend(err),
    }
}

/// The advisory lock key that serializes migrations across processes (PostgreSQL).
const MIGRATION_LOCK: i64 = 0x6261_746f_6e00_0001;

impl SqlStore {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(url.to_string());
        options
            .sqlx_logging(false)
            .connect_timeout(ACQUIRE_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if url.starts_with("sqlite:") {
            // One writer at a time is SQLite's rule; a small pool avoids lock errors under load.
            options.max_connections(4);
        }
        let db = Database::connect(options).await.map_err(backend)?;
        if db.get_database_backend() == DbBackend::Postgres {
            // Replicas starting together on a fresh database would run the migrations at once
            // (and fail on PostgreSQL's catalog). One at a time: a transaction on one pooled
            // connection holds an advisory lock while the migrations run on the others.
            let lock = db.begin().await.map_err(backend)?;
            lock.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"),
            ))
            .await
            .map_err(backend)?;
            let migrated = Migrator::up(&db, None).await.map_err(backend);
            lock.commit().await.map_err(backend)?;
            migrated?;
        } else {
            Migrator::up(&db, None).await.map_err(backend)?;
        }
        Ok(Self { db })
    }

    /// The value of setting `key`, storing `make()` first when it has none. Instances sharing the
    /// database agree on the value: a losing concurrent insert reads the winner's.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        if let Some(row) = settings::Entity::find_by_id(key.to_string())
            .one(&self.db)
            .await
            .map_err(backend)?
        {
            return Ok(row.value);
        }
        let inserted = settings::ActiveModel {
            key: Set(key.to_string()),
            value: Set(make()),
        }
        .insert(&self.db)
        .await;
        match inserted {
            Ok(row) => Ok(row.value),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                settings::Entity::find_by_id(key.to_string())
                    .one(&self.db)
                    .await
                    .map_err(backend)?
                    .map(|row| row.value)
                    .ok_or_else(|| StoreError::Backend(format!("setting {key} vanished")))
            }
            Err(err) => Err(backend(err)),
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at `BEGIN` (waiting for it
    /// like any write): a deferred transaction that reads first fails at once with "database is
    /// locked" when another writer committed meanwhile, instead of reporting a `Conflict` or
    /// succeeding. PostgreSQL ignores the mode.
    async fn write_transaction(&self) -> Result<DatabaseTransaction, StoreError> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(backend)
    }
}

impl SqlStore {
    /// Whether the database answers (the readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(backend)
    }
}
