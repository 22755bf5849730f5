//! What the schedulers API answers: Maestro v10's response shapes, every field present (as
//! Maestro's proto3 JSON answers unset fields: `null`, `""`, `{}`, `[]`), plus Baton's additions
//! (`version` at the top, `roomTimeouts`, `allocation`, `allowTokenlessPings`, `capacity`).

use std::collections::BTreeMap;

use app::domain::allocation::AllocationPolicy;
use app::domain::autoscaling::Autoscaling;
use app::domain::capacity::Capacity;
use app::domain::operation::Operation;
use app::domain::region::{RegionView, SchedulerRegion};
use app::domain::rollout::progress::RolloutProgress;
use app::domain::scheduler::{
    Forwarder, GameRoomSpec, MatchAllocation, PortRange, RoomTimeouts, Scheduler, SchedulerConfig,
    SchedulerState, SchedulerSummary, SchedulerVersion,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A scheduler as `GET /schedulers/{name}` answers it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerDocument {
    pub name: String,
    pub game: String,
    pub state: SchedulerState,
    /// The version shown (the active one unless `?version=` asked for another); also in
    /// `spec.version`, where Maestro's clients read it.
    pub version: String,
    /// `null` when every container port has a `hostPort`.
    pub port_range: Option<PortRange>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub max_surge: String,
    pub rooms_replicas: i64,
    pub spec: SpecDocument,
    /// Left out when the scheduler has none, as Maestro does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    pub forwarders: Vec<Forwarder>,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The regions its rooms run in, with their weights; left out when it lists none (its
    /// rooms run in the default runtime's region).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<SchedulerRegion>,
    pub match_allocation: MatchAllocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_timeouts: Option<RoomTimeouts>,
    /// Left out when the scheduler sets no allocation policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocationPolicy>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_tokenless_pings: bool,
    /// Machines and payloads (zeuz's model); left out when the scheduler has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

/// The room spec with the version it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecDocument {
    /// The scheduler version this spec is, e.g. `v2`.
    pub version: String,
    #[serde(flatten)]
    pub spec: GameRoomSpec,
}

impl From<Scheduler> for SchedulerDocument {
    fn from(scheduler: Scheduler) -> Self {
        // Every field named: a field added to the configuration must be answered here too.
        let SchedulerConfig {
            name,
            game,
            rooms_replicas,
            port_range,
            max_surge,
            spec,
            forwarders,
            annotations,
            labels,
            regions,
            match_allocation,
            autoscaling,
            room_timeouts,
            allocation,
            allow_tokenless_pings,
            capacity,
        } = scheduler.config;
        Self {
            name,
            game,
            state: scheduler.state,
            version: scheduler.version.clone(),
            port_range,
            created_at: scheduler.created_at,
            max_surge,
            rooms_replicas,
            spec: SpecDocument {
                version: scheduler.version,
                spec,
            },
            autoscaling,
            forwarders,
            annotations,
            labels,
            regions,
            match_allocation,
            room_timeouts,
            allocation,
            allow_tokenless_pings,
            capacity,
        }
    }
}

/// `POST /schedulers` and `GET /schedulers/{name}`: the scheduler.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerResponse {
    pub scheduler: SchedulerDocument,
}

impl From<Scheduler> for SchedulerResponse {
    fn from(scheduler: Scheduler) -> Self {
        Self {
            scheduler: scheduler.into(),
        }
    }
}

/// A change (`POST /schedulers`, `POST`, `PATCH`, `PUT`, `DELETE /schedulers/{name}`,
/// `.../add-rooms`, `.../remove-rooms`): Maestro's `operationId` (the operation that carries
/// the change out; absent when nothing changed) and the scheduler as it is now. With `?wait=`,
/// also the operation as it was when the wait ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    pub scheduler: SchedulerDocument,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationDocument>,
}

