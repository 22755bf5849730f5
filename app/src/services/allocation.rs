//! Allocation: handing a room's capacity to a matchmaker (allocate any room, reserve one),
//! giving it back (release), and how many allocations succeeded or were refused over time.
//! Callers need to be able to allocate for the scheduler's game (`access::can_allocate`; readers
//! of the game may look); a scheduler they may not read is not found.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{SchedulerService, ServiceError};
use crate::domain::access;
use crate::domain::allocation::rate::{self, AllocationRates};
use crate::domain::allocation::{
    self, AllocationPolicy, Claim, ClaimError, Claimed, NewClaim, RoomSelector, Selection,
    VersionLabels,
};
use crate::domain::history::Tier;
use crate::domain::room::{GameRoom, RoomAddress};
use crate::domain::scheduler::Scheduler;
use crate::domain::user::User;

type Result<T> = std::result::Result<T, ServiceError>;

/// What a matchmaker asks for along with a room.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClaimRequest {
    /// Match metadata to attach (any JSON, at most `allocation::MAX_METADATA_BYTES`).
    pub metadata: Option<serde_json::Value>,
    /// How long the room has to confirm the claim (default: the scheduler's
    /// `allocation.claimTtl`, else `allocation::DEFAULT_TTL_SECONDS`).
    pub ttl_seconds: Option<u64>,
    /// Which rooms may take the claim (allocate only; reserve names its room).
    pub selector: RoomSelector,
}

/// A claim and where its room is: its address (when known) and region (the default runtime's
/// for rooms stored before regions).
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub claim: Claim,
    pub address: Option<RoomAddress>,
    pub region: String,
}

impl From<ClaimError> for ServiceError {
    fn from(err: ClaimError) -> Self {
        let field = match err {
            ClaimError::MetadataTooLarge(_) => "metadata",
            ClaimError::Ttl(_) => "ttl",
        };
        ServiceError::invalid(field, &err.to_string())
    }
}

impl SchedulerService {
    /// The scheduler (as this process remembers it, see `ActiveSchedulers`), if `user` may
    /// allocate its rooms.
    async fn allocatable(&self, user: &User, name: &str) -> Result<Arc<Scheduler>> {
        let scheduler = self.readable_active(user, name).await?;
        if !access::can_allocate(user, &scheduler.config.game) {
            return Err(ServiceError::Forbidden(format!(
                "user {} may not allocate rooms of game {} (editors of the game may)",
                user.username, scheduler.config.game
            )));
        }
        Ok(scheduler)
    }

