//! Operations: the durable, ordered changes to a scheduler (create it, a new version, a switch,
//! adding or removing rooms, deleting it), each with a status and a history a person can read.
//! One runs at a time per scheduler, in the order they were accepted. Pure; the operations
//! worker carries them out and the operation store keeps them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an operation is in its life. `Canceled`, `Finished`, `Evicted` and `Error` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    Pending,
    InProgress,
    Canceled,
    Finished,
    /// Dropped without running (its scheduler was deleted before its turn).
    Evicted,
    Error,
}

impl OperationStatus {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::InProgress,
        Self::Canceled,
        Self::Finished,
        Self::Evicted,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Canceled => "canceled",
            Self::Finished => "finished",
            Self::Evicted => "evicted",
            Self::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::InProgress)
    }

    pub fn stage(self) -> Stage {
        match self {
            Self::Pending => Stage::Pending,
            Self::InProgress => Stage::Active,
            _ => Stage::Final,
        }
    }
}

/// The operations list's filter: waiting, running, or done (Maestro calls the last `history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Pending,
    Active,
    Final,
}

impl Stage {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "final" | "history" => Some(Self::Final),
            _ => None,
        }
    }

    pub fn statuses(self) -> &'static [OperationStatus] {
        use OperationStatus::*;
        match self {
            Self::Pending => &[Pending],
            Self::Active => &[InProgress],
            Self::Final => &[Canceled, Finished, Evicted, Error],
        }
    }
}

/// What an operation does, with its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "definitionName", rename_all = "snake_case")]
pub enum OperationDefinition {
    /// The scheduler was stored when the request was accepted; its rooms follow.
    CreateScheduler,
    /// `version` is stored; a major one is validated with one room, then made active and
    /// rolled out; a minor one was made active when it was stored.
    #[serde(rename = "create_new_scheduler_version")]
    NewVersion {
        version: String,
        /// The version active when the change was accepted (where a cancel goes back to).
        previous: String,
        major: bool,
    },
    SwitchActiveVersion {
        version: String,
        previous: String,
    },
    AddRooms {
        amount: u32,
    },
    RemoveRooms {
        #[serde(default)]
        amount: u32,
        #[serde(default, rename = "roomsIds")]
        room_ids: Vec<String>,
    },
    DeleteScheduler,
}

impl OperationDefinition {
    /// Maestro's name for it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateScheduler => "create_scheduler",
            Self::NewVersion { .. } => "create_new_scheduler_version",
            Self::SwitchActiveVersion { .. } => "switch_active_version",
            Self::AddRooms { .. } => "add_rooms",
            Self::RemoveRooms { .. } => "remove_rooms",
            Self::DeleteScheduler => "delete_scheduler",
        }
    }

    /// The input as the API shows it (the definition's fields).
    pub fn input(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.remove("definitionName");
        }
        value
    }

    /// Whether this change must wait for no other operation at all: a new version or a switch
    /// while another operation is waiting or running is refused (the user must see it first).
    pub fn needs_exclusive(&self) -> bool {
        matches!(
            self,
            Self::NewVersion { .. } | Self::SwitchActiveVersion { .. }
        )
    }
}

/// One line of an operation's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationEvent {
    #[serde(rename = "createdAt")]
    pub at: DateTime<Utc>,
    pub event: String,
}

/// Who runs an operation now, and until when unless renewed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationLease {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub scheduler: String,
    pub definition: OperationDefinition,
    pub status: OperationStatus,
    pub created_at: DateTime<Utc>,
    /// Set while it runs.
    pub lease: Option<OperationLease>,
    /// Someone asked to cancel it; the runner stops at its next step.
    pub cancel_requested: bool,
    pub history: Vec<OperationEvent>,
}

/// How many history lines an operation keeps (the oldest go first, the first one stays).
pub const HISTORY_KEPT: usize = 200;

impl Operation {
    pub fn new(
        id: String,
        scheduler: &str,
        definition: OperationDefinition,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            scheduler: scheduler.to_string(),
            definition,
            status: OperationStatus::Pending,
            created_at: now,
            lease: None,
            cancel_requested: false,
            history: vec![OperationEvent {
                at: now,
                event: "Accepted".into(),
            }],
        }
    }
}

