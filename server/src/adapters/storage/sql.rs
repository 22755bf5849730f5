//! SQL storage with sea-orm: SQLite (the embedded default) and PostgreSQL, one schema for both.

use app::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion};
use app::domain::user::{Role, User};
use app::domain::version::VersionNumber;
use app::ports::{SchedulerFilter, SchedulerStore, StoreError, UserStore};
use async_trait::async_trait;
use chrono::Utc;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

mod schedulers {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedulers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub game: String,
        pub active_version: String,
        pub state: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod scheduler_versions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scheduler_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scheduler_name: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: String,
        pub config: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod users {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub username: String,
        pub password_hash: String,
        pub role: String,
        pub games: String,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

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

mod sessions;

/// Schedulers, their versions, users and dashboard sessions in one SQL database.
#[derive(Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").finish_non_exhaustive()
    }
}

fn backend(err: DbErr) -> StoreError {
    StoreError::Backend(err.to_string())
}

/// A unique-key violation means someone else got there first.
fn conflict_or_backend(err: DbErr, conflict: impl FnOnce() -> String) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(conflict()),
        _ => backend(err),
    }
}

fn scheduler_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("scheduler {name}"))
}

impl SqlStore {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(url.to_string());
        options.sqlx_logging(false);
        if url.starts_with("sqlite:") {
            // One writer at a time is SQLite's rule; a small pool avoids lock errors under load.
            options.max_connections(4);
        }
        let db = Database::connect(options).await.map_err(backend)?;
        Migrator::up(&db, None).await.map_err(backend)?;
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

    async fn load(
        &self,
        conn: &impl ConnectionTrait,
        row: schedulers::Model,
        version: &str,
    ) -> Result<Scheduler, StoreError> {
        let stored =
            scheduler_versions::Entity::find_by_id((row.name.clone(), version.to_string()))
                .one(conn)
                .await
                .map_err(backend)?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("version {version} of scheduler {}", row.name))
                })?;
        to_scheduler(row, &stored)
    }
}

fn to_scheduler(
    row: schedulers::Model,
    stored: &scheduler_versions::Model,
) -> Result<Scheduler, StoreError> {
    let config: SchedulerConfig = serde_json::from_str(&stored.config).map_err(|e| {
        StoreError::Backend(format!("stored scheduler {} is corrupt: {e}", row.name))
    })?;
    Ok(Scheduler {
        config,
        state: SchedulerState::parse(&row.state).unwrap_or_default(),
        version: stored.version.clone(),
        created_at: row.created_at,
    })
}

fn version_row(
    config: &SchedulerConfig,
    version: &str,
) -> Result<scheduler_versions::ActiveModel, StoreError> {
    Ok(scheduler_versions::ActiveModel {
        scheduler_name: Set(config.name.clone()),
        version: Set(version.to_string()),
        config: Set(serde_json::to_string(config).map_err(|e| StoreError::Backend(e.to_string()))?),
        created_at: Set(Utc::now()),
    })
}

#[async_trait]
impl SchedulerStore for SqlStore {
    async fn create(&self, config: &SchedulerConfig) -> Result<Scheduler, StoreError> {
        let txn = self.write_transaction().await?;
        let taken = || format!("scheduler {} already exists", config.name);
        let version = VersionNumber::FIRST.to_string();
        let row = schedulers::ActiveModel {
            name: Set(config.name.clone()),
            game: Set(config.game.clone()),
            active_version: Set(version.clone()),
            state: Set(SchedulerState::Creating.as_str().to_string()),
            created_at: Set(Utc::now()),
        };
        if schedulers::Entity::find_by_id(config.name.clone())
            .one(&txn)
            .await
            .map_err(backend)?
            .is_some()
        {
            return Err(StoreError::Conflict(taken()));
        }
        let row = row
            .insert(&txn)
            .await
            .map_err(|e| conflict_or_backend(e, taken))?;
        let stored = version_row(config, &version)?
            .insert(&txn)
            .await
            .map_err(|e| conflict_or_backend(e, taken))?;
        txn.commit().await.map_err(backend)?;
        to_scheduler(row, &stored)
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<Scheduler, StoreError> {
        let row = schedulers::Entity::find_by_id(name.to_string())
            .one(&self.db)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(name))?;
        let version = version.unwrap_or(&row.active_version).to_string();
        self.load(&self.db, row, &version).await
    }

