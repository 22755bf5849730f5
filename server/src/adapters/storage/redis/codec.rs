//! How a room is written to and read from Redis: hash fields, keys, timestamps, JSON, errors.

use std::collections::HashMap;
use std::io::Write as _;

use app::domain::room::{GameRoom, RoomStatus};
use app::ports::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use redis::{RedisWrite, ToRedisArgs};

/// Hash fields of a room.
pub(super) mod field {
    pub const ID: &str = "id";
    pub const SCHEDULER: &str = "scheduler";
    pub const VERSION: &str = "version";
    pub const STATUS: &str = "status";
    pub const STATUS_REASON: &str = "status_reason";
    pub const CREATED_AT: &str = "created_at";
    pub const STATUS_CHANGED_AT: &str = "status_changed_at";
    pub const LAST_PING_AT: &str = "last_ping_at";
    pub const RUNNING_MATCHES: &str = "running_matches";
    pub const METADATA: &str = "metadata";
    pub const ADDRESS: &str = "address";
    pub const REGION: &str = "region";
    pub const MACHINE: &str = "machine";
}

pub(super) fn room_not_found(scheduler: &str, id: &str) -> StoreError {
    StoreError::NotFound(format!("room {id} of scheduler {scheduler}"))
}

pub(super) fn corrupt(scheduler: &str, id: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "redis: room {id} of scheduler {scheduler} is unreadable: {what}"
    ))
}

/// The position of `status` in `RoomStatus::ALL`.
pub(super) fn status_index(status: RoomStatus) -> usize {
    RoomStatus::ALL
        .iter()
        .position(|s| *s == status)
        .expect("RoomStatus::ALL holds every status")
}

/// A key of one scheduler, `P:{S}:KIND:NAME`, formatted straight into a command's buffer
/// (the same keys as `RedisRoomStore::room_key` and `status_key`, without a `String` each).
pub(super) struct Key<'a> {
    prefix: &'a str,
    scheduler: &'a str,
    kind: &'static str,
    name: &'a str,
}

impl<'a> Key<'a> {
    pub(super) fn room(prefix: &'a str, scheduler: &'a str, id: &'a str) -> Self {
        Self {
            prefix,
            scheduler,
            kind: "room",
            name: id,
        }
    }

    pub(super) fn status(prefix: &'a str, scheduler: &'a str, status: RoomStatus) -> Self {
        Self {
            prefix,
            scheduler,
            kind: "status",
            name: status.as_str(),
        }
    }
}

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        // Piece by piece: cheaper than the formatting machinery on the hot path.
        let mut arg = out.writer_for_next_arg();
        for piece in [
            self.prefix,
            ":{",
            self.scheduler,
            "}:",
            self.kind,
            ":",
            self.name,
        ] {
            arg.write_all(piece.as_bytes())
                .expect("writing to a command buffer cannot fail");
        }
    }
}

pub(super) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding: {e}")))
}

/// A room from its hash fields (`HGETALL`); `corrupt` names what does not read.
pub(super) fn decode_room(
    scheduler: &str,
    id: &str,
    mut fields: HashMap<String, String>,
) -> Result<GameRoom, StoreError> {
    let mut take = |name: &str| fields.remove(name);
    let required = |value: Option<String>, name: &str| {
        value.ok_or_else(|| corrupt(scheduler, id, format!("no {name}")))
    };
    let time = |text: &str, name: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(scheduler, id, format!("{name}: {e}")))
    };
    let status_text = required(take(field::STATUS), field::STATUS)?;
    let status = RoomStatus::parse(&status_text)
        .ok_or_else(|| corrupt(scheduler, id, format!("status {status_text}")))?;
    let created_at = time(
        &required(take(field::CREATED_AT), field::CREATED_AT)?,
        field::CREATED_AT,
    )?;
    let status_changed_at = time(
        &required(take(field::STATUS_CHANGED_AT), field::STATUS_CHANGED_AT)?,
        field::STATUS_CHANGED_AT,
    )?;
    let last_ping_at = take(field::LAST_PING_AT)
        .map(|t| time(&t, field::LAST_PING_AT))
        .transpose()?;
    let running_matches = take(field::RUNNING_MATCHES)
        .map(|n| {
            n.parse()
                .map_err(|e| corrupt(scheduler, id, format!("running_matches: {e}")))
        })
        .transpose()?
        .unwrap_or(0);
    let metadata = take(field::METADATA)
        .map(|m| {
            serde_json::from_str(&m).map_err(|e| corrupt(scheduler, id, format!("metadata: {e}")))
        })
        .transpose()?
        .unwrap_or_default();
    let address = take(field::ADDRESS)
        .map(|a| {
            serde_json::from_str(&a).map_err(|e| corrupt(scheduler, id, format!("address: {e}")))
        })
        .transpose()?;
    Ok(GameRoom {
        id: take(field::ID).unwrap_or_else(|| id.to_string()),
        scheduler: take(field::SCHEDULER).unwrap_or_else(|| scheduler.to_string()),
        version: required(take(field::VERSION), field::VERSION)?,
        status,
        status_reason: take(field::STATUS_REASON).filter(|reason| !reason.is_empty()),
        created_at,
        status_changed_at,
        last_ping_at,
        running_matches,
        metadata,
        address,
        region: take(field::REGION).unwrap_or_default(),
        machine: take(field::MACHINE).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_keys_are_the_store_keys() {
        let (prefix, scheduler, id) = ("baton", "s-1", "room-7");
        let mut cmd = redis::Cmd::new();
        cmd.arg(Key::room(prefix, scheduler, id)).arg(Key::status(
            prefix,
            scheduler,
            RoomStatus::Ready,
        ));
        let args: Vec<&[u8]> = cmd
            .args_iter()
            .filter_map(|a| match a {
                redis::Arg::Simple(bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        assert_eq!(
            args,
            [
                "baton:{s-1}:room:room-7".as_bytes(),
                "baton:{s-1}:status:ready".as_bytes()
            ]
        );
    }

    #[test]
    fn timestamps_round_trip_exactly() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let text = timestamp(t);
        assert_eq!(
            DateTime::parse_from_rfc3339(&text)
                .unwrap()
                .with_timezone(&Utc),
            t
        );
    }
}
