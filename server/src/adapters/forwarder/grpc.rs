//! `GrpcForwarder`: Maestro's `eventforwarder.GRPCForwarder` service over tonic.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use app::domain::forwarding::{ForwardedEvent, ForwardedRoom, ForwardedStatus, PlayerEventType};
use app::ports::{ForwardError, Forwarder};
use async_trait::async_trait;
use tonic::transport::{Channel, Endpoint};

use super::proto;
use super::proto::grpc_forwarder_client::GrpcForwarderClient;

/// One forwarder's connection. The channel connects lazily; after any failure (broken
/// connection, deadline passed, refused) the next event gets a new channel, so a peer that
/// restarted, or a connection that broke without a word, is reconnected at once instead of
/// being waited on. HTTP/2 keepalive pings find silent breaks between events.
pub struct GrpcForwarder {
    endpoint: Endpoint,
    timeout: Duration,
    client: tokio::sync::Mutex<Option<GrpcForwarderClient<Channel>>>,
}

impl GrpcForwarder {
    /// `address`: `host:port` (Maestro's form) or an `http://` URL; `timeout`: each call's
    /// deadline (sent to the receiver as `grpc-timeout`).
    pub fn new(address: &str, timeout: Duration) -> Result<Self, ForwardError> {
        let uri = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| ForwardError::Unreachable(format!("bad address {address}: {e}")))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(timeout.max(Duration::from_secs(1)))
            .keep_alive_while_idle(true);
        Ok(Self {
            endpoint,
            timeout,
            client: tokio::sync::Mutex::new(None),
        })
    }

    async fn client(&self) -> GrpcForwarderClient<Channel> {
        let mut client = self.client.lock().await;
        client
            .get_or_insert_with(|| GrpcForwarderClient::new(self.endpoint.connect_lazy()))
            .clone()
    }

    async fn reconnect_next_time(&self) {
        *self.client.lock().await = None;
    }

    async fn call(
        &self,
        event: &ForwardedEvent,
    ) -> Result<tonic::Response<proto::Response>, tonic::Status> {
        let mut client = self.client().await;
        match event {
            ForwardedEvent::RoomStatus {
                room,
                status,
                resync,
            } => {
                let message = proto::RoomStatus {
                    room: Some(room_message(room)),
                    status_type: status_type(*status) as i32,
                };
                let mut request = tonic::Request::new(message);
                request.set_timeout(self.timeout);
                if *resync {
                    client.send_room_resync(request).await
                } else {
                    client.send_room_status(request).await
                }
            }
            ForwardedEvent::RoomEvent {
                room,
                event_type,
                metadata,
            } => {
                let mut request = tonic::Request::new(proto::RoomEvent {
                    room: Some(room_message(room)),
                    event_type: event_type.clone(),
                    metadata: map(metadata),
                });
                request.set_timeout(self.timeout);
                client.send_room_event(request).await
            }
            ForwardedEvent::PlayerEvent {
                room,
                player_id,
                event_type,
                metadata,
            } => {
                let kind = match event_type {
                    PlayerEventType::PlayerJoin => {
                        proto::player_event::PlayerEventType::PlayerJoined
                    }
                    PlayerEventType::PlayerLeft => proto::player_event::PlayerEventType::PlayerLeft,
                };
                let mut request = tonic::Request::new(proto::PlayerEvent {
                    player_id: player_id.clone(),
                    room: Some(room_message(room)),
                    event_type: kind as i32,
                    metadata: map(metadata),
                });
                request.set_timeout(self.timeout);
                client.send_player_event(request).await
            }
        }
    }
}

fn map(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn room_message(room: &ForwardedRoom) -> proto::Room {
    proto::Room {
        game: room.game.clone(),
        room_id: room.room_id.clone(),
        host: room.host.clone(),
        port: room.port,
        metadata: map(&room.metadata),
        room_type: room.room_type.clone(),
    }
}

fn status_type(status: ForwardedStatus) -> proto::room_status::RoomStatusType {
    use proto::room_status::RoomStatusType;
    match status {
        ForwardedStatus::Ready => RoomStatusType::Ready,
        ForwardedStatus::Occupied => RoomStatusType::Occupied,
        ForwardedStatus::Terminating => RoomStatusType::Terminating,
        ForwardedStatus::Terminated => RoomStatusType::Terminated,
    }
}

#[async_trait]
impl Forwarder for GrpcForwarder {
    async fn send(&self, event: &ForwardedEvent) -> Result<(), ForwardError> {
        let answer = tokio::time::timeout(self.timeout, self.call(event)).await;
        let result = match answer {
            Err(_) => Err(ForwardError::Unreachable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
            Ok(Err(status)) => Err(ForwardError::Unreachable(format!(
                "{:?}: {}",
                status.code(),
                status.message()
            ))),
            // Maestro's receivers answer code 200 when they took the event.
            Ok(Ok(answer)) if answer.get_ref().code == 200 => Ok(()),
            Ok(Ok(answer)) => Err(ForwardError::Refused(format!(
                "code {}: {}",
                answer.get_ref().code,
                answer.get_ref().message
            ))),
        };
        if result.is_err() {
            self.reconnect_next_time().await;
        }
        result
    }
}
