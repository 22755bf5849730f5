use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unfinished operations of every scheduler, found without reading the finished ones: the
/// health supervisor asks for them every tick (`OperationStore::busy_schedulers`).
#[derive(DeriveIden)]
enum Operations {
    Table,
    Status,
    Scheduler,
}

const INDEX: &str = "idx_operations_status_scheduler";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Operations::Table)
                    .col(Operations::Status)
                    .col(Operations::Scheduler)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Operations::Table)
                    .to_owned(),
            )
            .await
    }
}
