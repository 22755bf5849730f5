//! One room's lifecycle as a timeline, and hiding secrets from what its instance printed. Pure
//! and wasm-safe: the room page builds and extends the timeline in the browser.
//!
//! The room store keeps a room as it is now: when it was created, its status and since when
//! (with why: `statusReason`), its last ping and its open claims. It keeps no past statuses and
//! forgets a removed room. So [`room_timeline`] answers what the store shows now, and
//! [`observe`] folds each answer into what a viewer saw before: a page that stays open collects
//! every status the room went through while it watched, the claims that closed (confirmed,
//! released or expired) and the moment the room was gone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::allocation::Claim;
use super::room::{GameRoom, RoomStatus};

/// What happened to a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomEvent {
    /// Created from this scheduler version.
    Created { version: String },
    /// Entered this status (a changed `statusReason` counts as entering it again).
    Status {
        status: RoomStatus,
        reason: Option<String>,
    },
    /// A matchmaker claimed capacity on it, until `expires_at` unless the room confirms it.
    Claimed {
        claim: String,
        expires_at: DateTime<Utc>,
    },
    /// An open claim seen before is no longer open: confirmed by a ping, released or expired
    /// (the store keeps no closed claims, so which one is not known).
    ClaimClosed { claim: String },
    /// The room is no longer in the store (removed after it terminated, crashed or was
    /// replaced).
    Gone,
}

impl RoomEvent {
    /// A short name: `created`, the status, `claimed`, `claim closed`, `gone`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Status { status, .. } => status.as_str(),
            Self::Claimed { .. } => "claimed",
            Self::ClaimClosed { .. } => "claim closed",
            Self::Gone => "gone",
        }
    }
}

/// One moment of a room's life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub event: RoomEvent,
}

impl TimelineEntry {
    /// Whether `other` tells of the same moment (a status entered again later is another one).
    fn same(&self, other: &TimelineEntry) -> bool {
        match (&self.event, &other.event) {
            (RoomEvent::Claimed { claim: a, .. }, RoomEvent::Claimed { claim: b, .. })
            | (RoomEvent::ClaimClosed { claim: a }, RoomEvent::ClaimClosed { claim: b }) => a == b,
            (RoomEvent::Created { .. }, RoomEvent::Created { .. })
            | (RoomEvent::Gone, RoomEvent::Gone) => true,
            (a, b) => a == b && self.at == other.at,
        }
    }
}

/// The room's timeline as the store shows it now, oldest first: its creation, the status it is
/// in since it changed last, and its open claims.
pub fn room_timeline(room: &GameRoom, claims: &[Claim]) -> Vec<TimelineEntry> {
    let mut entries = vec![TimelineEntry {
        at: room.created_at,
        event: RoomEvent::Created {
            version: room.version.clone(),
        },
    }];
    entries.push(TimelineEntry {
        at: room.status_changed_at,
        event: RoomEvent::Status {
            status: room.status,
            reason: room.status_reason.clone(),
        },
    });
    entries.extend(
        claims
            .iter()
            .filter(|claim| claim.room == room.id)
            .map(|claim| TimelineEntry {
                at: claim.created_at,
                event: RoomEvent::Claimed {
                    claim: claim.id.clone(),
                    expires_at: claim.expires_at,
                },
            }),
    );
    sorted(entries)
}

/// What a viewer knows after the store's answer at `now`: the entries seen before, the new ones
/// of `latest` (the room's [`room_timeline`], or `None` once the room is no longer in the
/// store), a closed claim for each claim seen open that `latest` no longer has, and the room
/// gone (once, for a room seen before). Oldest first.
pub fn observe(
    seen: &[TimelineEntry],
    latest: Option<&[TimelineEntry]>,
    now: DateTime<Utc>,
) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = seen.to_vec();
    match latest {
        Some(latest) => {
            for entry in latest {
                if !entries.iter().any(|e| e.same(entry)) {
                    entries.push(entry.clone());
                }
            }
            let closed: Vec<TimelineEntry> = entries
                .iter()
                .filter_map(|e| match &e.event {
                    RoomEvent::Claimed { claim, .. }
                        if !latest.iter().any(|l| l.same(e))
                            && !entries.iter().any(|c| {
                                matches!(&c.event, RoomEvent::ClaimClosed { claim: id } if id == claim)
                            }) =>
                    {
                        Some(TimelineEntry {
                            at: now,
                            event: RoomEvent::ClaimClosed {
                                claim: claim.clone(),
                            },
                        })
                    }
                    _ => None,
                })
                .collect();
            entries.extend(closed);
        }
        None => {
            let gone = TimelineEntry {
                at: now,
                event: RoomEvent::Gone,
            };
            if !entries.is_empty() && !entries.iter().any(|e| e.same(&gone)) {
                entries.push(gone);
            }
        }
    }
    sorted(entries)
}

