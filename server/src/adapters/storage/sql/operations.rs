//! Operations: `OperationStore` over the `operations` table. Each scheduler's operations keep
//! the order they were accepted in `seq`; `start`, `update` and `cancel` are conditional
//! updates on the stored status, so a race changes nothing it should not.

use app::domain::operation::{
    Busy, Operation, OperationDefinition, OperationEvent, OperationLease, OperationOrder,
    OperationStatus, Stage, may_queue, push_event,
};
use app::ports::{OperationPage, OperationStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};

use super::{SqlStore, backend, conflict_or_backend};

mod rows {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "operations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub scheduler: String,
        /// Place in the scheduler's queue: one more than the last one accepted.
        pub seq: i64,
        /// JSON of `OperationDefinition`.
        pub definition: String,
        pub status: String,
        pub created_at: DateTimeUtc,
        pub lease_holder: Option<String>,
        pub lease_expires_at: Option<DateTimeUtc>,
        pub cancel_requested: bool,
        /// JSON array of `OperationEvent`.
        pub history: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// First key of the PostgreSQL advisory locks that serialize enqueues, one per scheduler
/// (the second key is the scheduler's name hashed); any constant other users of advisory locks
/// in this database do not use.
const ENQUEUE_LOCK_SPACE: i32 = 0x0BA7_0001;

const UNFINISHED: [OperationStatus; 2] = [OperationStatus::Pending, OperationStatus::InProgress];

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("operation {id}"))
}

fn corrupt(row: &rows::Model, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored operation {} is corrupt: {what}", row.id))
}

fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn to_operation(row: rows::Model) -> Result<Operation, StoreError> {
    let definition: OperationDefinition =
        serde_json::from_str(&row.definition).map_err(|e| corrupt(&row, e))?;
    let status = OperationStatus::parse(&row.status)
        .ok_or_else(|| corrupt(&row, format!("unknown status {}", row.status)))?;
    let history: Vec<OperationEvent> =
        serde_json::from_str(&row.history).map_err(|e| corrupt(&row, e))?;
    let lease = match (row.lease_holder, row.lease_expires_at) {
        (Some(holder), Some(expires_at)) => Some(OperationLease { holder, expires_at }),
        _ => None,
    };
    Ok(Operation {
        id: row.id,
        scheduler: row.scheduler,
        definition,
        status,
        created_at: row.created_at,
        lease,
        cancel_requested: row.cancel_requested,
        history,
    })
}

fn statuses(list: &[OperationStatus]) -> Vec<&'static str> {
    list.iter().map(|s| s.as_str()).collect()
}

async fn unfinished_in(
    conn: &impl ConnectionTrait,
    scheduler: &str,
) -> Result<Vec<Operation>, StoreError> {
    rows::Entity::find()
        .filter(rows::Column::Scheduler.eq(scheduler))
        .filter(rows::Column::Status.is_in(statuses(&UNFINISHED)))
        .order_by_asc(rows::Column::Seq)
        .all(conn)
        .await
        .map_err(backend)?
        .into_iter()
        .map(to_operation)
        .collect()
}

impl SqlStore {
    async fn operation_row(&self, scheduler: &str, id: &str) -> Result<rows::Model, StoreError> {
        rows::Entity::find_by_id(id.to_string())
            .filter(rows::Column::Scheduler.eq(scheduler))
            .one(&self.db)
            .await
            .map_err(backend)?
            .ok_or_else(|| not_found(id))
    }

    /// Saves `status`, `history` and the lease of `operation` if it is stored as `from` (and,
    /// with `holder`, leased to `holder`); whether it was. Never touches `cancel_requested`.
    async fn move_operation(
        &self,
        operation: &Operation,
        from: OperationStatus,
        holder: Option<(&str, DateTime<Utc>)>,
        status: OperationStatus,
        history: &[OperationEvent],
    ) -> Result<bool, StoreError> {
        let lease = operation.lease.as_ref();
        let mut query = rows::Entity::update_many()
            .col_expr(rows::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                rows::Column::LeaseHolder,
                Expr::value(lease.map(|l| l.holder.clone())),
            )
            .col_expr(
                rows::Column::LeaseExpiresAt,
                Expr::value(lease.map(|l| l.expires_at)),
            )
            .col_expr(rows::Column::History, Expr::value(to_json(&history)?))
            .filter(rows::Column::Id.eq(operation.id.as_str()))
            .filter(rows::Column::Scheduler.eq(operation.scheduler.as_str()))
            .filter(rows::Column::Status.eq(from.as_str()));
        // The holder's own lease, or one that expired (taken over).
        if let Some((holder, now)) = holder {
            query = query.filter(
                Condition::any()
                    .add(rows::Column::LeaseHolder.eq(holder))
                    .add(rows::Column::LeaseHolder.is_null())
                    .add(rows::Column::LeaseExpiresAt.lt(now)),
            );
        }
        let result = query.exec(&self.db).await.map_err(backend)?;
        Ok(result.rows_affected > 0)
    }
}

