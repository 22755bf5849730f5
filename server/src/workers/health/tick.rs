//! One reconciliation of one scheduler. The autoscaler decides the total from all its rooms;
//! `region::split` shares it over the regions whose runtime answered; each reachable region's
//! rooms are then planned against that region's instances and share. A region whose runtime
//! does not answer is left alone (no removal, no error marking): its share goes to the others
//! and its outage is stored for the API (`RoomStore::set_region_health`).

use std::borrow::Cow;
use std::sync::Arc;

use app::domain::allocation;
use app::domain::health::{
    CrashStreak, HealthInput, HealthPlan, StateInput, plan, scheduler_state,
};
use app::domain::quantity::MaxSurge;
use app::domain::region::{RegionHealth, regions_of, room_region, split, worth_storing};
use app::domain::room::{GameRoom, RoomCounts, RoomStatus};
use app::domain::scheduler::Scheduler;
use app::ports::{RoomInstance, Runtime};
use chrono::Utc;

use super::{HealthController, TickError, timeouts_of};

/// What the health controller remembers of a scheduler between ticks while it holds the
/// scheduler's lease; started afresh when it takes the lease (an earlier leader's view is not
/// its to trust).
#[derive(Debug, Default)]
pub struct TickMemory {
    pub streak: CrashStreak,
    /// The region health the store holds, as this controller last stored or read it (`None`:
    /// not known, read it).
    regions: Option<Vec<RegionHealth>>,
}

/// What one region's runtime answered this tick.
struct Looked {
    region: String,
    /// The runtime's instances, or why there are none to trust.
    instances: Result<(Arc<dyn Runtime>, Vec<RoomInstance>), String>,
}

fn merge(into: &mut HealthPlan, plan: HealthPlan) {
    into.create += plan.create;
    into.remove.extend(plan.remove);
    into.forget.extend(plan.forget);
    into.orphans.extend(plan.orphans);
    into.start.extend(plan.start);
}

impl HealthController {
    /// Every region to reconcile (those the scheduler lists, then those its rooms are in),
    /// each with its runtime's instances, asked of all runtimes at once.
    async fn look(&self, scheduler: &Scheduler, rooms: &[GameRoom]) -> Vec<Looked> {
        let name = &scheduler.config.name;
        let default_region = self.runtimes.default_region();
        let mut regions: Vec<String> = regions_of(&scheduler.config.regions, default_region)
            .into_iter()
            .map(|r| r.name)
            .collect();
        for room in rooms {
            let region = room_region(room, default_region);
            if !regions.iter().any(|r| r == region) {
                regions.push(region.to_string());
            }
        }
        futures::future::join_all(regions.into_iter().map(|region| async move {
            let instances = match self.runtimes.get(&region) {
                None => Err(format!("no runtime serves region {region}")),
                Some(runtime) => runtime
                    .instances(name)
                    .await
                    .map(|found| (runtime.clone(), found))
                    .map_err(|err| err.to_string()),
            };
            Looked { region, instances }
        }))
        .await
    }

