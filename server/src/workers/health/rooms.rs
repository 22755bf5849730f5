//! Creating a room on its region's runtime, and stopping one on the runtime it runs on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use app::domain::region::{regions_of, room_region};
use app::domain::room::{GameRoom, RoomStatus};
use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{Runtime, RuntimeError, StoreError};
use chrono::Utc;
use futures::StreamExt;
use rand::distr::{Alphanumeric, SampleString};

use super::{HealthController, TickError};

fn new_room_id(scheduler: &str) -> String {
    let suffix = Alphanumeric
        .sample_string(&mut rand::rng(), 6)
        .to_ascii_lowercase();
    format!("{scheduler}-{suffix}")
}

impl HealthController {
    /// Stopping waits for the grace period, so it never holds up the tick.
    pub(super) fn stop_on(runtime: &Arc<dyn Runtime>, scheduler: &Scheduler, room: &str) {
        let runtime = runtime.clone();
        let scheduler = scheduler.clone();
        let room = room.to_string();
        tokio::spawn(async move {
            if let Err(err) = runtime.delete_instance(&scheduler, &room).await {
                tracing::warn!(scheduler = %scheduler.config.name, %room, %err, "stopping a room failed");
            }
        });
    }

    /// Stops `room` in the background on the runtime of its region.
    pub(in crate::workers) fn stop_in_background(&self, scheduler: &Scheduler, room: &GameRoom) {
        match self.runtimes.of_room(room) {
            Some(runtime) => Self::stop_on(runtime, scheduler, &room.id),
            None => tracing::warn!(
                scheduler = %scheduler.config.name,
                room = %room.id,
                region = %room_region(room, self.runtimes.default_region()),
                "no runtime serves the room's region: it cannot be stopped"
            ),
        }
    }

    /// The region a room with no region of its own goes to (a validation room): the first
    /// region the scheduler lists whose runtime answered its last check.
    pub(in crate::workers) async fn first_region(&self, scheduler: &Scheduler) -> String {
        let health = self
            .rooms
            .region_health(&scheduler.config.name)
            .await
            .unwrap_or_default();
        let listed = regions_of(&scheduler.config.regions, self.runtimes.default_region());
        let served = |name: &str| self.runtimes.get(name).is_some();
        let reachable = |name: &str| !health.iter().any(|h| h.region == name && !h.reachable);
        listed
            .iter()
            .find(|r| served(&r.name) && reachable(&r.name))
            .or_else(|| listed.iter().find(|r| served(&r.name)))
            .map_or_else(
                || self.runtimes.default_region().to_string(),
                |r| r.name.clone(),
            )
    }

    /// Creates `count` rooms of `scheduler`'s version in `region`, as many at once as its
    /// runtime takes ([`Runtime::creations_at_once`]). After a failure no further creation
    /// starts; those under way finish, and the first failure is answered.
    pub(super) async fn create_rooms(
        &self,
        scheduler: &Scheduler,
        region: &str,
        runtime: &dyn Runtime,
        count: u32,
    ) -> Result<(), TickError> {
        let failed = AtomicBool::new(false);
        let results: Vec<Result<(), TickError>> = futures::stream::iter(0..count)
            .map(|_| async {
                if failed.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let created = self.create_room(scheduler, region).await.map(|_| ());
                if created.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                created
            })
            .buffer_unordered(runtime.creations_at_once().max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Creates one room of `scheduler`'s version in `region`; answers its id. A room the
    /// runtime has no capacity for stays, pending with the reason, and waits; one the runtime
    /// refuses stays in error with the reason, and the error is answered (see `start_room`).
    pub(in crate::workers) async fn create_room(
        &self,
        scheduler: &Scheduler,
        region: &str,
    ) -> Result<String, TickError> {
        let runtime = self
            .runtimes
            .get(region)
            .ok_or_else(|| RuntimeError::Rejected(format!("no runtime serves region {region}")))?;
        let name = &scheduler.config.name;
        let id = new_room_id(name);
        let now = Utc::now();
        let room = GameRoom {
            id: id.clone(),
            scheduler: name.clone(),
            version: scheduler.version.clone(),
            status: RoomStatus::Pending,
            status_reason: None,
            created_at: now,
            status_changed_at: now,
            last_ping_at: None,
            running_matches: 0,
            metadata: Default::default(),
            address: None,
            region: region.to_string(),
            machine: String::new(),
        };
        self.rooms.insert(&room).await?;
        self.start_room(scheduler, runtime, &id, region, None)
            .await?;
        Ok(id)
    }

    /// Turns a room to error, saying why (a crash, or an instance that could not start), for
    /// the dashboard and the API to show.
    pub(in crate::workers) async fn fail_room(
        &self,
        scheduler: &str,
        id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        // The reason first: whoever reads the room in error reads why.
        let now = Utc::now();
        self.rooms
            .set_status_reason(scheduler, id, Some(reason), now)
            .await?;
        self.rooms
            .set_status(scheduler, id, RoomStatus::Error, now)
            .await
    }

    /// Starts the instance of the stored room `id`. Refused otherwise, the room turns to error
    /// with the runtime's reason, and the error is answered. Without capacity (`NoCapacity`), the room
    /// stays pending with the reason (stored when it changes from `waiting`, the reason it had)
    /// and `Ok` is answered: a later tick starts it. Once started, a waiting room loses its
    /// reason and its initialization timeout starts from now.
    pub(in crate::workers) async fn start_room(
        &self,
        scheduler: &Scheduler,
        runtime: &Arc<dyn Runtime>,
        id: &str,
        region: &str,
        waiting: Option<&str>,
    ) -> Result<(), TickError> {
        let name = &scheduler.config.name;
        let env = [
            EnvironmentVariable::plain("MAESTRO_SCHEDULER_NAME", name.clone()),
            EnvironmentVariable::plain("MAESTRO_ROOM_ID", id.to_string()),
            EnvironmentVariable::plain("BATON_API_URL", self.api_url.clone()),
            EnvironmentVariable::secret("BATON_ROOM_TOKEN", self.tokens.issue(name, id)),
        ];
        match runtime.create_instance(scheduler, id, &env).await {
            Ok(instance) => {
                if let Some(address) = &instance.address {
                    self.rooms.set_address(name, id, address).await?;
                }
                if let Some(machine) = &instance.machine {
                    self.rooms.set_machine(name, id, machine).await?;
                }
                if waiting.is_some() {
                    self.rooms
                        .set_status_reason(name, id, None, Utc::now())
                        .await?;
                }
                tracing::info!(scheduler = %name, room = %id, %region, "room created");
                Ok(())
            }
            Err(RuntimeError::NoCapacity(reason)) => {
                if waiting != Some(reason.as_str()) {
                    tracing::info!(scheduler = %name, room = %id, %region, %reason,
                        "room waits for capacity");
                    self.rooms
                        .set_status_reason(name, id, Some(&reason), Utc::now())
                        .await?;
                }
                Ok(())
            }
            Err(err) => {
                // The room stays, in error with the reason, until the next tick replaces it.
                let reason = err.to_string();
                tracing::warn!(scheduler = %name, room = %id, %region, %reason, "room failed to start");
                self.fail_room(name, id, &reason).await?;
                Err(err.into())
            }
        }
    }
}
