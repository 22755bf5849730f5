//! Allocation: handing rooms with free capacity to matchmakers as claims. Pure and wasm-safe;
//! the room stores apply these rules atomically (one lock, or one Redis script).
//!
//! - A room can take a claim when it is `ready` (or `occupied`, for rooms that run several
//!   matches) and its running matches plus its open claims are below the scheduler's
//!   `matchAllocation.maxMatches` ([`can_take`]).
//! - Among the rooms that can, the scheduler's strategy and the request's selector choose one
//!   ([`selection`]: [`pick`]). The default (`packed`) is the busiest one on the busiest
//!   machine ([`packing`]): the machine with the most busy rooms first, then occupied rooms,
//!   then the room with the most running matches and open claims, so that whole rooms and
//!   machines stay empty for scale-down.
//! - A claim lives [`DEFAULT_TTL_SECONDS`] unless the request says otherwise (between
//!   [`MIN_TTL_SECONDS`] and [`MAX_TTL_SECONDS`]). A ping that raises the room's running matches
//!   by `k` confirms its `k` oldest open claims; a ping that moves the room to `occupied` without
//!   raising them confirms all of them ([`confirmed_by_ping`]). A confirmed claim is closed: the
//!   room's own count carries the match from then on. A claim not confirmed in time expires and
//!   its capacity is free again.
//! - Match metadata attached to a claim is any JSON value of at most [`MAX_METADATA_BYTES`]
//!   bytes, serialized.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::room::{GameRoom, RoomAddress, RoomStatus};
use super::scheduler::MatchAllocation;

pub mod packing;
pub mod rate;
pub mod selection;
pub use selection::{
    RoomSelector, Selection, Strategy, VersionLabels, matches, pick, same_json, with_unnamed_rooms,
};

/// The largest match metadata a claim carries, as serialized JSON: 4 KiB.
pub const MAX_METADATA_BYTES: usize = 4096;
/// How long a claim waits for its room's confirmation when the request names no TTL.
pub const DEFAULT_TTL_SECONDS: u64 = 60;
pub const MIN_TTL_SECONDS: u64 = 1;
/// One hour: a matchmaker that needs longer should reserve again.
pub const MAX_TTL_SECONDS: u64 = 3600;

/// A scheduler's allocation policy (its optional `allocation` section).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AllocationPolicy {
    /// `packed` (default: the busiest room first, so that empty rooms can go) or `distributed`
    /// (the least-loaded room first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// How long a claim waits for its room's confirmation when the request names no TTL, as a
    /// duration (`"60s"`, `"2m"`): whole seconds from 1 s to 1 h. Default 60 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ttl: Option<String>,
}

impl AllocationPolicy {
    /// The strategy (`packed` when unset; validation refuses unknown names).
    pub fn strategy(policy: Option<&Self>) -> Strategy {
        policy
            .and_then(|p| p.strategy.as_deref())
            .and_then(Strategy::parse)
            .unwrap_or_default()
    }

    /// The claim TTL in seconds, when set and valid.
    pub fn claim_ttl_seconds(policy: Option<&Self>) -> Option<u64> {
        policy
            .and_then(|p| p.claim_ttl.as_deref())
            .and_then(ttl_seconds)
    }
}

/// A TTL written as a duration, in whole seconds within the allowed bounds.
pub fn ttl_seconds(text: &str) -> Option<u64> {
    let seconds = super::quantity::parse_duration_seconds(text)?;
    (seconds.fract() == 0.0 && (MIN_TTL_SECONDS as f64..=MAX_TTL_SECONDS as f64).contains(&seconds))
        .then_some(seconds as u64)
}

/// A claim a room store just recorded, with its room's address and region read in the same
/// atomic step (so that the answer needs no second read).
#[derive(Clone, Debug, PartialEq)]
pub struct Claimed {
    pub claim: Claim,
    /// The room's address, when known.
    pub address: Option<RoomAddress>,
    /// The room's region as stored (`""` for rooms stored before regions).
    pub region: String,
}

/// A room's capacity handed to a matchmaker, until the room confirms it or it expires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub id: String,
    pub scheduler: String,
    pub room: String,
    /// Match metadata the matchmaker attached (any JSON, at most 4 KiB serialized).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A claim before a room is chosen for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewClaim {
    pub id: String,
    #[serde(default)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl NewClaim {
    /// The claim on `room` of `scheduler`.
    pub fn on(self, scheduler: &str, room: &str) -> Claim {
        Claim {
            id: self.id,
            scheduler: scheduler.to_string(),
            room: room.to_string(),
            metadata: self.metadata,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

/// Why a claim request is refused before any room is looked at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the metadata takes {0} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed")]
    MetadataTooLarge(usize),
    #[error("the TTL must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS} seconds, not {0}")]
    Ttl(u64),
}

/// Checks a request and builds its claim: `id` is fresh and unique, `now` the request's time.
pub fn new_claim(
    id: String,
    metadata: Option<serde_json::Value>,
    ttl_seconds: Option<u64>,
    now: DateTime<Utc>,
) -> Result<NewClaim, ClaimError> {
    let metadata = metadata.unwrap_or(serde_json::Value::Object(Default::default()));
    let size = serde_json::to_string(&metadata).map_or(usize::MAX, |s| s.len());
    if size > MAX_METADATA_BYTES {
        return Err(ClaimError::MetadataTooLarge(size));
    }
    let ttl = ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ClaimError::Ttl(ttl));
    }
    Ok(NewClaim {
        id,
        metadata,
        created_at: now,
        expires_at: now + Duration::seconds(ttl as i64),
    })
}