fn sorted(mut entries: Vec<TimelineEntry>) -> Vec<TimelineEntry> {
    // Stable: at the same moment, creation before its first status, and so on.
    entries.sort_by_key(|e| e.at);
    entries
}

/// What a secret is replaced with in a room's output.
pub const HIDDEN: &str = "(hidden)";

/// Values shorter than this are not hidden from output: replacing every `1` or `on` would
/// garble the lines and tell what the value is anyway.
pub const MIN_HIDDEN_LEN: usize = 6;

/// `lines` with every occurrence of each secret (the room token, the scheduler's secret
/// environment values) replaced by [`HIDDEN`]. Secrets shorter than [`MIN_HIDDEN_LEN`] are left.
pub fn hide_secrets(lines: Vec<String>, secrets: &[&str]) -> Vec<String> {
    let secrets: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.len() >= MIN_HIDDEN_LEN)
        .collect();
    if secrets.is_empty() {
        return lines;
    }
    lines
        .into_iter()
        .map(|mut line| {
            for secret in &secrets {
                if line.contains(secret) {
                    line = line.replace(secret, HIDDEN);
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Duration;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(seconds)
    }

    fn room(status: RoomStatus, changed: i64) -> GameRoom {
        GameRoom {
            id: "r1".into(),
            scheduler: "s".into(),
            version: "v1".into(),
            status,
            status_reason: None,
            created_at: at(0),
            status_changed_at: at(changed),
            last_ping_at: Some(at(changed)),
            running_matches: 0,
            metadata: BTreeMap::new(),
            address: None,
            region: String::new(),
            machine: String::new(),
        }
    }

    fn claim(id: &str, created: i64) -> Claim {
        Claim {
            id: id.into(),
            scheduler: "s".into(),
            room: "r1".into(),
            metadata: serde_json::Value::Null,
            created_at: at(created),
            expires_at: at(created + 60),
        }
    }

    fn names(entries: &[TimelineEntry]) -> Vec<&'static str> {
        entries.iter().map(|e| e.event.name()).collect()
    }

    #[test]
    fn the_store_shows_creation_the_current_status_and_open_claims() {
        let mut ready = room(RoomStatus::Ready, 5);
        ready.status_reason = Some("warm".into());
        let other_room = Claim {
            room: "r2".into(),
            ..claim("c9", 7)
        };
        let timeline = room_timeline(&ready, &[claim("c1", 9), other_room]);
        assert_eq!(names(&timeline), ["created", "ready", "claimed"]);
        assert_eq!(
            timeline[0].event,
            RoomEvent::Created {
                version: "v1".into()
            }
        );
        assert_eq!(
            timeline[1].event,
            RoomEvent::Status {
                status: RoomStatus::Ready,
                reason: Some("warm".into())
            }
        );
        assert_eq!(timeline[2].at, at(9));
    }

    #[test]
    fn a_page_left_open_collects_the_whole_lifecycle() {
        let mut seen = observe(
            &[],
            Some(&room_timeline(&room(RoomStatus::Pending, 0), &[])),
            at(1),
        );
        assert_eq!(names(&seen), ["created", "pending"]);
        let ready = room(RoomStatus::Ready, 4);
        seen = observe(
            &seen,
            Some(&room_timeline(&ready, &[claim("c1", 6)])),
            at(6),
        );
        // The same answer again adds nothing.
        let again = observe(
            &seen,
            Some(&room_timeline(&ready, &[claim("c1", 6)])),
            at(7),
        );
        assert_eq!(again, seen);
        seen = observe(
            &seen,
            Some(&room_timeline(&room(RoomStatus::Occupied, 8), &[])),
            at(8),
        );
        seen = observe(
            &seen,
            Some(&room_timeline(&room(RoomStatus::Terminating, 20), &[])),
            at(20),
        );
        seen = observe(&seen, None, at(25));
        seen = observe(&seen, None, at(27));
        assert_eq!(
            names(&seen),
            [
                "created",
                "pending",
                "ready",
                "claimed",
                "occupied",
                "claim closed",
                "terminating",
                "gone"
            ]
        );
        assert_eq!(seen.last().map(|e| e.at), Some(at(25)));
        assert!(seen.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn a_room_never_seen_is_not_reported_gone() {
        assert!(observe(&[], None, at(3)).is_empty());
    }

    #[test]
    fn secrets_are_hidden_from_output_short_values_are_left() {
        let lines = vec![
            "token=abcdef0123 and abcdef0123 again".to_string(),
            "password hunter22, flag on".to_string(),
        ];
        let hidden = hide_secrets(lines, &["abcdef0123", "hunter22", "on", ""]);
        assert_eq!(hidden[0], "token=(hidden) and (hidden) again");
        assert_eq!(hidden[1], "password (hidden), flag on");
    }
}