/// Appends `event` to `history`, keeping the first line and the latest ones.
pub fn push_event(history: &mut Vec<OperationEvent>, event: OperationEvent) {
    history.push(event);
    if history.len() > HISTORY_KEPT {
        history.remove(1);
    }
}

/// Why a change cannot be queued now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "operation {operation_id} ({definition}) is {status} on scheduler {scheduler}: wait for it or cancel it"
)]
pub struct Busy {
    pub scheduler: String,
    pub operation_id: String,
    pub definition: &'static str,
    pub status: &'static str,
}

/// Whether `definition` may be queued behind `unfinished` (the scheduler's pending and running
/// operations, oldest first).
pub fn may_queue(definition: &OperationDefinition, unfinished: &[Operation]) -> Result<(), Busy> {
    match unfinished.first() {
        Some(first) if definition.needs_exclusive() => {
            let running = unfinished
                .iter()
                .find(|o| o.status == OperationStatus::InProgress)
                .unwrap_or(first);
            Err(Busy {
                scheduler: running.scheduler.clone(),
                operation_id: running.id.clone(),
                definition: running.definition.name(),
                status: running.status.as_str(),
            })
        }
        _ => Ok(()),
    }
}

/// Sort order of the operations list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OperationOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

impl OperationOrder {
    /// Maestro's `orderBy`: `createdAt desc` (the default) or `createdAt asc`; also the
    /// snake-case spelling.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let field = words.next()?;
        if field != "createdAt" && field != "created_at" {
            return None;
        }
        let order = match words.next() {
            None | Some("desc") | Some("DESC") => Self::NewestFirst,
            Some("asc") | Some("ASC") => Self::OldestFirst,
            Some(_) => return None,
        };
        words.next().is_none().then_some(order)
    }
}

