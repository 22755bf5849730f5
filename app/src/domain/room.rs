//! Game rooms: their states, the heartbeat that reports them, and which changes a ping may make.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoomStatus {
    /// Created on the runtime, not yet heard from.
    Pending,
    /// Running but not accepting players.
    Unready,
    Ready,
    Occupied,
    Terminating,
    /// Its instance crashed or failed to start.
    Error,
    Terminated,
}

impl RoomStatus {
    pub const ALL: [RoomStatus; 7] = [
        Self::Pending,
        Self::Unready,
        Self::Ready,
        Self::Occupied,
        Self::Terminating,
        Self::Error,
        Self::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Unready => "unready",
            Self::Ready => "ready",
            Self::Occupied => "occupied",
            Self::Terminating => "terminating",
            Self::Error => "error",
            Self::Terminated => "terminated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The statuses a room may be in for a ping reporting `to` to be accepted (the README's
    /// table, "Statuses a room may report", read by column).
    /// This table is the one rule every room store applies atomically.
    pub fn allowed_before(to: RoomStatus) -> &'static [RoomStatus] {
        use RoomStatus::*;
        match to {
            Ready | Occupied | Unready => &[Pending, Unready, Ready, Occupied, Error],
            Terminating => &[Pending, Unready, Ready, Occupied, Error, Terminating],
            Terminated => &[
                Pending,
                Unready,
                Ready,
                Occupied,
                Error,
                Terminating,
                Terminated,
            ],
            // Only the orchestrator puts rooms in these states, never a ping.
            Pending | Error => &[],
        }
    }

    /// Whether a ping reporting `to` is accepted while the room is `self`.
    pub fn accepts_ping(self, to: RoomStatus) -> bool {
        Self::allowed_before(to).contains(&self)
    }

    /// The statuses a room in this status may report, in `ALL` order.
    pub fn ping_targets(self) -> Vec<RoomStatus> {
        Self::ALL
            .into_iter()
            .filter(|to| self.accepts_ping(*to))
            .collect()
    }

    /// Whether a room may report this status at all (only the orchestrator puts rooms in
    /// `pending` or `error`). Checkable before the room is even read.
    pub fn reportable(self) -> bool {
        !Self::allowed_before(self).is_empty()
    }

    /// Checks a ping reporting `to` while the room is `self`: the domain's whole rule.
    pub fn check_ping(self, to: RoomStatus) -> Result<(), PingError> {
        if !to.reportable() {
            Err(PingError::OrchestratorOnly)
        } else if self.accepts_ping(to) {
            Ok(())
        } else {
            Err(PingError::Transition { from: self, to })
        }
    }
}

/// How many rooms of a scheduler are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoomCounts {
    pub pending: u64,
    pub unready: u64,
    pub ready: u64,
    pub occupied: u64,
    pub terminating: u64,
    pub error: u64,
}

impl RoomCounts {
    pub fn add(&mut self, status: RoomStatus) {
        self.add_many(status, 1);
    }

    pub fn add_many(&mut self, status: RoomStatus, n: u64) {
        match status {
            RoomStatus::Pending => self.pending += n,
            RoomStatus::Unready => self.unready += n,
            RoomStatus::Ready => self.ready += n,
            RoomStatus::Occupied => self.occupied += n,
            RoomStatus::Terminating => self.terminating += n,
            RoomStatus::Error => self.error += n,
            RoomStatus::Terminated => {}
        }
    }

    /// Rooms that exist or are being created (the autoscaler's min and max bound these).
    pub fn live(&self) -> u64 {
        self.pending + self.unready + self.ready + self.occupied
    }
}

/// One port of a room as players reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoomPort {
    pub name: String,
    pub protocol: String,
    pub port: u16,
}

/// Where players reach a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoomAddress {
    pub host: String,
    pub ports: Vec<RoomPort>,
}

/// A game room as the orchestrator knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GameRoom {
    pub id: String,
    pub scheduler: String,
    /// The scheduler version the room was created from.
    pub version: String,
    pub status: RoomStatus,
    /// Why the room is in its status, when Baton knows more than the status says: a pending
    /// room waiting for capacity says what it waits for, a room in error what failed (the
    /// runtime's words: a crash, a command that could not start) (`statusReason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When `status` last changed.
    pub status_changed_at: DateTime<Utc>,
    pub last_ping_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub running_matches: u32,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<RoomAddress>,
    /// The region of the runtime the room runs on. Empty for rooms stored before Baton knew
    /// regions: those run on the default runtime.
    #[serde(default)]
    pub region: String,
    /// The machine the room runs on, as the machine adapters name it (the local runtime: this
    /// host's name; Kubernetes: the pod's node, once scheduled). Empty while unknown.
    #[serde(default)]
    pub machine: String,
}

/// What a room reports in its heartbeat (`PUT /scheduler/{s}/rooms/{r}/ping`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Ping {
    pub status: RoomStatus,
    /// Accepted and ignored: seconds since the epoch by the room's clock (a number or a numeric
    /// string, as Maestro's rooms send it). Baton records when the ping arrived instead, so a
    /// room's clock (or Maestro's placeholder `"12312312313"`) never decides its ping timeout.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub timestamp: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub running_matches: Option<u32>,
}

fn lenient_timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("timestamp must be a number of seconds")),
    }
}

/// Why a ping was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// The room is `from` and may not move to `to` (e.g. `ready` after `terminating`).
    #[error(
        "the room is {from} and cannot report {to}: a {from} room may only report {}",
        list(&.from.ping_targets())
    )]
    Transition { from: RoomStatus, to: RoomStatus },
    /// Only the orchestrator puts rooms in `pending` or `error`, whatever their status.
    #[error("rooms may only report ready, occupied, unready, terminating or terminated")]
    OrchestratorOnly,
}

