//! The audit log: who changed what and when, with the difference between before and after.
//! Pure and wasm-safe: the server stores entries, the dashboard and the API show their
//! [`changes`], computed here from the two snapshots.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::access::HIDDEN_VALUE;
use super::scheduler::SchedulerConfig;

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SchedulerCreated,
    /// A new version of a scheduler (anything but autoscaling alone changed).
    NewVersion,
    /// A new version that changes the autoscaling section only.
    AutoscalingChanged,
    VersionSwitched,
    SchedulerDeleted,
    OperationCanceled,
    UserCreated,
    /// Role or games.
    UserChanged,
    /// The entry never holds the password or its hash.
    PasswordReset,
    UserDisabled,
    UserEnabled,
    UserDeleted,
}

impl AuditAction {
    pub const ALL: [Self; 12] = [
        Self::SchedulerCreated,
        Self::NewVersion,
        Self::AutoscalingChanged,
        Self::VersionSwitched,
        Self::SchedulerDeleted,
        Self::OperationCanceled,
        Self::UserCreated,
        Self::UserChanged,
        Self::PasswordReset,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchedulerCreated => "scheduler_created",
            Self::NewVersion => "new_version",
            Self::AutoscalingChanged => "autoscaling_changed",
            Self::VersionSwitched => "version_switched",
            Self::SchedulerDeleted => "scheduler_deleted",
            Self::OperationCanceled => "operation_canceled",
            Self::UserCreated => "user_created",
            Self::UserChanged => "user_changed",
            Self::PasswordReset => "password_reset",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserDeleted => "user_deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One change, as recorded. `before` and `after` are JSON snapshots of what changed (a
/// scheduler's configuration with its sensitive values hidden, a user without password), none
/// where there was nothing (a create has no `before`, a delete no `after`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Given by the log when the entry is stored (increasing); the cursor of `before=`.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The username of who did it.
    pub actor: String,
    pub action: AuditAction,
    /// The game of the scheduler changed; none for user changes.
    pub game: Option<String>,
    pub scheduler: Option<String>,
    /// One line for people: "alice switched scheduler s to v2".
    pub summary: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
}

impl AuditEntry {
    /// An entry not stored yet (id 0), at `at`.
    pub fn new(at: DateTime<Utc>, actor: &str, action: AuditAction, summary: String) -> Self {
        Self {
            id: 0,
            at,
            actor: actor.to_string(),
            action,
            game: None,
            scheduler: None,
            summary,
            before: None,
            after: None,
        }
    }

    /// For a change to scheduler `name` of `game`.
    pub fn of_scheduler(mut self, game: &str, name: &str) -> Self {
        self.game = Some(game.to_string());
        self.scheduler = Some(name.to_string());
        self
    }