impl From<app::services::Change> for ChangeResponse {
    fn from(change: app::services::Change) -> Self {
        Self {
            operation_id: change.operation.as_ref().map(|o| o.id.clone()),
            scheduler: change.scheduler.into(),
            operation: None,
        }
    }
}

/// An operation's lease: until when its runner holds it (RFC 3339, UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseDocument {
    pub ttl: String,
}

/// One line of an operation's history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationEventDocument {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub event: String,
}

/// An operation, as Maestro answers it; `input` and `executionHistory` in the detail only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationDocument {
    pub id: String,
    /// `pending`, `in_progress`, `canceled`, `finished`, `evicted` or `error`.
    pub status: String,
    /// `create_scheduler`, `create_new_scheduler_version`, `switch_active_version`,
    /// `add_rooms`, `remove_rooms` or `delete_scheduler`.
    pub definition_name: String,
    pub lease: Option<LeaseDocument>,
    pub scheduler_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Baton's addition: a cancel was asked for and the runner has not stopped yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_history: Option<Vec<OperationEventDocument>>,
    /// Baton's addition, while a rollout (a major new version or a switch) runs: the rooms on
    /// the old and the new version and the ready rooms against the floor the waves keep, read
    /// off the rooms as they are now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<RolloutProgress>,
}

impl OperationDocument {
    /// The list's item: no input or history.
    pub fn summary(operation: &Operation) -> Self {
        Self {
            id: operation.id.clone(),
            status: operation.status.as_str().to_string(),
            definition_name: operation.definition.name().to_string(),
            lease: operation.lease.as_ref().map(|lease| LeaseDocument {
                ttl: lease
                    .expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
            scheduler_name: operation.scheduler.clone(),
            created_at: operation.created_at,
            cancel_requested: operation.cancel_requested && !operation.status.is_final(),
            input: None,
            execution_history: None,
            progress: None,
        }
    }

    /// The detail: with input and history.
    pub fn detail(operation: &Operation) -> Self {
        Self {
            input: Some(operation.definition.input()),
            execution_history: Some(
                operation
                    .history
                    .iter()
                    .map(|e| OperationEventDocument {
                        created_at: e.at,
                        event: e.event.clone(),
                    })
                    .collect(),
            ),
            ..Self::summary(operation)
        }
    }
}

/// `GET /schedulers/{name}/operations`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationList {
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub operations: Vec<OperationDocument>,
}

/// `GET /schedulers/{name}/operations/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationResponse {
    pub operation: OperationDocument,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerList {
    pub schedulers: Vec<SchedulerSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<SchedulerVersion>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SwitchVersion {
    /// The version to make active, e.g. `v1`. Missing is reported on this field, like empty.
    #[serde(default)]
    pub version: String,
}

/// Maestro's autoscaling summary in `GET /schedulers/info`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AutoscalingInfo {
    pub enabled: bool,
    pub min: i64,
    pub max: i64,
    pub cooldown: i64,
}

impl From<&Autoscaling> for AutoscalingInfo {
    fn from(a: &Autoscaling) -> Self {
        Self {
            enabled: a.enabled,
            min: a.min,
            max: a.max,
            cooldown: a.cooldown,
        }
    }
}

/// A scheduler with its live room counts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerInfo {
    pub name: String,
    pub game: String,
    pub state: SchedulerState,
    pub rooms_replicas: i64,
    pub rooms_ready: u64,
    pub rooms_occupied: u64,
    /// Rooms starting: pending and unready.
    pub rooms_pending: u64,
    pub rooms_terminating: u64,
    /// `null` without autoscaling.
    pub autoscaling: Option<AutoscalingInfo>,
    pub match_allocation: MatchAllocation,
    /// Baton's addition: the scheduler's regions with their room counts and health.
    pub regions: Vec<RegionView>,
}

/// `GET /schedulers/{name}/regions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionList {
    pub regions: Vec<RegionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerInfoList {
    pub schedulers: Vec<SchedulerInfo>,
}