/// Whether a scheduler's lease, held until `held_until` (`None`: not held), must be renewed at
/// `now`: once a third of its `ttl` has passed since it was taken or last renewed. Renewing it
/// every tick would write each scheduler's lease every second; this way a holder still has two
/// thirds of the TTL left at every step, and another process takes over within the TTL of the
/// last renewal, as before.
pub fn lease_renewal_due(
    held_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> bool {
    held_until.is_none_or(|until| until - now < ttl * 2 / 3)
}

/// Whether a scheduler's controller must renew its own lease at `now`: once half of its `ttl`
/// has passed. Its process renews all its leases at once a third in (`lease_renewal_due`), so
/// the controller renews its own only when that did not happen (the renewal failed, or came
/// just before the lease was taken), and still with half the TTL left.
pub fn own_lease_renewal_due(
    held_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> bool {
    held_until.is_none_or(|until| until - now < ttl / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_renewed_once_a_third_of_its_ttl_has_passed() {
        let ttl = chrono::Duration::seconds(9);
        assert!(lease_renewal_due(None, at(0), ttl), "not held");
        let held = Some(at(9));
        assert!(!lease_renewal_due(held, at(0), ttl), "just taken");
        assert!(
            !lease_renewal_due(held, at(3), ttl),
            "a third passed: 6 s left"
        );
        assert!(lease_renewal_due(held, at(4), ttl), "5 s left");
        assert!(lease_renewal_due(held, at(9), ttl), "expired");
        assert!(lease_renewal_due(held, at(20), ttl), "long expired");
    }

    #[test]
    fn a_controller_renews_its_own_lease_only_once_half_its_ttl_has_passed() {
        let ttl = chrono::Duration::seconds(10);
        assert!(own_lease_renewal_due(None, at(0), ttl), "not held");
        let held = Some(at(10));
        assert!(!own_lease_renewal_due(held, at(4), ttl), "6 s left");
        assert!(
            lease_renewal_due(held, at(4), ttl),
            "while the process's renewal of all is due"
        );
        assert!(!own_lease_renewal_due(held, at(5), ttl), "half left");
        assert!(own_lease_renewal_due(held, at(6), ttl), "4 s left");
        assert!(own_lease_renewal_due(held, at(11), ttl), "expired");
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000 + seconds, 0).unwrap()
    }

    fn op(id: &str, definition: OperationDefinition, status: OperationStatus) -> Operation {
        let mut op = Operation::new(id.into(), "s", definition, at(0));
        op.status = status;
        op
    }

    #[test]
    fn statuses_have_maestros_names_and_stages() {
        for status in OperationStatus::ALL {
            assert_eq!(OperationStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
            assert!(status.stage().statuses().contains(&status));
        }
        assert_eq!(OperationStatus::InProgress.as_str(), "in_progress");
        assert_eq!(Stage::parse("history"), Some(Stage::Final));
        assert_eq!(Stage::parse("done"), None);
    }

    #[test]
    fn definitions_have_maestros_names_and_inputs() {
        let new_version = OperationDefinition::NewVersion {
            version: "v2".into(),
            previous: "v1".into(),
            major: true,
        };
        assert_eq!(new_version.name(), "create_new_scheduler_version");
        assert_eq!(
            new_version.input(),
            serde_json::json!({"version": "v2", "previous": "v1", "major": true})
        );
        let remove = OperationDefinition::RemoveRooms {
            amount: 0,
            room_ids: vec!["r1".into()],
        };
        assert_eq!(
            remove.input(),
            serde_json::json!({"amount": 0, "roomsIds": ["r1"]})
        );
        let text = serde_json::to_string(&remove).unwrap();
        assert_eq!(
            serde_json::from_str::<OperationDefinition>(&text).unwrap(),
            remove
        );
        assert_eq!(
            OperationDefinition::AddRooms { amount: 3 }.name(),
            "add_rooms"
        );
    }

    #[test]
    fn a_new_version_or_switch_waits_for_nobody_and_names_the_running_one() {
        let new_version = OperationDefinition::NewVersion {
            version: "v2".into(),
            previous: "v1".into(),
            major: true,
        };
        assert_eq!(may_queue(&new_version, &[]), Ok(()));
        let queue = [
            op(
                "a",
                OperationDefinition::AddRooms { amount: 1 },
                OperationStatus::Pending,
            ),
            op(
                "b",
                OperationDefinition::CreateScheduler,
                OperationStatus::InProgress,
            ),
        ];
        let busy = may_queue(&new_version, &queue).unwrap_err();
        assert_eq!(busy.operation_id, "b");
        assert_eq!(busy.status, "in_progress");
        let switch = OperationDefinition::SwitchActiveVersion {
            version: "v1".into(),
            previous: "v2".into(),
        };
        assert_eq!(
            may_queue(&switch, &queue[..1]).unwrap_err().operation_id,
            "a"
        );
        // Room counts queue behind anything.
        assert_eq!(
            may_queue(&OperationDefinition::AddRooms { amount: 2 }, &queue),
            Ok(())
        );
    }

    #[test]
    fn history_keeps_the_first_line_and_the_latest() {
        let mut history =
            Operation::new("x".into(), "s", OperationDefinition::CreateScheduler, at(0)).history;
        for i in 0..(HISTORY_KEPT + 10) {
            push_event(
                &mut history,
                OperationEvent {
                    at: at(i as i64),
                    event: format!("step {i}"),
                },
            );
        }
        assert_eq!(history.len(), HISTORY_KEPT);
        assert_eq!(history[0].event, "Accepted");
        assert_eq!(
            history.last().unwrap().event,
            format!("step {}", HISTORY_KEPT + 9)
        );
    }

    #[test]
    fn order_by_reads_maestros_syntax() {
        assert_eq!(
            OperationOrder::parse("createdAt desc"),
            Some(OperationOrder::NewestFirst)
        );
        assert_eq!(
            OperationOrder::parse("created_at asc"),
            Some(OperationOrder::OldestFirst)
        );
        assert_eq!(
            OperationOrder::parse("createdAt"),
            Some(OperationOrder::NewestFirst)
        );
        assert_eq!(OperationOrder::parse("status asc"), None);
        assert_eq!(OperationOrder::parse("createdAt sideways"), None);
    }
}
