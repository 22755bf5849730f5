//! Schedulers: reading them as a user may, and creating, changing, switching and deleting them.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::active::ActiveSchedulers;
use super::audit::{AuditTrail, version_value};
use super::{Change, ServiceError};
use crate::domain::access::{self, HostCommands};
use crate::domain::audit::{self, AuditAction};
use crate::domain::autoscaling::{Autoscaling, Decision};
use crate::domain::history::{self, RoomCountSample, Tier};
use crate::domain::operation::OperationDefinition;
use crate::domain::region::{DEFAULT_REGION, RegionView, region_views, room_region};
use crate::domain::room::{GameRoom, RoomCounts};
use crate::domain::scheduler::{Scheduler, SchedulerConfig, SchedulerVersion};
use crate::domain::user::User;
use crate::domain::validation::FieldError;
use crate::domain::version::{needs_new_rooms, next_version};
use crate::ports::{
    AutoscalerStore, OperationStore, RoomStore, SchedulerCache, SchedulerFilter, SchedulerStore,
    StoreError, Wake,
};

/// The scheduler use cases over their ports.
pub struct SchedulerService {
    pub schedulers: Arc<dyn SchedulerStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub autoscaling: Arc<dyn AutoscalerStore>,
    /// The durable queue every change goes through.
    pub operations: Arc<dyn OperationStore>,
    /// Where rooms run, for the host-command rule.
    pub host: HostCommands,
    /// What remembers schedulers in this process (e.g. which accept tokenless pings): told
    /// of every change made here.
    pub caches: Vec<Arc<dyn SchedulerCache>>,
    /// The active schedulers as allocation reads them; one of `caches` (so it forgets a
    /// scheduler changed here), and told of other replicas' changes like them.
    pub active: Arc<ActiveSchedulers>,
    /// The operations runner of this process, told of new work at once.
    pub wake: Option<Arc<dyn Wake>>,
    /// The regions this Baton's runtimes serve, the default runtime's first (configuration).
    pub regions: Vec<String>,
    /// Where every change is recorded: who, what, when, before and after.
    pub audit: Arc<AuditTrail>,
}

type Result<T> = std::result::Result<T, ServiceError>;

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("scheduler {name} not found"))
}

impl SchedulerService {
    /// The stored scheduler, if `user` may read its game (else `NotFound`, as if it did not
    /// exist), unredacted: for internal use before a check or a change.
    pub(super) async fn readable(
        &self,
        user: &User,
        name: &str,
        version: Option<&str>,
    ) -> Result<Scheduler> {
        match self.schedulers.get(name, version).await {
            Ok(scheduler) if access::can_read(user, &scheduler.config.game) => Ok(scheduler),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(not_found(name)),
            Err(other) => Err(other.into()),
        }
    }

    /// [`Self::readable`]'s active version, from the [`ActiveSchedulers`] this process
    /// remembers (for paths that read it on every call).
    pub(super) async fn readable_active(&self, user: &User, name: &str) -> Result<Arc<Scheduler>> {
        match self.active.get(name, self.schedulers.as_ref()).await {
            Ok(scheduler) if access::can_read(user, &scheduler.config.game) => Ok(scheduler),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(not_found(name)),
            Err(other) => Err(other.into()),
        }
    }

    pub(super) fn shown(user: &User, mut scheduler: Scheduler) -> Scheduler {
        scheduler.config = access::visible_config(user, scheduler.config);
        scheduler
    }

    fn changed(&self, name: &str) {
        for cache in &self.caches {
            cache.forget(name);
        }
    }

    /// Whether `user` may create or change schedulers of `game` here.
    pub fn can_configure(&self, user: &User, game: &str) -> bool {
        access::may_configure(user, game, &self.host).is_ok()
    }

    /// The schedulers `user` may read, as they may see them.
    pub async fn list(&self, user: &User, filter: &SchedulerFilter) -> Result<Vec<Scheduler>> {
        Ok(self
            .schedulers
            .list(filter)
            .await?
            .into_iter()
            .filter(|s| access::can_read(user, &s.config.game))
            .map(|s| Self::shown(user, s))
            .collect())
    }

    /// The readable schedulers (of `game`, if given) with their live room counts.
    pub async fn info(
        &self,
        user: &User,
        game: Option<String>,
    ) -> Result<Vec<(Scheduler, RoomCounts)>> {
        let filter = SchedulerFilter { name: None, game };
        let schedulers = self.list(user, &filter).await?;
        let counts = futures::future::try_join_all(
            schedulers.iter().map(|s| self.rooms.counts(&s.config.name)),
        )
        .await?;
        Ok(schedulers.into_iter().zip(counts).collect())
    }

