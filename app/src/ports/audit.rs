//! The audit log: who changed what and when, kept in the database.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::audit::AuditEntry;

/// Which entries to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries of these games (entries without a game, i.e. user changes, are left out);
    /// `None`: every entry.
    pub games: Option<Vec<String>>,
    pub scheduler: Option<String>,
    /// At most this many.
    pub limit: u64,
    /// Only entries older than this entry (by time, then id): the next page after it.
    pub before: Option<i64>,
}

/// Audit entries, appended and listed.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stores `entry` (its `id` is ignored) and answers it with the id it got.
    async fn record(&self, entry: &AuditEntry) -> Result<AuditEntry, StoreError>;
    /// The entries that match, newest first (by `at`, then id); `NotFound` when `before`
    /// names no entry.
    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
}
