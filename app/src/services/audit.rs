//! The audit log as use cases: recording who changed what (called by the scheduler, operation
//! and user use cases) and reading it as a user may.
//!
//! Recording happens once the change is stored, so the log never lists a change that did not
//! happen. When the entry cannot be written the change stands (it happened; an error would
//! make the caller retry it) and the failure is not silent: it is logged at error level with
//! the whole entry, so the record survives in the server's log.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::ServiceError;
use crate::domain::access;
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::user::User;
use crate::domain::validation::{is_dns_label, is_game_name};
use crate::ports::{AuditFilter, AuditLog, StoreError};

/// Entries one list answers by default.
pub const DEFAULT_LIMIT: u64 = 50;
/// The most entries one list answers.
pub const MAX_LIMIT: u64 = 500;

/// What a reader asks for, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub game: Option<String>,
    pub scheduler: Option<String>,
    pub limit: u64,
    /// The id of the last entry of the previous page.
    pub before: Option<i64>,
}

impl AuditQuery {
    /// Reads the parameters as sent (`?game=&scheduler=&limit=&before=`); every bad one is
    /// named. Empty values are as good as absent.
    pub fn parse(
        game: Option<&str>,
        scheduler: Option<&str>,
        limit: Option<&str>,
        before: Option<&str>,
    ) -> Result<Self, ServiceError> {
        fn given(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: &str| {
            errors.push(crate::domain::validation::FieldError {
                field: field.to_string(),
                message: message.to_string(),
            })
        };
        let game = given(game).map(str::to_string);
        if game.as_deref().is_some_and(|g| !is_game_name(g)) {
            bad("game", "is not a game name");
        }
        let scheduler = given(scheduler).map(str::to_string);
        if scheduler.as_deref().is_some_and(|s| !is_dns_label(s)) {
            bad("scheduler", "is not a scheduler name");
        }
        let limit = match given(limit).map(str::parse::<u64>) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                bad("limit", &format!("must be a number from 1 to {MAX_LIMIT}"));
                0
            }
        };
        let before = match given(before).map(str::parse::<i64>) {
            None => None,
            Some(Ok(id)) if id > 0 => Some(id),
            Some(_) => {
                bad("before", "must be the id of an audit entry");
                None
            }
        };
        if errors.is_empty() {
            Ok(Self {
                game,
                scheduler,
                limit,
                before,
            })
        } else {
            Err(ServiceError::Invalid(errors))
        }
    }
}

/// Records and reads the audit log.
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
}

impl AuditTrail {
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    /// Records `entry` (see the module's note on failures).
    pub async fn record(&self, entry: AuditEntry) {
        if let Err(err) = self.log.record(&entry).await {
            let entry = serde_json::to_string(&entry).unwrap_or_default();
            tracing::error!(%err, %entry, "the audit log could not record a change");
        }
    }

    /// A new entry by `user`, now.
    pub fn entry(user: &User, action: AuditAction, summary: String) -> AuditEntry {
        AuditEntry::new(Utc::now(), &user.username, action, summary)
    }

    /// Records a change to user `username` by `actor`: the user before and after (never a
    /// password or its hash; a password reset records neither).
    pub async fn user_changed(
        &self,
        actor: &User,
        action: AuditAction,
        username: &str,
        before: Option<&User>,
        after: Option<&User>,
    ) {
        let snapshot = |user: Option<&User>| user.and_then(|u| serde_json::to_value(u).ok());
        let what = match action {
            AuditAction::UserCreated => "created user",
            AuditAction::PasswordReset => "reset the password of user",
            AuditAction::UserDisabled => "disabled user",
            AuditAction::UserEnabled => "enabled user",
            AuditAction::UserDeleted => "deleted user",
            _ => "changed the role and games of user",
        };
        let (before, after) = match action {
            AuditAction::UserDisabled | AuditAction::UserEnabled => {
                let disabled = action == AuditAction::UserDisabled;
                (
                    Some(json!({"username": username, "disabled": !disabled})),
                    Some(json!({"username": username, "disabled": disabled})),
                )
            }
            _ => (snapshot(before), snapshot(after)),
        };
        let entry = Self::entry(
            actor,
            action,
            format!("{} {what} {username}", actor.username),
        )
        .with(before, after);
        self.record(entry).await
    }

    /// The entries `user` may read that match `query`, newest first: administrators read every
    /// entry; others only those of the games they may read (`access::can_read`), so never
    /// user changes.
    pub async fn list(
        &self,
        user: &User,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        let games = if user.is_admin() {
            query.game.clone().map(|g| vec![g])
        } else {
            let readable: Vec<String> = match &query.game {
                Some(game) => vec![game.clone()],
                None => user.games.clone(),
            }
            .into_iter()
            .filter(|g| access::can_read(user, g))
            .collect();
            if readable.is_empty() {
                return Ok(Vec::new());
            }
            Some(readable)
        };
        let filter = AuditFilter {
            games,
            scheduler: query.scheduler.clone(),
            limit: query.limit,
            before: query.before,
        };
        match self.log.list(&filter).await {
            Ok(entries) => Ok(entries),
            Err(StoreError::NotFound(_)) => {
                Err(ServiceError::invalid("before", "names no audit entry"))
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// `{"version": v}`: what a switch changes.
pub fn version_value(version: &str) -> Value {
    json!({ "version": version })
}
