//! Schedulers and their versions: `SchedulerStore` over the `schedulers` and
//! `scheduler_versions` tables.

use app::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerState, SchedulerVersion};
use app::domain::version::VersionNumber;
use app::ports::{SchedulerFilter, SchedulerHead, SchedulerStore, StoreError};
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use super::{SqlStore, backend, conflict_or_backend};

mod rows {
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

mod version_rows {
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

fn scheduler_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("scheduler {name}"))
}

impl SqlStore {
    async fn load(
        &self,
        conn: &impl ConnectionTrait,
        row: rows::Model,
        version: &str,
    ) -> Result<Scheduler, StoreError> {
        let stored = version_rows::Entity::find_by_id((row.name.clone(), version.to_string()))
            .one(conn)
            .await
            .map_err(backend)?
            .ok_or_else(|| {
                StoreError::NotFound(format!("version {version} of scheduler {}", row.name))
            })?;
        to_scheduler(row, &stored)
    }
}

fn to_scheduler(row: rows::Model, stored: &version_rows::Model) -> Result<Scheduler, StoreError> {
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
) -> Result<version_rows::ActiveModel, StoreError> {
    Ok(version_rows::ActiveModel {
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
        let row = rows::ActiveModel {
            name: Set(config.name.clone()),
            game: Set(config.game.clone()),
            active_version: Set(version.clone()),
            state: Set(SchedulerState::Creating.as_str().to_string()),
            created_at: Set(Utc::now()),
        };
        if rows::Entity::find_by_id(config.name.clone())
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
        let row = rows::Entity::find_by_id(name.to_string())
            .one(&self.db)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(name))?;
        let version = version.unwrap_or(&row.active_version).to_string();
        self.load(&self.db, row, &version).await
    }

    async fn list(&self, filter: &SchedulerFilter) -> Result<Vec<Scheduler>, StoreError> {
        let mut query = rows::Entity::find().order_by_asc(rows::Column::Name);
        if let Some(name) = &filter.name {
            query = query.filter(rows::Column::Name.eq(name.as_str()));
        }
        if let Some(game) = &filter.game {
            query = query.filter(rows::Column::Game.eq(game.as_str()));
        }
        let rows = query.all(&self.db).await.map_err(backend)?;
        let mut schedulers = Vec::with_capacity(rows.len());
        // Fetch the active versions in batches rather than one query per scheduler.
        for chunk in rows.chunks(200) {
            let active = chunk.iter().fold(Condition::any(), |any, row| {
                any.add(
                    Condition::all()
                        .add(version_rows::Column::SchedulerName.eq(row.name.as_str()))
                        .add(version_rows::Column::Version.eq(row.active_version.as_str())),
                )
            });
            let versions = version_rows::Entity::find()
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

    /// One query of the schedulers table; no configuration is read.
    async fn heads(&self) -> Result<Vec<SchedulerHead>, StoreError> {
        let rows = rows::Entity::find()
            .order_by_asc(rows::Column::Name)
            .all(&self.db)
            .await
            .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|row| SchedulerHead {
                state: SchedulerState::parse(&row.state).unwrap_or_default(),
                name: row.name,
                game: row.game,
                version: row.active_version,
            })
            .collect())
    }

    async fn add_version(
        &self,
        config: &SchedulerConfig,
        version: &str,
    ) -> Result<Scheduler, StoreError> {
        let txn = self.write_transaction().await?;
        let row = rows::Entity::find_by_id(config.name.clone())
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
        let mut active: rows::ActiveModel = row.into();
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
        rows::Entity::find_by_id(config.name.clone())
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

    async fn remove_version(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let txn = self.write_transaction().await?;
        let active = rows::Entity::find_by_id(name.to_string())
            .one(&txn)
            .await
            .map_err(backend)?
            .map(|row| row.active_version);
        if active.as_deref() == Some(version) {
            return Err(StoreError::Conflict(format!(
                "version {version} of scheduler {name} is active"
            )));
        }
        version_rows::Entity::delete_by_id((name.to_string(), version.to_string()))
            .exec(&txn)
            .await
            .map_err(backend)?;
        txn.commit().await.map_err(backend)
    }

    async fn versions(&self, name: &str) -> Result<Vec<SchedulerVersion>, StoreError> {
        let row = rows::Entity::find_by_id(name.to_string())
            .one(&self.db)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(name))?;
        let mut versions: Vec<SchedulerVersion> = version_rows::Entity::find()
            .filter(version_rows::Column::SchedulerName.eq(name))
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
        let row = rows::Entity::find_by_id(name.to_string())
            .one(&txn)
            .await
            .map_err(backend)?
            .ok_or_else(|| scheduler_not_found(name))?;
        let stored = version_rows::Entity::find_by_id((name.to_string(), version.to_string()))
            .one(&txn)
            .await
            .map_err(backend)?
            .ok_or_else(|| {
                StoreError::NotFound(format!("version {version} of scheduler {name}"))
            })?;
        let mut active: rows::ActiveModel = row.into();
        active.active_version = Set(version.to_string());
        active.state = Set(SchedulerState::PendingSync.as_str().to_string());
        let row = active.update(&txn).await.map_err(backend)?;
        txn.commit().await.map_err(backend)?;
        to_scheduler(row, &stored)
    }

    async fn set_state(&self, name: &str, state: SchedulerState) -> Result<(), StoreError> {
        let result = rows::Entity::update_many()
            .col_expr(rows::Column::State, state.as_str().into())
            .filter(rows::Column::Name.eq(name))
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
        version_rows::Entity::delete_many()
            .filter(version_rows::Column::SchedulerName.eq(name))
            .exec(&txn)
            .await
            .map_err(backend)?;
        let result = rows::Entity::delete_by_id(name.to_string())
            .exec(&txn)
            .await
            .map_err(backend)?;
        if result.rows_affected == 0 {
            return Err(scheduler_not_found(name));
        }
        txn.commit().await.map_err(backend)
    }
}