    /// [`SchedulerService::info`] with each scheduler's regions (their rooms and health).
    pub async fn info_by_region(
        &self,
        user: &User,
        game: Option<String>,
    ) -> Result<Vec<(Scheduler, RoomCounts, Vec<RegionView>)>> {
        let infos = self.info(user, game).await?;
        let regions = futures::future::try_join_all(infos.iter().map(|(s, _)| async move {
            let name = &s.config.name;
            let rooms = self.rooms.list(name).await?;
            let health = self.rooms.region_health(name).await?;
            Ok::<_, StoreError>(region_views(
                &s.config.regions,
                self.default_region(),
                &rooms,
                &health,
            ))
        }))
        .await?;
        Ok(infos
            .into_iter()
            .zip(regions)
            .map(|((s, counts), regions)| (s, counts, regions))
            .collect())
    }

    /// One scheduler: its active version, or `version`.
    pub async fn get(&self, user: &User, name: &str, version: Option<&str>) -> Result<Scheduler> {
        let scheduler = self.readable(user, name, version).await?;
        Ok(Self::shown(user, scheduler))
    }

    /// The configuration to edit: only for those who may change it, with every value.
    pub async fn for_edit(&self, user: &User, name: &str) -> Result<SchedulerConfig> {
        let scheduler = self.readable(user, name, None).await?;
        access::may_configure(user, &scheduler.config.game, &self.host)?;
        Ok(scheduler.config)
    }

    pub async fn versions(&self, user: &User, name: &str) -> Result<Vec<SchedulerVersion>> {
        self.readable(user, name, None).await?;
        Ok(self.schedulers.versions(name).await?)
    }

