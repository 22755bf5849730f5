//! Storage adapters: SQL (sea-orm: SQLite and PostgreSQL), Redis (rooms, autoscaler) and in-process.

pub mod memory;
mod memory_allocation;
pub mod memory_attempts;
pub mod memory_autoscaler;
pub mod memory_machine_decisions;
pub mod redis;
pub mod redis_attempts;
pub mod redis_autoscaler;
pub mod redis_changes;
pub mod redis_connection;
pub mod redis_machine_decisions;
pub mod sql;
