//! The audit log: `AuditLog` over the `audit_entries` table, newest first by time then id.

use app::domain::audit::{AuditAction, AuditEntry};
use app::ports::{AuditFilter, AuditLog, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{SqlStore, backend};

mod rows {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_entries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Microseconds since the Unix epoch (UTC).
        pub at: i64,
        pub actor: String,
        pub action: String,
        pub game: Option<String>,
        pub scheduler: Option<String>,
        pub summary: String,
        /// JSON, or none.
        pub before: Option<String>,
        pub after: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn corrupt(id: i64, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored audit entry {id} is corrupt: {what}"))
}

fn to_text(value: &Option<serde_json::Value>) -> Option<String> {
    value.as_ref().map(serde_json::Value::to_string)
}

fn from_text(id: i64, text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(id, e)))
        .transpose()
}

fn to_entry(row: rows::Model) -> Result<AuditEntry, StoreError> {
    let id = row.id;
    let action = AuditAction::parse(&row.action)
        .ok_or_else(|| corrupt(id, format!("action {}", row.action)))?;
    let at = DateTime::<Utc>::from_timestamp_micros(row.at)
        .ok_or_else(|| corrupt(id, format!("time {}", row.at)))?;
    Ok(AuditEntry {
        id,
        at,
        actor: row.actor,
        action,
        game: row.game,
        scheduler: row.scheduler,
        summary: row.summary,
        before: from_text(id, row.before)?,
        after: from_text(id, row.after)?,
    })
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn record(&self, entry: &AuditEntry) -> Result<AuditEntry, StoreError> {
        let row = rows::ActiveModel {
            id: NotSet,
            at: Set(entry.at.timestamp_micros()),
            actor: Set(entry.actor.clone()),
            action: Set(entry.action.as_str().to_string()),
            game: Set(entry.game.clone()),
            scheduler: Set(entry.scheduler.clone()),
            summary: Set(entry.summary.clone()),
            before: Set(to_text(&entry.before)),
            after: Set(to_text(&entry.after)),
        }
        .insert(&self.db)
        .await
        .map_err(backend)?;
        to_entry(row)
    }

    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query = rows::Entity::find();
        if let Some(games) = &filter.games {
            query = query.filter(rows::Column::Game.is_in(games.iter().cloned()));
        }
        if let Some(scheduler) = &filter.scheduler {
            query = query.filter(rows::Column::Scheduler.eq(scheduler.as_str()));
        }
        if let Some(before) = filter.before {
            let cursor = rows::Entity::find_by_id(before)
                .one(&self.db)
                .await
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("audit entry {before}")))?;
            query = query.filter(
                Condition::any().add(rows::Column::At.lt(cursor.at)).add(
                    Condition::all()
                        .add(rows::Column::At.eq(cursor.at))
                        .add(rows::Column::Id.lt(cursor.id)),
                ),
            );
        }
        query
            .order_by_desc(rows::Column::At)
            .order_by_desc(rows::Column::Id)
            .limit(filter.limit)
            .all(&self.db)
            .await
            .map_err(backend)?
            .into_iter()
            .map(to_entry)
            .collect()
    }
}
