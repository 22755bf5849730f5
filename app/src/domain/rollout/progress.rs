//! How far a running version change got: the rooms on the version it leaves and on the one it
//! brings, and the ready rooms against the floor the waves keep. Nothing of it is stored: it is
//! read off the rooms as they are, the way the runner decides the change is done (no live room
//! of another major version left).

use serde::{Deserialize, Serialize};

use super::major;
use crate::domain::operation::{Operation, OperationDefinition, OperationStatus};
use crate::domain::room::{GameRoom, RoomStatus};

/// A running rollout (a major new version or a switch), as the rooms show it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgress {
    /// The version the operation brings.
    pub version: String,
    /// The version is not active yet: its validation room must turn ready first.
    pub validating: bool,
    /// Live rooms (not terminating) of another major version: the ones left to replace.
    pub old_rooms: u32,
    /// Live rooms of the new version's major version.
    pub new_rooms: u32,
    /// Of those, the ready ones.
    pub new_ready: u32,
    /// Ready rooms of any version.
    pub ready: u32,
    /// The ready rooms the waves keep: no ready room is removed that would take the ready count
    /// below this (or below the count found, while that is lower). The desired room count.
    pub ready_floor: u32,
}

impl RolloutProgress {
    /// Percent of the live rooms on the new version: 0 while validating, 100 once no room of
    /// an older version is left (the runner's condition for done).
    pub fn percent(&self) -> u32 {
        if self.validating {
            0
        } else if self.old_rooms == 0 {
            100
        } else {
            self.new_rooms * 100 / (self.old_rooms + self.new_rooms)
        }
    }
}

/// The version a running operation rolls out, if it is a rollout: a major new version or a
/// switch. Pending and ended operations, and the other kinds, have no progress.
pub fn target(operation: &Operation) -> Option<&str> {
    if operation.status != OperationStatus::InProgress {
        return None;
    }
    match &operation.definition {
        OperationDefinition::NewVersion {
            version,
            major: true,
            ..
        }
        | OperationDefinition::SwitchActiveVersion { version, .. } => Some(version),
        _ => None,
    }
}

/// The progress of `operation` over the scheduler's `rooms`, with `active` its active version
/// and `desired` the room count it aims for; `None` when the operation is no running rollout.
pub fn progress(
    operation: &Operation,
    active: &str,
    rooms: &[GameRoom],
    desired: u32,
) -> Option<RolloutProgress> {
    let version = target(operation)?;
    let new_major = major(version);
    let mut progress = RolloutProgress {
        version: version.to_string(),
        validating: active != version,
        old_rooms: 0,
        new_rooms: 0,
        new_ready: 0,
        ready: 0,
        ready_floor: desired,
    };
    let live = rooms
        .iter()
        .filter(|r| !matches!(r.status, RoomStatus::Terminating | RoomStatus::Terminated));
    for room in live {
        let ready = room.status == RoomStatus::Ready;
        progress.ready += u32::from(ready);
        if major(&room.version) == new_major {
            progress.new_rooms += 1;
            progress.new_ready += u32::from(ready);
        } else {
            progress.old_rooms += 1;
        }
    }
    Some(progress)
}

#[cfg(test)]
mod tests {
    use super::super::sim::{at, room};
    use super::*;
    use RoomStatus::{Error, Occupied, Pending, Ready, Terminating};

    fn running(definition: OperationDefinition) -> Operation {
        let mut operation = Operation::new("op".into(), "s", definition, at(0));
        operation.status = OperationStatus::InProgress;
        operation
    }

    fn new_version(major: bool) -> OperationDefinition {
        OperationDefinition::NewVersion {
            version: "v2".into(),
            previous: "v1".into(),
            major,
        }
    }

    #[test]
    fn counts_live_rooms_by_major_version_and_ready_ones() {
        let rooms = [
            room("a", "v1", Ready, 0),
            room("b", "v1.1", Occupied, 1),
            room("c", "v1", Terminating, 2),
            room("d", "v2", Ready, 3),
            room("e", "v2", Pending, 4),
            room("f", "v2.1", Error, 5),
        ];
        let progress = progress(&running(new_version(true)), "v2", &rooms, 3).unwrap();
        assert_eq!(
            progress,
            RolloutProgress {
                version: "v2".into(),
                validating: false,
                old_rooms: 2,
                new_rooms: 3,
                new_ready: 1,
                ready: 2,
                ready_floor: 3,
            }
        );
        assert_eq!(progress.percent(), 60);
    }

    #[test]
    fn validating_until_the_version_is_active_and_done_when_no_old_room_is_left() {
        let rooms = [room("a", "v1", Ready, 0), room("v", "v2", Pending, 1)];
        let early = progress(&running(new_version(true)), "v1", &rooms, 1).unwrap();
        assert!(early.validating);
        assert_eq!((early.old_rooms, early.new_rooms), (1, 1));
        assert_eq!(early.percent(), 0);
        let active = progress(&running(new_version(true)), "v2", &rooms, 1).unwrap();
        assert_eq!(active.percent(), 50);
        let done = progress(
            &running(new_version(true)),
            "v2",
            &[room("v", "v2", Ready, 1)],
            1,
        )
        .unwrap();
        assert_eq!(done.percent(), 100);
        assert_eq!(
            progress(&running(new_version(true)), "v2", &[], 0)
                .unwrap()
                .percent(),
            100
        );
    }

    #[test]
    fn a_switch_back_counts_the_older_major_as_new() {
        let switch = OperationDefinition::SwitchActiveVersion {
            version: "v1".into(),
            previous: "v2".into(),
        };
        let rooms = [room("a", "v2", Ready, 0), room("b", "v1", Ready, 1)];
        let progress = progress(&running(switch), "v1", &rooms, 2).unwrap();
        assert_eq!((progress.old_rooms, progress.new_rooms), (1, 1));
        assert_eq!(progress.new_ready, 1);
    }

    #[test]
    fn only_running_rollouts_have_progress() {
        let rooms = [room("a", "v1", Ready, 0)];
        let mut pending = running(new_version(true));
        pending.status = OperationStatus::Pending;
        let mut finished = running(new_version(true));
        finished.status = OperationStatus::Finished;
        for operation in [
            pending,
            finished,
            running(new_version(false)),
            running(OperationDefinition::AddRooms { amount: 2 }),
            running(OperationDefinition::CreateScheduler),
        ] {
            assert_eq!(progress(&operation, "v1", &rooms, 1), None, "{operation:?}");
        }
    }
}
