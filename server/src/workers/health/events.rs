//! What the runtimes report about a scheduler's rooms, and tearing a deleted scheduler down.

use app::domain::room::RoomStatus;
use app::ports::{InstanceEvent, StoreError};
use futures::StreamExt;
use std::sync::Arc;

use super::HealthController;

impl HealthController {
    /// A deleted scheduler: stop every instance on every runtime and forget its rooms.
    pub(in crate::workers) async fn tear_down(&self, name: &str) {
        for runtime in self.runtimes.all() {
            if let Err(err) = runtime.runtime.remove_scheduler(name).await {
                tracing::warn!(scheduler = %name, region = %runtime.region, %err, "removing the scheduler from the runtime failed");
            }
        }
        match self.rooms.list(name).await {
            Ok(rooms) => {
                for room in rooms {
                    let _ = self.rooms.remove(name, &room.id).await;
                }
            }
            Err(err) => tracing::warn!(scheduler = %name, %err, "forgetting rooms failed"),
        }
        if let Err(err) = self.rooms.forget_counts(name).await {
            tracing::warn!(scheduler = %name, %err, "forgetting the room count history failed");
        }
        if let Err(err) = self.rooms.set_region_health(name, &[]).await {
            tracing::warn!(scheduler = %name, %err, "forgetting the region health failed");
        }
        if let Err(err) = self.autoscaler.forget(name).await {
            tracing::warn!(scheduler = %name, %err, "forgetting autoscaling history failed");
        }
        if let Some(machines) = &self.machines
            && let Err(err) = machines.forget(name).await
        {
            tracing::warn!(scheduler = %name, %err, "forgetting machine-scaling decisions failed");
        }
        tracing::info!(scheduler = %name, "scheduler torn down");
    }

    /// Applies the events of every runtime (room ids are unique across regions).
    pub(super) async fn follow_events(
        self: Arc<Self>,
        name: String,
        mut events: futures::stream::BoxStream<'static, InstanceEvent>,
    ) {
        while let Some(event) = events.next().await {
            let result = match &event {
                InstanceEvent::Crashed { room, reason, .. } => {
                    tracing::warn!(scheduler = %name, %room, %reason, "room instance crashed");
                    match self.rooms.get(&name, room).await {
                        Ok(r) if r.status != RoomStatus::Terminating => {
                            self.fail_room(&name, room, reason).await
                        }
                        _ => Ok(()),
                    }
                }
                InstanceEvent::AddressKnown { room, address, .. } => {
                    self.rooms.set_address(&name, room, address).await
                }
                InstanceEvent::Placed { room, machine, .. } => {
                    self.rooms.set_machine(&name, room, machine).await
                }
                InstanceEvent::Gone { room, .. } => self.rooms.remove(&name, room).await,
                InstanceEvent::Created { .. } | InstanceEvent::Running { .. } => Ok(()),
            };
            match result {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(err) => {
                    tracing::warn!(scheduler = %name, %err, ?event, "applying a runtime event failed")
                }
            }
        }
    }
}
