//! Baton's database schema, applied at start-up on SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_schedulers_and_users;
mod m20261122_000002_settings;
mod m20261122_000003_sessions;
mod m20261203_000004_operations_and_leases;
mod m20261207_000005_audit_entries;
mod m20261207_000006_session_epoch;
mod m20261207_000007_operations_status;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_schedulers_and_users::Migration),
            Box::new(m20261122_000002_settings::Migration),
            Box::new(m20261122_000003_sessions::Migration),
            Box::new(m20261203_000004_operations_and_leases::Migration),
            Box::new(m20261207_000005_audit_entries::Migration),
            Box::new(m20261207_000006_session_epoch::Migration),
            Box::new(m20261207_000007_operations_status::Migration),
        ]
    }
}