/// The scheduler's `maxMatches` as the stores use it (at least one).
pub fn max_matches(allocation: &MatchAllocation) -> u32 {
    allocation.max_matches.clamp(1, u32::MAX as i64) as u32
}

/// Whether a room in `status` with `running_matches` and `open_claims` can take one more claim.
pub fn can_take(status: RoomStatus, running_matches: u32, open_claims: u32, max: u32) -> bool {
    let open = status == RoomStatus::Ready || (status == RoomStatus::Occupied && max > 1);
    open && u64::from(running_matches) + u64::from(open_claims) < u64::from(max)
}

/// How many of a room's `open` claims (oldest first) a ping confirms: the rise in running
/// matches, or all of them when it moves the room to `occupied` without raising them.
pub fn confirmed_by_ping(
    before: (RoomStatus, u32),
    after: (RoomStatus, u32),
    open: usize,
) -> usize {
    let raised = after.1.saturating_sub(before.1) as usize;
    if raised > 0 {
        raised.min(open)
    } else if after.0 == RoomStatus::Occupied && before.0 != RoomStatus::Occupied {
        open
    } else {
        0
    }
}

/// The rooms as the autoscaler counts them: open claims count as running matches, and a ready
/// room that its matches plus claims fill counts as occupied (so `fixedBuffer` keeps its buffer
/// of rooms that can still take a match, and `roomOccupancy` sees claimed rooms as busy).
/// Without claims, the rooms themselves (no copy).
pub fn with_claims<'a>(rooms: &'a [GameRoom], claims: &[Claim], max: u32) -> Cow<'a, [GameRoom]> {
    if claims.is_empty() {
        return Cow::Borrowed(rooms);
    }
    rooms
        .iter()
        .map(|room| {
            let open = claims.iter().filter(|c| c.room == room.id).count() as u32;
            let mut counted = room.clone();
            if open > 0 {
                counted.running_matches = room.running_matches.saturating_add(open);
                if room.status == RoomStatus::Ready && counted.running_matches >= max {
                    counted.status = RoomStatus::Occupied;
                }
            }
            counted
        })
        .collect::<Vec<_>>()
        .into()
}

/// The rooms matchmakers have: those with open claims, and those running matches (occupied, or
/// with running matches), in the order given, each with its open claims oldest first.
pub fn allocated_rooms(rooms: &[GameRoom], claims: &[Claim]) -> Vec<(GameRoom, Vec<Claim>)> {
    rooms
        .iter()
        .filter_map(|room| {
            let mut open: Vec<Claim> = claims
                .iter()
                .filter(|c| c.room == room.id)
                .cloned()
                .collect();
            open.sort_by_key(|c| c.created_at);
            let busy = room.status == RoomStatus::Occupied || room.running_matches > 0;
            (busy || !open.is_empty()).then(|| (room.clone(), open))
        })
        .collect()
}

