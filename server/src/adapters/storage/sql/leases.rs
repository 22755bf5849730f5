//! Named leases: `Leases` over the `leases` table. Taking one is a single upsert whose update
//! only happens when the lease is the caller's or has expired, so of several processes racing
//! for a free or expired lease exactly one gets it.

use app::ports::{Leases, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::{SqlStore, backend};

mod rows {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: String,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[async_trait]
impl Leases for SqlStore {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // A lease held until `expires_at` is over at `expires_at`.
        // Qualified: in the upsert's update, a bare column name would be ambiguous.
        let column = |column| Expr::col((rows::Entity, column));
        let ours_or_over = ExprTrait::or(
            ExprTrait::eq(column(rows::Column::Holder), holder),
            ExprTrait::lte(column(rows::Column::ExpiresAt), now),
        );
        let changed = rows::Entity::insert(rows::ActiveModel {
            name: Set(name.to_string()),
            holder: Set(holder.to_string()),
            expires_at: Set(expires_at),
        })
        .on_conflict(
            OnConflict::column(rows::Column::Name)
                .update_columns([rows::Column::Holder, rows::Column::ExpiresAt])
                .action_and_where(ours_or_over)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(backend)?;
        Ok(changed > 0)
    }

    async fn renew_held(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        // One UPDATE ... RETURNING (SQLite has had RETURNING since 3.35; sea-orm's own
        // returning path for SQLite is behind a feature that changes every insert).
        let renew = Query::update()
            .table(rows::Entity)
            .value(rows::Column::ExpiresAt, expires_at)
            .and_where(rows::Column::Holder.eq(holder))
            .and_where(rows::Column::ExpiresAt.gt(now))
            .returning_col(rows::Column::Name)
            .to_owned();
        let mut names = self
            .db
            .query_all(&renew)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| row.try_get::<String>("", "name"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        names.sort_unstable();
        Ok(names)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        rows::Entity::delete_many()
            .filter(rows::Column::Name.eq(name))
            .filter(rows::Column::Holder.eq(holder))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn holder(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        Ok(rows::Entity::find_by_id(name.to_string())
            .one(&self.db)
            .await
            .map_err(backend)?
            .map(|row| (row.holder, row.expires_at)))
    }
}