/// `a, b or c`.
fn list(statuses: &[RoomStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        None => "nothing".to_string(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl std::fmt::Display for RoomStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl GameRoom {
    /// Applies a ping received at `now`: the new room, or why the ping is refused.
    /// Room stores call this (or apply `RoomStatus::allowed_before` atomically) so that
    /// every store enforces the same rule.
    pub fn apply_ping(&self, ping: &Ping, now: DateTime<Utc>) -> Result<GameRoom, PingError> {
        self.status.check_ping(ping.status)?;
        let mut room = self.clone();
        if room.status != ping.status {
            room.status_changed_at = now;
        }
        room.status = ping.status;
        room.last_ping_at = Some(now);
        if let Some(metadata) = &ping.metadata {
            room.metadata = metadata.clone();
        }
        if let Some(matches) = ping.running_matches {
            room.running_matches = matches;
        }
        Ok(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(status: RoomStatus) -> GameRoom {
        let t = DateTime::from_timestamp(1_000, 0).unwrap();
        GameRoom {
            id: "r".into(),
            scheduler: "s".into(),
            version: "v1".into(),
            status,
            status_reason: None,
            created_at: t,
            status_changed_at: t,
            last_ping_at: None,
            running_matches: 0,
            metadata: BTreeMap::new(),
            address: None,
            region: String::new(),
            machine: String::new(),
        }
    }

    fn ping(status: RoomStatus) -> Ping {
        Ping {
            status,
            timestamp: None,
            metadata: None,
            running_matches: None,
        }
    }

    /// The README's table ("Statuses a room may report"), written out: what a room in each
    /// status may report. `pending` and `error` are never reportable.
    const DOCUMENTED: [(RoomStatus, &[RoomStatus]); 7] = {
        use RoomStatus::*;
        const LIVE: &[RoomStatus] = &[Unready, Ready, Occupied, Terminating, Terminated];
        [
            (Pending, LIVE),
            (Unready, LIVE),
            (Ready, LIVE),
            (Occupied, LIVE),
            (Error, LIVE),
            (Terminating, &[Terminating, Terminated]),
            (Terminated, &[Terminated]),
        ]
    };

    #[test]
    fn every_ping_transition_follows_the_documented_table() {
        use RoomStatus::*;
        let now = DateTime::from_timestamp(2_000, 0).unwrap();
        let mut rows: Vec<RoomStatus> = DOCUMENTED.iter().map(|(from, _)| *from).collect();
        rows.sort();
        assert_eq!(rows, RoomStatus::ALL, "one row per status");
        for (from, reportable) in DOCUMENTED {
            for to in RoomStatus::ALL {
                let checked = from.check_ping(to);
                let applied = room(from).apply_ping(&ping(to), now);
                if reportable.contains(&to) {
                    assert_eq!(checked, Ok(()), "{from} -> {to}");
                    let next = applied.unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                    assert_eq!(next.status, to);
                    assert_eq!(next.last_ping_at, Some(now));
                    assert_eq!(next.status_changed_at == now, from != to, "{from} -> {to}");
                } else {
                    let refusal = if matches!(to, Pending | Error) {
                        PingError::OrchestratorOnly
                    } else {
                        PingError::Transition { from, to }
                    };
                    assert_eq!(checked, Err(refusal.clone()), "{from} -> {to}");
                    assert_eq!(applied, Err(refusal), "{from} -> {to}");
                }
            }
            assert_eq!(from.ping_targets(), reportable, "{from}");
        }
    }

    #[test]
    fn refusals_name_both_statuses_and_what_is_allowed() {
        use RoomStatus::*;
        let refused = Terminating.check_ping(Ready).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the room is terminating and cannot report ready: \
             a terminating room may only report terminating or terminated"
        );
        assert_eq!(
            Terminated.check_ping(Occupied).unwrap_err().to_string(),
            "the room is terminated and cannot report occupied: \
             a terminated room may only report terminated"
        );
        assert_eq!(
            Ready.ping_targets(),
            [Unready, Ready, Occupied, Terminating, Terminated]
        );
        assert_eq!(Ready.check_ping(Error), Err(PingError::OrchestratorOnly));
        assert_eq!(Occupied.check_ping(Ready), Ok(()));
    }

    #[test]
    fn ping_body_accepts_maestro_timestamps() {
        let p: Ping =
            serde_json::from_str(r#"{"status":"ready","timestamp":"12312312313"}"#).unwrap();
        assert_eq!(p.timestamp, Some(12312312313));
        let p: Ping = serde_json::from_str(r#"{"status":"occupied","timestamp":5,"runningMatches":2,"metadata":{"map":"de_dust"}}"#).unwrap();
        assert_eq!(
            (p.status, p.running_matches),
            (RoomStatus::Occupied, Some(2))
        );
        assert!(serde_json::from_str::<Ping>(r#"{"status":"sleeping"}"#).is_err());
    }

    #[test]
    fn ping_applies_metadata_and_matches() {
        let now = DateTime::from_timestamp(2_000, 0).unwrap();
        let mut p = ping(RoomStatus::Occupied);
        p.running_matches = Some(3);
        p.metadata = Some(BTreeMap::from([("k".to_string(), serde_json::json!(1))]));
        let next = room(RoomStatus::Ready).apply_ping(&p, now).unwrap();
        assert_eq!(next.running_matches, 3);
        assert_eq!(next.metadata["k"], serde_json::json!(1));
    }
}
