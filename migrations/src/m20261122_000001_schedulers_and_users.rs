use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedulers {
    Table,
    Name,
    Game,
    ActiveVersion,
    State,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SchedulerVersions {
    Table,
    SchedulerName,
    Version,
    Config,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Games,
    Disabled,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedulers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Schedulers::Name)
                            .string_len(63)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Schedulers::Game).string_len(63).not_null())
                    .col(
                        ColumnDef::new(Schedulers::ActiveVersion)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Schedulers::State).string_len(32).not_null())
                    .col(
                        ColumnDef::new(Schedulers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_schedulers_game")
                    .table(Schedulers::Table)
                    .col(Schedulers::Game)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SchedulerVersions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SchedulerVersions::SchedulerName)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchedulerVersions::Version)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SchedulerVersions::Config).text().not_null())
                    .col(
                        ColumnDef::new(SchedulerVersions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SchedulerVersions::SchedulerName)
                            .col(SchedulerVersions::Version),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SchedulerVersions::Table, SchedulerVersions::SchedulerName)
                            .to(Schedulers::Table, Schedulers::Name)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Users::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Users::Username)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                    .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                    .col(ColumnDef::new(Users::Games).text().not_null())
                    .col(
                        ColumnDef::new(Users::Disabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Users::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SchedulerVersions::Table.into_iden(),
            Schedulers::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
