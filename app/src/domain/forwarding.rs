//! What Baton forwards to a scheduler's event forwarders (Maestro's forwarder protocol), and how
//! an event is built from a room and a forwarder's options. Pure: the adapters only carry these
//! events over gRPC or HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::room::{GameRoom, RoomStatus};
use super::scheduler::Forwarder;

/// The room as a forwarder receives it (Maestro's `Room` message).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardedRoom {
    pub game: String,
    pub room_id: String,
    pub host: String,
    /// The port named `clientPort`, else the first one, else 0 (as Maestro chooses).
    pub port: i32,
    /// The room's metadata with the forwarder's options metadata merged in (the options win);
    /// values that are not strings are sent as their JSON text.
    pub metadata: BTreeMap<String, String>,
    /// The forwarder's options metadata `roomType`, when it has one.
    pub room_type: String,
}

/// The statuses a forwarder is told of (Maestro's `RoomStatusType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ForwardedStatus {
    Ready,
    Occupied,
    Terminating,
    Terminated,
}

impl ForwardedStatus {
    /// The forwarded status of a room status; `None` for those forwarders are not told of
    /// (pending, unready, error).
    pub fn of(status: RoomStatus) -> Option<Self> {
        match status {
            RoomStatus::Ready => Some(Self::Ready),
            RoomStatus::Occupied => Some(Self::Occupied),
            RoomStatus::Terminating => Some(Self::Terminating),
            RoomStatus::Terminated => Some(Self::Terminated),
            RoomStatus::Pending | RoomStatus::Unready | RoomStatus::Error => None,
        }
    }
}

/// Maestro's two player events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlayerEventType {
    PlayerJoin,
    PlayerLeft,
}

impl PlayerEventType {
    /// `playerJoin` or `playerLeft`, the names rooms send (Maestro's); `None` otherwise.
    pub fn parse(event: &str) -> Option<Self> {
        match event {
            "playerJoin" => Some(Self::PlayerJoin),
            "playerLeft" => Some(Self::PlayerLeft),
            _ => None,
        }
    }
}

/// One event for one forwarder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ForwardedEvent {
    /// The room changed status (`resync: false`), or the periodic resync of its current status.
    #[serde(rename_all = "camelCase")]
    RoomStatus {
        room: ForwardedRoom,
        status: ForwardedStatus,
        resync: bool,
    },
    /// A room's own event (`POST .../roomevent`).
    #[serde(rename_all = "camelCase")]
    RoomEvent {
        room: ForwardedRoom,
        event_type: String,
        metadata: BTreeMap<String, String>,
    },
    /// A room's event about a player (`POST .../playerevent`).
    #[serde(rename_all = "camelCase")]
    PlayerEvent {
        room: ForwardedRoom,
        player_id: String,
        event_type: PlayerEventType,
        metadata: BTreeMap<String, String>,
    },
}

impl ForwardedEvent {
    /// The event's kind, for metrics and the HTTP forwarder's header.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RoomStatus { resync: false, .. } => "roomStatus",
            Self::RoomStatus { resync: true, .. } => "roomResync",
            Self::RoomEvent { .. } => "roomEvent",
            Self::PlayerEvent { .. } => "playerEvent",
        }
    }
}

/// A JSON value as a forwarded string: strings as they are, anything else as its JSON text.
pub fn metadata_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `metadata` as strings, with `forwarder`'s options metadata merged in (the options win).
pub fn merged_metadata(
    metadata: &BTreeMap<String, serde_json::Value>,
    forwarder: &Forwarder,
) -> BTreeMap<String, String> {
    metadata
        .iter()
        .chain(forwarder.options.metadata.iter())
        .map(|(key, value)| (key.clone(), metadata_text(value)))
        .collect()
}

/// The room as `forwarder` receives it.
pub fn forwarded_room(game: &str, room: &GameRoom, forwarder: &Forwarder) -> ForwardedRoom {
    let (host, port) = match &room.address {
        Some(address) => {
            let port = address
                .ports
                .iter()
                .find(|p| p.name == "clientPort")
                .or_else(|| address.ports.first())
                .map_or(0, |p| i32::from(p.port));
            (address.host.clone(), port)
        }
        None => (String::new(), 0),
    };
    let room_type = forwarder
        .options
        .metadata
        .get("roomType")
        .map(metadata_text)
        .unwrap_or_default();
    ForwardedRoom {
        game: game.to_string(),
        room_id: room.id.clone(),
        host,
        port,
        metadata: merged_metadata(&room.metadata, forwarder),
        room_type,
    }
}

/// Whether `forwarder` is one Baton forwards to: enabled and of a known type.
pub fn forwards(forwarder: &Forwarder) -> bool {
    forwarder.enable && ForwarderKind::of(forwarder).is_some()
}

/// The protocols Baton speaks to forwarders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForwarderKind {
    /// Maestro's `GRPCForwarder` service.
    Grpc,
    /// A signed JSON `POST` of each event.
    Http,
}