/// Whether a claim has lapsed at `now`.
pub fn expired(claim: &Claim, now: DateTime<Utc>) -> bool {
    claim.expires_at <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoomStatus::*;
    use serde_json::json;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn room(id: &str, status: RoomStatus, matches: u32) -> GameRoom {
        GameRoom {
            id: id.into(),
            scheduler: "s".into(),
            version: "v1".into(),
            status,
            status_reason: None,
            created_at: at(0),
            status_changed_at: at(0),
            last_ping_at: None,
            running_matches: matches,
            metadata: Default::default(),
            address: None,
            region: String::new(),
            machine: String::new(),
        }
    }

    #[test]
    fn capacity_counts_running_matches_and_open_claims() {
        assert!(can_take(Ready, 0, 0, 1));
        assert!(!can_take(Ready, 0, 1, 1));
        assert!(!can_take(Ready, 1, 0, 1));
        assert!(can_take(Ready, 1, 1, 3));
        assert!(!can_take(Ready, 1, 2, 3));
        // Occupied rooms take more only when they run several matches.
        assert!(!can_take(Occupied, 0, 0, 1));
        assert!(can_take(Occupied, 2, 0, 3));
        assert!(!can_take(Occupied, 2, 1, 3));
        for status in [Pending, Unready, Terminating, Error, Terminated] {
            assert!(!can_take(status, 0, 0, 3), "{status}");
        }
        assert!(!can_take(Ready, u32::MAX, u32::MAX, u32::MAX));
    }

    #[test]
    fn allocated_rooms_are_the_claimed_and_the_busy_ones() {
        let claim = |id: &str, room: &str, created: i64| {
            new_claim(id.into(), None, None, at(created))
                .unwrap()
                .on("s", room)
        };
        let rooms = [
            room("idle", Ready, 0),
            room("claimed", Ready, 0),
            room("occupied", Occupied, 0),
            room("running", Ready, 1),
        ];
        let claims = [claim("c2", "claimed", 9), claim("c1", "claimed", 3)];
        let allocated = allocated_rooms(&rooms, &claims);
        let ids: Vec<&str> = allocated.iter().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(ids, ["claimed", "occupied", "running"]);
        let claim_ids: Vec<&str> = allocated[0].1.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(claim_ids, ["c1", "c2"]);
        assert!(allocated[1].1.is_empty());
    }

    #[test]
    fn max_matches_is_at_least_one() {
        assert_eq!(max_matches(&MatchAllocation { max_matches: 0 }), 1);
        assert_eq!(max_matches(&MatchAllocation { max_matches: -3 }), 1);
        assert_eq!(max_matches(&MatchAllocation { max_matches: 3 }), 3);
    }

    #[test]
    fn requests_are_checked() {
        let claim = new_claim("c1".into(), None, None, at(100)).unwrap();
        assert_eq!(claim.expires_at, at(160));
        assert_eq!(claim.metadata, json!({}));
        let claim = new_claim("c1".into(), Some(json!({"match": 7})), Some(5), at(100)).unwrap();
        assert_eq!(
            (claim.expires_at, claim.metadata),
            (at(105), json!({"match": 7}))
        );
        assert_eq!(
            new_claim("c".into(), None, Some(0), at(0)),
            Err(ClaimError::Ttl(0))
        );
        assert_eq!(
            new_claim("c".into(), None, Some(MAX_TTL_SECONDS + 1), at(0)),
            Err(ClaimError::Ttl(MAX_TTL_SECONDS + 1))
        );
        let big = json!({ "x": "y".repeat(MAX_METADATA_BYTES) });
        assert!(matches!(
            new_claim("c".into(), Some(big), None, at(0)),
            Err(ClaimError::MetadataTooLarge(n)) if n > MAX_METADATA_BYTES
        ));
        let claim = claim_on_r(at(0), at(10));
        assert!(!expired(&claim, at(9)));
        assert!(expired(&claim, at(10)));
    }

    fn claim_on_r(created: DateTime<Utc>, expires: DateTime<Utc>) -> Claim {
        NewClaim {
            id: "c".into(),
            metadata: json!(null),
            created_at: created,
            expires_at: expires,
        }
        .on("s", "r")
    }

    #[test]
    fn the_autoscaler_counts_claims_as_matches() {
        let rooms = [
            room("a", Ready, 0),
            room("b", Ready, 0),
            room("c", Occupied, 1),
        ];
        let claims = [claim_on("a"), claim_on("c")];
        let single = with_claims(&rooms, &claims, 1);
        let seen: Vec<(RoomStatus, u32)> = single
            .iter()
            .map(|r| (r.status, r.running_matches))
            .collect();
        assert_eq!(seen, [(Occupied, 1), (Ready, 0), (Occupied, 2)]);
        let multi = with_claims(&rooms, &claims, 3);
        let seen: Vec<(RoomStatus, u32)> = multi
            .iter()
            .map(|r| (r.status, r.running_matches))
            .collect();
        assert_eq!(seen, [(Ready, 1), (Ready, 0), (Occupied, 2)]);
        assert!(matches!(with_claims(&rooms, &[], 1), Cow::Borrowed(same) if same == rooms));
    }

    fn claim_on(room: &str) -> Claim {
        NewClaim {
            id: format!("claim-{room}"),
            metadata: json!({}),
            created_at: at(0),
            expires_at: at(60),
        }
        .on("s", room)
    }

    #[test]
    fn pings_confirm_claims() {
        assert_eq!(confirmed_by_ping((Ready, 0), (Occupied, 0), 1), 1);
        assert_eq!(confirmed_by_ping((Ready, 0), (Ready, 0), 1), 0);
        assert_eq!(confirmed_by_ping((Occupied, 1), (Occupied, 2), 2), 1);
        assert_eq!(confirmed_by_ping((Occupied, 1), (Occupied, 5), 2), 2);
        assert_eq!(confirmed_by_ping((Occupied, 2), (Occupied, 1), 2), 0);
        assert_eq!(confirmed_by_ping((Ready, 0), (Occupied, 1), 3), 1);
        assert_eq!(confirmed_by_ping((Ready, 0), (Occupied, 0), 0), 0);
    }
}