    async fn list(&self, filter: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError> {
        let mut query = schedulers::Entity::find().order_by_asc(schedulers::Column::Name);
        if let Some(name) = &filter.name {
            query = query.filter(schedulers::Column::Name.eq(name.as_str()));
        }
        if let Some(game) = &filter.game {
            query = query.filter(schedulers::Column::Game.eq(game.as_str()));
        }
        let rows = query.all(&self.db).await.map_err(backend)?;
        let mut schedulers = Vec::with_capacity(rows.len());
        // Fetch the active versions in batches rather than one query per scheduler.
        for chunk in rows.chunks(200) {
            let active = chunk.iter().fold(Condition::any(), |any, row| {
                any.add(
                    Condition::all()
                        .add(scheduler_versions::Column::SchedulerName.eq(row.name.as_str()))
                        .add(scheduler_versions::Column::Version.eq(row.active_version.as_str())),
                )
            });
            let versions = scheduler_versions::Entity::find()
                .filter(active)
                .all(&self.db)
                .await
                .map_err(backend)?;
            for row in chunk {
                if let Some(stored) = versions.iter().find(|v| v.scheduler_name == row.name) {
                    schedulers.push(to_scheduler(row.clone(), stored)?);
                }
            }
        }
        Ok(schedulers)
    }

    async fn add_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<Scheduler, StoreError> {
        let txn = self.write_transaction().await?;
        let row = schedulers::Entity::find_by_id(config.name.clone())
            .one(&txn)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(&config.name))?;
        let stored = version_row(config, version)?
            .insert(&txn)
            .await
            .map_err(|e| {
                conflict_or_backend(e, || {
                    format!(
                        "version {version} of scheduler {} was created concurrently; retry",
                        config.name
                    )
                })
            })?;
        let mut active: schedulers::ActiveModel = row.into();
        active.active_version = Set(version.to_string());
        active.state = Set(SchedulerState::PendingSync.as_str().to_string());
        let row = active.update(&txn).await.map_err(backend)?;
        txn.commit().await.map_err(backend)?;
        to_scheduler(row, &stored)
    }