    /// The claim `request` asks for on a room of `scheduler`: the request's TTL, else the
    /// scheduler's `allocation.claimTtl`, else the default.
    fn new_claim(
        scheduler: &Scheduler,
        request: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<NewClaim> {
        let id = uuid::Uuid::new_v4().to_string();
        let ttl = request.ttl_seconds.or(AllocationPolicy::claim_ttl_seconds(
            scheduler.config.allocation.as_ref(),
        ));
        Ok(allocation::new_claim(
            id,
            request.metadata.clone(),
            ttl,
            now,
        )?)
    }

    /// The selection `selector` makes among the rooms of `scheduler`, by its strategy. Labels
    /// read every version of the scheduler (one scheduler-store read per version).
    async fn selection(&self, scheduler: &Scheduler, selector: &RoomSelector) -> Result<Selection> {
        selector.validate().map_err(ServiceError::Invalid)?;
        let strategy = AllocationPolicy::strategy(scheduler.config.allocation.as_ref());
        let mut versions = Vec::new();
        if selector.version.is_some() || !selector.labels.is_empty() {
            let name = &scheduler.config.name;
            for version in self.schedulers.versions(name).await? {
                let labels = if selector.labels.is_empty() {
                    Default::default()
                } else if version.version == scheduler.version {
                    scheduler.config.labels.clone()
                } else {
                    self.schedulers
                        .get(name, Some(&version.version))
                        .await?
                        .config
                        .labels
                };
                versions.push(VersionLabels {
                    version: version.version,
                    labels,
                });
            }
        }
        let mut selection = selector
            .resolve(strategy, &versions)
            .map_err(|e| ServiceError::Invalid(vec![e]))?;
        selection.regions =
            allocation::with_unnamed_rooms(&selection.regions, self.default_region());
        Ok(selection)
    }

    /// The claim as answered: a room stored before regions is in the default runtime's region,
    /// where it runs.
    fn answered(&self, claimed: Claimed) -> Allocation {
        let region = if claimed.region.is_empty() {
            self.default_region().to_string()
        } else {
            claimed.region
        };
        Allocation {
            claim: claimed.claim,
            address: claimed.address,
            region,
        }
    }

    /// The rooms matchmakers have (`allocation::allocated_rooms`), oldest first, each with its
    /// open claims. Readers may look.
    pub async fn allocated(&self, user: &User, name: &str) -> Result<Vec<(GameRoom, Vec<Claim>)>> {
        let rooms = self.rooms(user, name).await?;
        let claims = self.rooms.claims(name, None).await?;
        Ok(allocation::allocated_rooms(&rooms, &claims))
    }

    /// The scheduler's allocation outcomes over the `window` before `now` (at most a day), as
    /// rates per second in at most `points` points (`rate::rates`), from the tier that covers
    /// the window. Readers may look.
    pub async fn allocation_rates(
        &self,
        user: &User,
        name: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        points: usize,
    ) -> Result<AllocationRates> {
        self.readable_active(user, name).await?;
        let window = window.min(Tier::Coarse.keep());
        let buckets = self
            .rooms
            .allocation_outcomes(name, Tier::for_span(window), now - window, now)
            .await?;
        Ok(rate::rates(&buckets, now, window, points))
    }

    /// Whether `user` may allocate rooms of scheduler `name`, which they may read (else
    /// `NotFound`).
    pub async fn may_allocate(&self, user: &User, name: &str) -> Result<bool> {
        let scheduler = self.readable_active(user, name).await?;
        Ok(access::can_allocate(user, &scheduler.config.game))
    }

    /// Claims capacity on a room of the scheduler that has some; `None` when no room does.
    pub async fn allocate(
        &self,
        user: &User,
        name: &str,
        request: ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<Allocation>> {
        let scheduler = self.allocatable(user, name).await?;
        let claim = Self::new_claim(&scheduler, &request, now)?;
        // A selection that matches nothing goes to the store all the same, which refuses it
        // without looking at a room and counts the refusal.
        let selection = self.selection(&scheduler, &request.selector).await?;
        let max = allocation::max_matches(&scheduler.config.match_allocation);
        match self.rooms.allocate(name, max, &selection, &claim).await? {
            Some(claimed) => Ok(Some(self.answered(claimed))),
            None => Ok(None),
        }
    }

    /// Claims capacity on room `room`; `Conflict` when it has none free.
    pub async fn reserve(
        &self,
        user: &User,
        name: &str,
        room: &str,
        request: ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Allocation> {
        let scheduler = self.allocatable(user, name).await?;
        if request.selector != RoomSelector::default() {
            return Err(ServiceError::invalid(
                "selector",
                "a reservation names its room: selectors apply to allocations only",
            ));
        }
        let claim = Self::new_claim(&scheduler, &request, now)?;
        let max = allocation::max_matches(&scheduler.config.match_allocation);
        let claimed = self.rooms.reserve(name, room, max, &claim).await?;
        Ok(self.answered(claimed))
    }

    /// Closes a claim: its room's capacity is free again at once.
    pub async fn release(&self, user: &User, name: &str, claim: &str) -> Result<Claim> {
        self.allocatable(user, name).await?;
        self.rooms
            .release(name, claim)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("claim {claim} not found")))
    }
}