    /// One reconciliation of one scheduler; `memory` is what the previous ticks left (what
    /// they saw crash, the region health stored) and `keep` the rooms an operation owns. The
    /// scheduler's task calls it every tick; it is public so that the benchmarks measure the
    /// tick itself (`benches/health_tick.rs`).
    pub async fn tick_once(
        &self,
        name: &str,
        memory: &mut TickMemory,
        keep: &[String],
    ) -> Result<HealthPlan, TickError> {
        let scheduler = self.schedulers.active(name).await?;
        let timeouts = timeouts_of(&scheduler);
        // Taken before the rooms are read: a room whose last ping the listing only bounds
        // (`RoomStore::list_for_tick`) pinged at `now - timeouts.ping` or later, in time.
        let now = Utc::now();
        let mut rooms = self.rooms.list_for_tick(name, now - timeouts.ping).await?;
        let looked = self.look(&scheduler, &rooms).await;
        let default_region = self.runtimes.default_region().to_string();
        // Instances that failed turn their rooms to error, with the runtime's reason, so the
        // plan replaces them.
        for (_, instances) in looked.iter().filter_map(|l| l.instances.as_ref().ok()) {
            for instance in instances.iter() {
                let Some(reason) = &instance.crashed else {
                    continue;
                };
                if let Some(i) = rooms.iter().position(|r| {
                    r.id == instance.room
                        && !matches!(r.status, RoomStatus::Error | RoomStatus::Terminating)
                }) {
                    self.fail_room(name, &rooms[i].id, reason).await?;
                    // The listing is shared with the store: copied on this first change.
                    let room = &mut Arc::make_mut(&mut rooms)[i];
                    room.status = RoomStatus::Error;
                    room.status_reason = Some(reason.clone());
                }
            }
        }
        let mut counts = RoomCounts::default();
        for room in rooms.iter() {
            counts.add(room.status);
        }
        // Independent reads and writes, at once: the count history, the claims (the sweeper:
        // claims their rooms did not confirm in time free their capacity) and, unless this
        // controller knows it, the region health stored.
        let (recorded, swept, previous) = futures::join!(
            self.rooms.record_counts(name, counts, now),
            self.rooms.sweep_claims(name, now),
            async {
                match memory.regions.take() {
                    Some(known) => Ok(known),
                    None => self.rooms.region_health(name).await,
                }
            },
        );
        // The history is for people watching: a failed record does not stop the tick.
        if let Err(err) = recorded {
            tracing::warn!(scheduler = %name, %err, "recording room counts failed");
        }
        let swept = swept?;
        if !swept.expired.is_empty() {
            tracing::info!(scheduler = %name, count = swept.expired.len(), "allocation claims expired")
        }
        let claims = swept.open;
        let claimed: Vec<String> = claims.iter().map(|claim| claim.room.clone()).collect();
        // The autoscaler counts open claims as running matches, over every region's rooms.
        let max = allocation::max_matches(&scheduler.config.match_allocation);
        let counted = allocation::with_claims(&rooms, &claims, max);
        let desired = self.autoscaler.desired(&scheduler, &counted).await?;
        self.metrics.rooms.record(&scheduler, &rooms, desired);
        let listed = regions_of(&scheduler.config.regions, &default_region);
        let reachable: Vec<bool> = listed
            .iter()
            .map(|r| {
                looked
                    .iter()
                    .any(|l| l.region == r.name && l.instances.is_ok())
            })
            .collect();
        let shares = split(desired, &listed, &reachable);
        let share_of = |region: &str| {
            listed
                .iter()
                .position(|r| r.name == region)
                .map_or(0, |i| shares[i])
        };
        let (previous, known) = match previous {
            Ok(previous) => (previous, true),
            Err(err) => {
                tracing::warn!(scheduler = %name, %err, "reading the region health failed");
                (Vec::new(), false)
            }
        };
        let grace = scheduler
            .config
            .spec
            .termination_grace_period
            .seconds()
            .unwrap_or(30);
        let mut merged = HealthPlan::default();
        let mut health = Vec::new();
        let mut failed = None;
        for Looked { region, instances } in looked {
            let before = previous.iter().find(|h| h.region == region);
            let (runtime, instances) = match instances {
                Err(error) => {
                    if before.is_none_or(|h| h.reachable) {
                        tracing::warn!(scheduler = %name, %region, %error,
                            "region unreachable: its rooms are left alone and the other regions take its share");
                    }
                    health.push(RegionHealth::after(before, &region, Err(error), 0, now));
                    continue;
                }
                Ok(found) => found,
            };
            if before.is_some_and(|h| !h.reachable) {
                tracing::info!(scheduler = %name, %region, "region reachable again");
            }
            let share = share_of(&region);
            health.push(RegionHealth::after(before, &region, Ok(()), share, now));
            let in_region = |r: &GameRoom| room_region(r, &default_region) == region;
            let here: Cow<[GameRoom]> = if rooms.iter().all(in_region) {
                Cow::Borrowed(rooms.as_slice())
            } else {
                Cow::Owned(rooms.iter().filter(|r| in_region(r)).cloned().collect())
            };
            let instance_ids: Vec<String> = instances.iter().map(|i| i.room.clone()).collect();
            let decided = plan(&HealthInput {
                desired: share,
                max_surge: MaxSurge::parse(&scheduler.config.max_surge)
                    .unwrap_or(MaxSurge::Percent(10)),
                active_version: &scheduler.version,
                rooms: &here,
                instances: &instance_ids,
                now,
                timeouts,
                grace_period: chrono::Duration::seconds(grace as i64),
                keep,
                claimed: &claimed,
            });
            let done = self
                .carry_out(
                    &scheduler,
                    &region,
                    &runtime,
                    &decided,
                    &instance_ids,
                    &here,
                )
                .await;
            merge(&mut merged, decided);
            if let Err(err) = done {
                tracing::warn!(scheduler = %name, %region, %err, "carrying out the region's plan failed");
                failed.get_or_insert(err);
            }
        }
        // A steady tick stores nothing (`region::worth_storing`); what the store holds is
        // remembered, and forgotten when storing failed.
        if !worth_storing(known.then_some(previous.as_slice()), &health, now) {
            memory.regions = Some(previous);
        } else if let Err(err) = self.rooms.set_region_health(name, &health).await {
            tracing::warn!(scheduler = %name, %err, "storing the region health failed");
        } else {
            memory.regions = Some(health);
        }
        if let Some(err) = failed {
            return Err(err);
        }
        let (state, seen) = scheduler_state(&StateInput {
            stored: scheduler.state,
            streak: &memory.streak,
            active_version: &scheduler.version,
            rooms: &rooms,
            plan: &merged,
        });
        memory.streak = seen;
        if state != scheduler.state {
            self.schedulers.set_state(name, state).await?;
        }
        Ok(merged)
    }

    /// Carries out one region's plan on that region's runtime.
    async fn carry_out(
        &self,
        scheduler: &Scheduler,
        region: &str,
        runtime: &Arc<dyn Runtime>,
        decided: &HealthPlan,
        instances: &[String],
        rooms: &[GameRoom],
    ) -> Result<(), TickError> {
        let name = &scheduler.config.name;
        for room in &decided.forget {
            self.rooms.remove(name, room).await?;
            if instances.contains(room) {
                Self::stop_on(runtime, scheduler, room);
            }
        }
        for room in &decided.orphans {
            tracing::info!(scheduler = %name, %room, %region, "stopping an instance with no room");
            Self::stop_on(runtime, scheduler, room);
        }
        for removal in &decided.remove {
            tracing::info!(scheduler = %name, room = %removal.room, %region, reason = ?removal.reason, "removing room");
            self.rooms
                .set_status(name, &removal.room, RoomStatus::Terminating, Utc::now())
                .await?;
            Self::stop_on(runtime, scheduler, &removal.room);
        }
        for id in &decided.start {
            let waiting = rooms.iter().find(|room| &room.id == id);
            let reason = waiting.and_then(|room| room.status_reason.as_deref());
            // Not a lack of capacity: the room is in error with the reason (`start_room`), the
            // next tick replaces it.
            self.start_room(scheduler, runtime, id, region, reason)
                .await?;
        }
        self.create_rooms(scheduler, region, runtime.as_ref(), decided.create)
            .await
    }
}