impl ForwarderKind {
    /// From the forwarder's `type` (`gRPC` or `http`, any case).
    pub fn of(forwarder: &Forwarder) -> Option<Self> {
        if forwarder.r#type.eq_ignore_ascii_case("grpc") {
            Some(Self::Grpc)
        } else if forwarder.r#type.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::room::{RoomAddress, RoomPort};
    use crate::domain::scheduler::ForwarderOptions;
    use chrono::Utc;
    use serde_json::json;

    fn forwarder(metadata: serde_json::Value) -> Forwarder {
        Forwarder {
            name: "mm".into(),
            enable: true,
            r#type: "gRPC".into(),
            address: "localhost:1".into(),
            options: ForwarderOptions {
                timeout: 1000,
                metadata: metadata.as_object().cloned().unwrap_or_default(),
                secret: None,
            },
        }
    }

    fn room() -> GameRoom {
        let now = Utc::now();
        GameRoom {
            id: "r1".into(),
            scheduler: "s".into(),
            version: "v1".into(),
            status: RoomStatus::Ready,
            status_reason: None,
            created_at: now,
            status_changed_at: now,
            last_ping_at: None,
            running_matches: 0,
            metadata: [
                ("map".to_string(), json!("dust")),
                ("n".to_string(), json!(3)),
            ]
            .into_iter()
            .collect(),
            address: Some(RoomAddress {
                host: "10.0.0.1".into(),
                ports: vec![
                    RoomPort {
                        name: "admin".into(),
                        protocol: "TCP".into(),
                        port: 9000,
                    },
                    RoomPort {
                        name: "clientPort".into(),
                        protocol: "UDP".into(),
                        port: 7777,
                    },
                ],
            }),
            region: String::new(),
            machine: String::new(),
        }
    }

    #[test]
    fn options_metadata_is_merged_over_the_rooms_and_gives_the_room_type() {
        let f = forwarder(json!({"roomType": "ranked", "map": "nuke", "tier": 2}));
        let forwarded = forwarded_room("game", &room(), &f);
        assert_eq!(forwarded.room_type, "ranked");
        assert_eq!(forwarded.metadata["map"], "nuke");
        assert_eq!(forwarded.metadata["n"], "3");
        assert_eq!(forwarded.metadata["tier"], "2");
        assert_eq!(forwarded.metadata["roomType"], "ranked");
        assert_eq!(forwarded.host, "10.0.0.1");
        assert_eq!(forwarded.port, 7777);
        assert_eq!(forwarded.game, "game");
        assert_eq!(forwarded.room_id, "r1");
    }

    #[test]
    fn without_address_or_room_type_the_fields_are_empty() {
        let mut r = room();
        r.address = None;
        let forwarded = forwarded_room("game", &r, &forwarder(json!({})));
        assert_eq!((forwarded.host.as_str(), forwarded.port), ("", 0));
        assert_eq!(forwarded.room_type, "");
    }

    #[test]
    fn the_first_port_when_none_is_the_client_port() {
        let mut r = room();
        if let Some(a) = r.address.as_mut() {
            a.ports.truncate(1);
        }
        assert_eq!(forwarded_room("g", &r, &forwarder(json!({}))).port, 9000);
    }

    #[test]
    fn only_the_four_statuses_are_forwarded() {
        let forwarded: Vec<_> = RoomStatus::ALL
            .into_iter()
            .filter_map(ForwardedStatus::of)
            .collect();
        assert_eq!(
            forwarded,
            [
                ForwardedStatus::Ready,
                ForwardedStatus::Occupied,
                ForwardedStatus::Terminating,
                ForwardedStatus::Terminated
            ]
        );
    }

    #[test]
    fn kinds_and_player_events() {
        let mut f = forwarder(json!({}));
        assert_eq!(ForwarderKind::of(&f), Some(ForwarderKind::Grpc));
        f.r#type = "HTTP".into();
        assert_eq!(ForwarderKind::of(&f), Some(ForwarderKind::Http));
        assert!(forwards(&f));
        f.enable = false;
        assert!(!forwards(&f));
        f.enable = true;
        f.r#type = "kafka".into();
        assert!(!forwards(&f));
        assert_eq!(
            PlayerEventType::parse("playerJoin"),
            Some(PlayerEventType::PlayerJoin)
        );
        assert_eq!(
            PlayerEventType::parse("playerLeft"),
            Some(PlayerEventType::PlayerLeft)
        );
        assert_eq!(PlayerEventType::parse("playerDanced"), None);
    }

    #[test]
    fn the_json_shape_names_the_kind() {
        let event = ForwardedEvent::PlayerEvent {
            room: ForwardedRoom::default(),
            player_id: "p1".into(),
            event_type: PlayerEventType::PlayerLeft,
            metadata: BTreeMap::new(),
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["kind"], "playerEvent");
        assert_eq!(value["playerId"], "p1");
        assert_eq!(value["eventType"], "playerLeft");
        assert_eq!(event.kind(), "playerEvent");
    }
}
