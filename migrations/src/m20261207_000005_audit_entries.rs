use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The audit log: who changed what and when. `at` is in microseconds since the Unix epoch (UTC),
/// so that both databases order it as a number.
#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Id,
    At,
    Actor,
    Action,
    Game,
    Scheduler,
    Summary,
    Before,
    After,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AuditEntries::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEntries::At).big_integer().not_null())
                    .col(
                        ColumnDef::new(AuditEntries::Actor)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEntries::Action)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEntries::Game).string_len(255).null())
                    .col(
                        ColumnDef::new(AuditEntries::Scheduler)
                            .string_len(63)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEntries::Summary).text().not_null())
                    .col(ColumnDef::new(AuditEntries::Before).text().null())
                    .col(ColumnDef::new(AuditEntries::After).text().null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_audit_entries_game_at", AuditEntries::Game),
            ("idx_audit_entries_scheduler_at", AuditEntries::Scheduler),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEntries::Table)
                        .col(column)
                        .col(AuditEntries::At)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(AuditEntries::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