#[async_trait]
impl OperationStore for SqlStore {
    async fn enqueue(&self, operation: &Operation) -> Result<Result<(), Busy>, StoreError> {
        // SQLite: the write lock, taken at BEGIN, serializes every enqueue. PostgreSQL: a
        // transaction-scoped lock per scheduler (its row may not exist, so no row lock).
        let txn = self.write_transaction().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [
                    ENQUEUE_LOCK_SPACE.into(),
                    operation.scheduler.as_str().into(),
                ],
            ))
            .await
            .map_err(backend)?;
        }
        let unfinished = unfinished_in(&txn, &operation.scheduler).await?;
        if let Err(busy) = may_queue(&operation.definition, &unfinished) {
            txn.rollback().await.map_err(backend)?;
            return Ok(Err(busy));
        }
        let last = rows::Entity::find()
            .filter(rows::Column::Scheduler.eq(operation.scheduler.as_str()))
            .order_by_desc(rows::Column::Seq)
            .one(&txn)
            .await
            .map_err(backend)?;
        let lease = operation.lease.as_ref();
        rows::ActiveModel {
            id: Set(operation.id.clone()),
            scheduler: Set(operation.scheduler.clone()),
            seq: Set(last.map_or(1, |row| row.seq + 1)),
            definition: Set(to_json(&operation.definition)?),
            status: Set(operation.status.as_str().to_string()),
            created_at: Set(operation.created_at),
            lease_holder: Set(lease.map(|l| l.holder.clone())),
            lease_expires_at: Set(lease.map(|l| l.expires_at)),
            cancel_requested: Set(operation.cancel_requested),
            history: Set(to_json(&operation.history)?),
        }
        .insert(&txn)
        .await
        .map_err(|e| conflict_or_backend(e, || format!("operation {} exists", operation.id)))?;
        txn.commit().await.map_err(backend)?;
        Ok(Ok(()))
    }

    async fn get(&self, scheduler: &str, id: &str) -> Result<Operation, StoreError> {
        to_operation(self.operation_row(scheduler, id).await?)
    }

    async fn list(
        &self,
        scheduler: &str,
        stage: Option<Stage>,
        order: OperationOrder,
        page: u32,
        per_page: u32,
    ) -> Result<OperationPage, StoreError> {
        let mut query = rows::Entity::find().filter(rows::Column::Scheduler.eq(scheduler));
        if let Some(stage) = stage {
            query = query.filter(rows::Column::Status.is_in(statuses(stage.statuses())));
        }
        let total = query.clone().count(&self.db).await.map_err(backend)?;
        let query = match order {
            OperationOrder::NewestFirst => query.order_by_desc(rows::Column::Seq),
            OperationOrder::OldestFirst => query.order_by_asc(rows::Column::Seq),
        };
        let skip = u64::from(page.max(1) - 1) * u64::from(per_page);
        let operations = if per_page == 0 || skip >= total {
            Vec::new()
        } else {
            query
                .offset(skip)
                .limit(u64::from(per_page))
                .all(&self.db)
                .await
                .map_err(backend)?
                .into_iter()
                .map(to_operation)
                .collect::<Result<_, _>>()?
        };
        Ok(OperationPage { operations, total })
    }

    async fn unfinished(&self, scheduler: &str) -> Result<Vec<Operation>, StoreError> {
        unfinished_in(&self.db, scheduler).await
    }

    async fn start(&self, operation: &Operation) -> Result<bool, StoreError> {
        self.move_operation(
            operation,
            OperationStatus::Pending,
            None,
            OperationStatus::InProgress,
            &operation.history,
        )
        .await
    }

    async fn update(
        &self,
        operation: &Operation,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.move_operation(
            operation,
            OperationStatus::InProgress,
            Some((holder, now)),
            operation.status,
            &operation.history,
        )
        .await
    }

    async fn cancel(
        &self,
        scheduler: &str,
        id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<Operation, StoreError> {
        // Statuses only move forward (pending, in progress, final), so a conditional update that
        // lost a race is retried at most twice.
        for _ in 0..3 {
            let current = to_operation(self.operation_row(scheduler, id).await?)?;
            let changed = match current.status {
                OperationStatus::Pending => {
                    let mut history = current.history.clone();
                    push_event(
                        &mut history,
                        OperationEvent {
                            at: now,
                            event: event.to_string(),
                        },
                    );
                    self.move_operation(
                        &current,
                        OperationStatus::Pending,
                        None,
                        OperationStatus::Canceled,
                        &history,
                    )
                    .await?
                }
                OperationStatus::InProgress => {
                    rows::Entity::update_many()
                        .col_expr(rows::Column::CancelRequested, Expr::value(true))
                        .filter(rows::Column::Id.eq(id))
                        .filter(rows::Column::Scheduler.eq(scheduler))
                        .filter(rows::Column::Status.eq(OperationStatus::InProgress.as_str()))
                        .exec(&self.db)
                        .await
                        .map_err(backend)?
                        .rows_affected
                        > 0
                }
                _ => return Ok(current),
            };
            if changed {
                return self.get(scheduler, id).await;
            }
        }
        Err(StoreError::Backend(format!(
            "operation {id} kept changing while being canceled"
        )))
    }

    async fn busy_schedulers(&self) -> Result<Vec<String>, StoreError> {
        rows::Entity::find()
            .select_only()
            .column(rows::Column::Scheduler)
            .distinct()
            .filter(rows::Column::Status.is_in(statuses(&UNFINISHED)))
            .into_tuple::<String>()
            .all(&self.db)
            .await
            .map_err(backend)
    }

    async fn forget(&self, scheduler: &str) -> Result<(), StoreError> {
        rows::Entity::delete_many()
            .filter(rows::Column::Scheduler.eq(scheduler))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