    pub fn with(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    /// What differs between `before` and `after`, field by field.
    pub fn changes(&self) -> Vec<FieldChange> {
        changes_of(self.before.as_ref(), self.after.as_ref())
    }
}

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where a field is in a JSON document: `autoscaling.min`, `spec.containers[0].image`; the
/// empty path is the whole document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    fn child(&self, segment: Segment) -> Self {
        let mut path = self.0.clone();
        path.push(segment);
        Self(path)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One field that differs: its value before and after (none: absent).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldChange {
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub path: FieldPath,
    /// Any JSON value (a field's value, not only objects); none: the field was absent.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Value>))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Value>))]
    pub after: Option<Value>,
}

/// The fields that differ between `before` and `after`, in document order (object keys sorted).
/// Objects and arrays are compared member by member; anything else (a scalar, or two values of
/// different kinds) is one change at its path. A member present on one side only is one change
/// with the other side none.
pub fn changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    changes_of(Some(before), Some(after))
}

/// [`changes`] where either document may be absent (a create, a delete).
pub fn changes_of(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff(&FieldPath::default(), before, after, &mut out);
    out
}

fn diff(
    path: &FieldPath,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                diff(
                    &path.child(Segment::Key(key.clone())),
                    a.get(key),
                    b.get(key),
                    out,
                );
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for index in 0..a.len().max(b.len()) {
                diff(
                    &path.child(Segment::Index(index)),
                    a.get(index),
                    b.get(index),
                    out,
                );
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            path: path.clone(),
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

/// `document` with `changes` applied (each path set to its `after`, or removed when none;
/// array members removed from the end): `apply(before, &changes(before, after)) == after`.
/// `None` when a path does not lead anywhere in the document.
pub fn apply(document: Option<Value>, changes: &[FieldChange]) -> Option<Option<Value>> {
    let mut document = document;
    for change in changes {
        set(&mut document, &change.path.0, change.after.clone())?;
    }
    Some(document)
}

fn set(slot: &mut Option<Value>, path: &[Segment], value: Option<Value>) -> Option<()> {
    let Some((first, rest)) = path.split_first() else {
        *slot = value;
        return Some(());
    };
    match (slot.as_mut()?, first) {
        (Value::Object(map), Segment::Key(key)) => {
            let mut child = map.remove(key);
            set(&mut child, rest, value)?;
            if let Some(child) = child {
                map.insert(key.clone(), child);
            }
            Some(())
        }
        (Value::Array(list), Segment::Index(index)) => {
            let mut child = list.get(*index).cloned();
            set(&mut child, rest, value)?;
            match child {
                Some(child) if *index < list.len() => list[*index] = child,
                Some(child) if *index == list.len() => list.push(child),
                Some(_) => return None,
                None => list.truncate(*index),
            }
            Some(())
        }
        _ => None,
    }
}

/// What replaces a sensitive value that changed, in the `after` snapshot.
pub const HIDDEN_CHANGED: &str = "(hidden, changed)";

/// A scheduler's configuration as the audit log keeps it: every sensitive environment value
/// (marked secret, or read from `valueFrom`) hidden as `access::visible_config` hides it from
/// readers, whoever reads the log.
pub fn snapshot(config: &SchedulerConfig) -> Value {
    let mut config = config.clone();
    super::access::hide_sensitive(&mut config);
    serde_json::to_value(&config).unwrap_or(Value::Null)
}

/// The snapshots of a change from `before` to `after`, both hidden as [`snapshot`] hides them;
/// a sensitive value that changed (same container and name, another value or source) reads
/// [`HIDDEN_CHANGED`] after, so that the change shows without its value.
pub fn snapshots(before: &SchedulerConfig, after: &SchedulerConfig) -> (Value, Value) {
    let mut hidden = after.clone();
    super::access::hide_sensitive(&mut hidden);
    for (container, shown) in after
        .spec
        .containers
        .iter()
        .zip(hidden.spec.containers.iter_mut())
    {
        let old = before
            .spec
            .containers
            .iter()
            .find(|c| c.name == container.name);
        for (variable, shown) in container
            .environment
            .iter()
            .zip(shown.environment.iter_mut())
        {
            if !variable.is_sensitive() {
                continue;
            }
            let was = old.and_then(|c| c.environment.iter().find(|v| v.name == variable.name));
            let same = was.is_some_and(|was| {
                was.is_sensitive()
                    && was.value == variable.value
                    && was.value_from == variable.value_from
            });
            if !same && shown.value == HIDDEN_VALUE {
                shown.value = HIDDEN_CHANGED.to_string();
            }
        }
    }
    (
        snapshot(before),
        serde_json::to_value(&hidden).unwrap_or(Value::Null),
    )
}

/// Whether `after` differs from `before` in its autoscaling section only.
pub fn only_autoscaling_changed(before: &SchedulerConfig, after: &SchedulerConfig) -> bool {
    let mut same = before.clone();
    same.autoscaling = after.autoscaling.clone();
    same == *after && before.autoscaling != after.autoscaling
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
