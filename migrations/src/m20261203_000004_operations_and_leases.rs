use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each scheduler's operations, in the order they were accepted (`seq`, per scheduler).
#[derive(DeriveIden)]
enum Operations {
    Table,
    Id,
    Scheduler,
    Seq,
    Definition,
    Status,
    CreatedAt,
    LeaseHolder,
    LeaseExpiresAt,
    CancelRequested,
    History,
}

/// Named leases: which process runs what, until when.
#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Operations::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Operations::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Operations::Scheduler)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Operations::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Operations::Definition).text().not_null())
                    .col(ColumnDef::new(Operations::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Operations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Operations::LeaseHolder)
                            .string_len(255)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Operations::LeaseExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Operations::CancelRequested)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Operations::History).text().not_null())
                    .to_owned(),
            )
            .await?;
        // Ordering within a scheduler (and the scheduler index); unique, so two operations of
        // one scheduler never share a place in its queue.
        manager
            .create_index(
                Index::create()
                    .name("idx_operations_scheduler_seq")
                    .table(Operations::Table)
                    .col(Operations::Scheduler)
                    .col(Operations::Seq)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_operations_scheduler_status")
                    .table(Operations::Table)
                    .col(Operations::Scheduler)
                    .col(Operations::Status)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Leases::Name)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Leases::Holder).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Leases::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Operations::Table.into_iden(), Leases::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
