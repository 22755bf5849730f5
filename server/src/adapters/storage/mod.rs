//! Storage adapters: SQL (sea-orm: SQLite and PostgreSQL) and in-process.

pub mod memory;
pub mod sql;