    async fn store_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<SchedulerVersion, StoreError> {
        schedulers::Entity::find_by_id(config.name.clone())
            .one(&self.db)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(&config.name))?;
        let stored = version_row(config, version)?
            .insert(&self.db)
            .await
            .map_err(|e| {
                conflict_or_backend(e, || {
                    format!("version {version} of scheduler {} exists", config.name)
                })
            })?;
        Ok(SchedulerVersion {
            version: stored.version,
            is_active: false,
            created_at: stored.created_at,
        })
    }

    async fn versions(&self, name: &str) -> Result<Vec<SchedulerVersion>, StoreError> {
        let row = schedulers::Entity::find_by_id(name.to_string())
            .one(&self.db)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(name))?;
        let mut versions: Vec<SchedulerVersion> = scheduler_versions::Entity::find()
            .filter(scheduler_versions::Column::SchedulerName.eq(name))
            .all(&self.db)
            .await
            .map_err(backend)?
            .into_iter()
            .map(|v| SchedulerVersion {
                is_active: v.version == row.active_version,
                version: v.version,
                created_at: v.created_at,
            })
            .collect();
        versions.sort_by_key(|v| (v.created_at, VersionNumber::parse(&v.version)));
        Ok(versions)
    }

    async fn switch_active(&self, name: &str, version: &str) -> Result<Scheduler, StoreError> {
        let txn = self.write_transaction().await?;
        let row = schedulers::Entity::find_by_id(name.to_string())
            .one(&txn)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(name))?;
        let stored =
            scheduler_versions::Entity::find_by_id((name.to_string(), version.to_string()))
                .one(&txn)
                .await
                .map_err(backend)?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("version {version} of scheduler {name}"))
                })?;
        let mut active: schedulers::ActiveModel = row.into();
        active.active_version = Set(version.to_string());
        active.state = Set(SchedulerState::PendingSync.as_str().to_string());
        let row = active.update(&txn).await.map_err(backend)?;
        txn.commit().await.map_err(backend)?;
        to_scheduler(row, &stored)
    }

    async fn set_state(&self, name: &str, state: SchedulerState) -> Result<(), StoreError> {
        let result = schedulers::Entity::update_many()
            .col_expr(schedulers::Column::State, state.as_str().into())
            .filter(schedulers::Column::Name.eq(name))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if result.rows_affected == 0 {
            return Err(scheduler_not_found(name));
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.write_transaction().await?;
        scheduler_versions::Entity::delete_many()
            .filter(scheduler_versions::Column::SchedulerName.eq(name))
            .exec(&txn)
            .await
            .map_err(backend)?;
        let result = schedulers::Entity::delete_by_id(name.to_string())
            .exec(&txn)
            .await
            .map_err(backend)?;
        if result.rows_affected == 0 {
            return Err(scheduler_not_found(name));
        }
        txn.commit().await.map_err(backend)
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        let games =
            serde_json::to_string(&user.games).map_err(|e| StoreError::Backend(e.to_string()))?;
        users::ActiveModel {
            username: Set(user.username.clone()),
            password_hash: Set(password_hash.to_string()),
            role: Set(user.role.as_str().to_string()),
            games: Set(games),
            disabled: Set(user.disabled),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(|e| conflict_or_backend(e, || format!("user {} already exists", user.username)))?;
        Ok(())
    }

    async fn credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let Some(row) = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(&self.db)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let hash = row.password_hash.clone();
        Ok(Some((to_user(row)?, hash)))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        users::Entity::find().count(&self.db).await.map_err(backend)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        users::Entity::find()
            .order_by_asc(users::Column::Username)
            .all(&self.db)
            .await
            .map_err(backend)?
            .into_iter()
            .map(to_user)
            .collect()
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> Result<(), StoreError> {
        self.update_user(username, users::Column::PasswordHash, password_hash.into())
            .await
    }

    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), StoreError> {
        self.update_user(username, users::Column::Disabled, disabled.into())
            .await
    }

    async fn update(&self, user: &User) -> Result<(), StoreError> {
        let games =
            serde_json::to_string(&user.games).map_err(|e| StoreError::Backend(e.to_string()))?;
        let result = users::Entity::update_many()
            .col_expr(users::Column::Role, user.role.as_str().into())
            .col_expr(users::Column::Games, games.into())
            .filter(users::Column::Username.eq(user.username.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if result.rows_affected == 0 {
            return Err(user_not_found(&user.username));
        }
        Ok(())
    }
}

impl SqlStore {
    /// Sets one column of one user; `NotFound` when there is no such user.
    async fn update_user(
        &self,
        username: &str,
        column: users::Column,
        value: sea_orm::sea_query::SimpleExpr,
    ) -> Result<(), StoreError> {
        let result = users::Entity::update_many()
            .col_expr(column, value)
            .filter(users::Column::Username.eq(username))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if result.rows_affected == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }
}

fn user_not_found(username: &str) -> StoreError {
    StoreError::NotFound(format!("user {username}"))
}

fn to_user(row: users::Model) -> Result<User, StoreError> {
    let role = Role::parse(&row.role).ok_or_else(|| {
        StoreError::Backend(format!(
            "user {} has unknown role {}",
            row.username, row.role
        ))
    })?;
    Ok(User {
        username: row.username,
        role,
        games: serde_json::from_str(&row.games).unwrap_or_default(),
        disabled: row.disabled,
    })
}