    /// The scheduler's rooms, oldest first.
    pub async fn rooms(&self, user: &User, name: &str) -> Result<Vec<GameRoom>> {
        self.readable(user, name, None).await?;
        let mut rooms = self.rooms.list(name).await?;
        rooms.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rooms)
    }

    /// The region of the default runtime (that of rooms stored before regions).
    pub fn default_region(&self) -> &str {
        self.regions.first().map_or(DEFAULT_REGION, String::as_str)
    }

    /// The scheduler's rooms in `region` (or all), oldest first; a room stored before regions
    /// is in the default runtime's region, and is answered with it.
    pub async fn rooms_in(
        &self,
        user: &User,
        name: &str,
        region: Option<&str>,
    ) -> Result<Vec<GameRoom>> {
        let mut rooms = self.rooms(user, name).await?;
        let default_region = self.default_region().to_string();
        for room in &mut rooms {
            room.region = room_region(room, &default_region).to_string();
        }
        if let Some(region) = region {
            rooms.retain(|room| room.region == region);
        }
        Ok(rooms)
    }

    /// Each region of the scheduler: listed or not, reachable or not (as its controller last
    /// found it), its share and its rooms.
    pub async fn regions(&self, user: &User, name: &str) -> Result<Vec<RegionView>> {
        let scheduler = self.readable(user, name, None).await?;
        let rooms = self.rooms.list(name).await?;
        let health = self.rooms.region_health(name).await?;
        Ok(region_views(
            &scheduler.config.regions,
            self.default_region(),
            &rooms,
            &health,
        ))
    }

    /// Every region `config` lists is served by a runtime of this Baton.
    fn check_regions(&self, config: &SchedulerConfig) -> Result<()> {
        if self.regions.is_empty() {
            return Ok(());
        }
        let unknown: Vec<FieldError> = config
            .regions
            .iter()
            .enumerate()
            .filter(|(_, region)| !self.regions.contains(&region.name))
            .map(|(i, region)| FieldError {
                field: format!("regions[{i}].name"),
                message: format!(
                    "no runtime serves region {}; known regions: {}",
                    region.name,
                    self.regions.join(", ")
                ),
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(unknown))
        }
    }

    /// One room of a readable scheduler.
    pub async fn room(&self, user: &User, scheduler: &str, room: &str) -> Result<GameRoom> {
        self.readable(user, scheduler, None).await?;
        Ok(self.rooms.get(scheduler, room).await?)
    }

    /// The latest autoscaling decisions, newest first.
    pub async fn decisions(&self, user: &User, name: &str, limit: usize) -> Result<Vec<Decision>> {
        self.readable(user, name, None).await?;
        Ok(self.autoscaling.decisions(name, limit).await?)
    }

    /// Room counts over `window` before `now`, at most `points` samples.
    pub async fn history(
        &self,
        user: &User,
        name: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        points: usize,
    ) -> Result<Vec<RoomCountSample>> {
        self.readable(user, name, None).await?;
        let samples = self
            .rooms
            .count_history(name, Tier::for_span(window), now - window)
            .await?;
        Ok(history::window(&samples, now, window, points))
    }

    /// Creates a scheduler at `v1`: readable at once; its rooms follow as an operation.
    pub async fn create(&self, user: &User, config: SchedulerConfig) -> Result<Change> {
        access::may_configure(user, &config.game, &self.host)?;
        config.validate().map_err(ServiceError::Invalid)?;
        self.check_regions(&config)?;
        let scheduler = self.schedulers.create(&config).await?;
        // Operations of an earlier scheduler of this name are no longer anyone's.
        self.operations.forget(&config.name).await?;
        self.changed(&config.name);
        tracing::info!(scheduler = %config.name, game = %config.game, user = %user.username, "scheduler created");
        let operation = self
            .queue(user, &config.name, OperationDefinition::CreateScheduler)
            .await?;
        let summary = format!(
            "{} created scheduler {} of game {}",
            user.username, config.name, config.game
        );
        self.audit
            .record(
                AuditTrail::entry(user, AuditAction::SchedulerCreated, summary)
                    .of_scheduler(&config.game, &config.name)
                    .with(None, Some(audit::snapshot(&config))),
            )
            .await;
        Ok(Change {
            scheduler: Self::shown(user, scheduler),
            operation: Some(operation),
        })
    }

    /// Stores `config` as the next version of scheduler `name`, for an operation to make active:
    /// a minor version (nothing in the rooms changes) at its first step; a major one once one
    /// room of it turned ready, and then it replaces the rooms. The active configuration again
    /// changes nothing. An empty `config.name` means `name`.
    pub async fn save_version(
        &self,
        user: &User,
        name: &str,
        mut config: SchedulerConfig,
    ) -> Result<Change> {
        let current = self.readable(user, name, None).await?;
        if config.name.is_empty() {
            config.name = name.to_string();
        }
        if config.name != current.config.name {
            return Err(ServiceError::invalid(
                "name",
                "must match the scheduler in the path",
            ));
        }
        access::may_configure(user, &current.config.game, &self.host)?;
        if config.game != current.config.game {
            return Err(ServiceError::invalid(
                "game",
                "cannot change; create a new scheduler instead",
            ));
        }
        config.validate().map_err(ServiceError::Invalid)?;
        if config == current.config {
            return Ok(Change {
                scheduler: Self::shown(user, current),
                operation: None,
            });
        }
        self.check_regions(&config)?;
        let existing: Vec<String> = self
            .schedulers
            .versions(name)
            .await?
            .into_iter()
            .map(|v| v.version)
            .collect();
        let version = next_version(&current.version, &current.config, &config, &existing);
        let definition = OperationDefinition::NewVersion {
            version: version.clone(),
            previous: current.version.clone(),
            major: needs_new_rooms(&current.config, &config),
        };
        self.check_queue(name, &definition).await?;
        // Stored inactive; the operation makes it active (a minor one at its first step).
        self.schedulers.store_version(&config, &version).await?;
        let operation = match self.queue(user, name, definition).await {
            Ok(operation) => operation,
            Err(refused) => {
                // Another change was queued meanwhile: this version is nobody's.
                self.schedulers.remove_version(name, &version).await?;
                return Err(refused);
            }
        };
        tracing::info!(scheduler = %name, %version, user = %user.username, "scheduler version stored");
        let (action, summary) = if audit::only_autoscaling_changed(&current.config, &config) {
            let summary = format!(
                "{} changed the autoscaling of scheduler {name} (version {version})",
                user.username
            );
            (AuditAction::AutoscalingChanged, summary)
        } else {
            let summary = format!(
                "{} stored version {version} of scheduler {name} (after {})",
                user.username, current.version
            );
            (AuditAction::NewVersion, summary)
        };
        let (before, after) = audit::snapshots(&current.config, &config);
        self.audit
            .record(
                AuditTrail::entry(user, action, summary)
                    .of_scheduler(&current.config.game, name)
                    .with(Some(before), Some(after)),
            )
            .await;
        Ok(Change {
            scheduler: Self::shown(user, current),
            operation: Some(operation),
        })
    }

    /// Stores the active version with `autoscaling` in place of its own (none: autoscaling off)
    /// as the next version; the rest of the scheduler is read here, so a change made meanwhile
    /// elsewhere is kept.
    pub async fn set_autoscaling(
        &self,
        user: &User,
        name: &str,
        autoscaling: Option<Autoscaling>,
    ) -> Result<Change> {
        let mut config = self.for_edit(user, name).await?;
        config.autoscaling = autoscaling;
        self.save_version(user, name, config).await
    }

    /// Changes some fields of the active version (a JSON merge patch, RFC 7386); the result is
    /// saved as the next version. `parse` reads the merged document (it reports bad fields).
    pub async fn patch(
        &self,
        user: &User,
        name: &str,
        patch: serde_json::Value,
        parse: impl FnOnce(&serde_json::Value) -> Result<SchedulerConfig>,
    ) -> Result<Change> {
        if !patch.is_object() {
            return Err(ServiceError::invalid("body", "must be a JSON object"));
        }
        let current = self.readable(user, name, None).await?;
        access::may_configure(user, &current.config.game, &self.host)?;
        let mut merged = serde_json::to_value(&current.config)
            .map_err(|e| ServiceError::Backend(e.to_string()))?;
        crate::domain::merge_patch::merge_patch(&mut merged, patch);
        let config = parse(&merged)?;
        self.save_version(user, name, config).await
    }

    /// Makes another existing version active (a rollback or roll-forward), as an operation.
    pub async fn switch_version(&self, user: &User, name: &str, version: &str) -> Result<Change> {
        if version.trim().is_empty() {
            return Err(ServiceError::invalid("version", "is required"));
        }
        let current = self.readable(user, name, None).await?;
        access::may_configure(user, &current.config.game, &self.host)?;
        if current.version == version {
            return Ok(Change {
                scheduler: Self::shown(user, current),
                operation: None,
            });
        }
        let versions = self.schedulers.versions(name).await?;
        if !versions.iter().any(|v| v.version == version) {
            return Err(ServiceError::NotFound(format!(
                "version {version} of scheduler {name} not found"
            )));
        }
        let definition = OperationDefinition::SwitchActiveVersion {
            version: version.to_string(),
            previous: current.version.clone(),
        };
        self.check_queue(name, &definition).await?;
        let operation = self.queue(user, name, definition).await?;
        let summary = format!(
            "{} switched scheduler {name} from version {} to {version}",
            user.username, current.version
        );
        self.audit
            .record(
                AuditTrail::entry(user, AuditAction::VersionSwitched, summary)
                    .of_scheduler(&current.config.game, name)
                    .with(
                        Some(version_value(&current.version)),
                        Some(version_value(version)),
                    ),
            )
            .await;
        Ok(Change {
            scheduler: Self::shown(user, current),
            operation: Some(operation),
        })
    }

    /// Deletes a scheduler, its versions and its rooms, as an operation: whatever else is
    /// waiting or running is asked to cancel first.
    pub async fn delete(&self, user: &User, name: &str) -> Result<Change> {
        let scheduler = self.readable(user, name, None).await?;
        if !access::can_edit(user, &scheduler.config.game) {
            return Err(access::Denied::NotEditor {
                user: user.username.clone(),
                game: scheduler.config.game,
            }
            .into());
        }
        let now = chrono::Utc::now();
        for operation in self.operations.unfinished(name).await? {
            let event = format!("Canceled: {} deletes the scheduler", user.username);
            self.operations
                .cancel(name, &operation.id, &event, now)
                .await?;
        }
        let operation = self
            .queue(user, name, OperationDefinition::DeleteScheduler)
            .await?;
        tracing::info!(scheduler = %name, user = %user.username, "scheduler delete queued");
        let summary = format!("{} deleted scheduler {name}", user.username);
        self.audit
            .record(
                AuditTrail::entry(user, AuditAction::SchedulerDeleted, summary)
                    .of_scheduler(&scheduler.config.game, name)
                    .with(Some(audit::snapshot(&scheduler.config)), None),
            )
            .await;
        Ok(Change {
            scheduler: Self::shown(user, scheduler),
            operation: Some(operation),
        })
    }
}
