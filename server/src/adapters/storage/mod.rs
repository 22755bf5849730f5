//! Storage adapters: SQL (sea-orm: SQLite and PostgreSQL), Redis (rooms) and in-process.

pub mod memory;
pub mod redis;
pub mod sql;
