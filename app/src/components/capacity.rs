//! A scheduler's capacity on its page (zeuz's model): its machines with their payload capacity
//! and free capacity, the free capacity in all against the bounds, and the latest
//! machine-scaling decisions. The server sends the facts as text and counts only, so that the
//! page's bundle carries no reader of the capacity model (see `domain::verbatim`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::common::{ErrorBox, ago, refresh_every};
use crate::auth::AppError;

/// Machine-scaling decisions the page shows.
pub const DECISIONS_SHOWN: usize = 10;

/// What the capacity card shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityPanel {
    /// The server's clock, for the decisions' ages.
    pub now: DateTime<Utc>,
    pub machines: Vec<MachineRow>,
    /// Payloads that still fit, over every machine.
    pub free: u64,
    /// `min–max` free payload capacity machine scaling keeps.
    pub bounds: String,
    pub enable_scaling: bool,
    /// `region: why` of each region whose machines could not be listed.
    pub skipped: Vec<String>,
    pub decisions: Vec<MachineDecisionRow>,
}

/// One machine, as text and counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineRow {
    pub id: String,
    pub region: String,
    /// `bare-metal` or `cloud`.
    pub kind: String,
    /// Cores, MHz, memory, storage, OS.
    pub spec: String,
    /// This scheduler's rooms on it, and those of them busy.
    pub payloads: u32,
    pub busy_payloads: u32,
    pub payload_capacity: u32,
    pub free_payload_capacity: u32,
    pub meets_min_spec: bool,
    pub draining: bool,
}

/// One machine-scaling decision, as text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineDecisionRow {
    pub at: DateTime<Utc>,
    /// Each action with its outcome (`add 2 bare-metal: dryRun`), or `none`.
    pub actions: String,
    pub summary: String,
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use crate::domain::capacity::{ActionOutcome, MachineAction, MachineDecisionRecord};
    use crate::services::capacity::{CapacityView, MachineView};

    fn machine_row(view: &MachineView) -> MachineRow {
        let m = &view.machine;
        let spec = &m.spec;
        let os = format!("{} {}", spec.os, spec.os_version);
        MachineRow {
            id: m.id.clone(),
            region: m.region.clone(),
            kind: m.kind.as_str().to_string(),
            spec: format!(
                "{} cores @ {} MHz, {} MB, {} GB, {}",
                spec.core_count,
                spec.core_mhz,
                spec.memory_mb,
                spec.storage_gb,
                os.trim()
            ),
            payloads: m.payloads,
            busy_payloads: m.busy_payloads,
            payload_capacity: view.payload_capacity,
            free_payload_capacity: view.free_payload_capacity,
            meets_min_spec: view.meets_min_spec,
            draining: m.draining,
        }
    }

    fn action_text(action: &MachineAction) -> String {
        match action {
            MachineAction::Add {
                kind,
                count,
                region,
            } => match region {
                Some(region) => format!("add {count} {} in {region}", kind.as_str()),
                None => format!("add {count} {}", kind.as_str()),
            },
            MachineAction::Drain { machine } => format!("drain {machine}"),
            MachineAction::Release { machine } => format!("release {machine}"),
        }
    }

    fn outcome_text(outcome: Option<&ActionOutcome>) -> String {
        match outcome {
            Some(ActionOutcome::Done) => "done".into(),
            Some(ActionOutcome::DryRun) => "dry run".into(),
            Some(ActionOutcome::Failed { error }) => format!("failed ({error})"),
            Some(ActionOutcome::Waiting { .. }) => "waiting for earlier machines".into(),
            None => "—".into(),
        }
    }

    fn decision_row(record: &MachineDecisionRecord) -> MachineDecisionRow {
        let actions: Vec<String> = record
            .decision
            .actions
            .iter()
            .enumerate()
            .map(|(i, action)| {
                format!(
                    "{}: {}",
                    action_text(action),
                    outcome_text(record.outcomes.get(i))
                )
            })
            .collect();
        MachineDecisionRow {
            at: record.at,
            actions: if actions.is_empty() {
                "none".into()
            } else {
                actions.join("; ")
            },
            summary: record.decision.summary.clone(),
        }
    }

    impl CapacityPanel {
        pub fn of(view: &CapacityView, now: DateTime<Utc>) -> Self {
            Self {
                now,
                machines: view.machines.iter().map(machine_row).collect(),
                free: view.free_payload_capacity,
                bounds: format!(
                    "{}–{}",
                    view.min_free_payload_capacity, view.max_free_payload_capacity
                ),
                enable_scaling: view.enable_scaling,
                skipped: view
                    .skipped_regions
                    .iter()
                    .map(|s| format!("{}: {}", s.region, s.error))
                    .collect(),
                decisions: view.decisions.iter().map(decision_row).collect(),
            }
        }
    }
}

/// The scheduler's capacity (users of its game); `None` when it has no capacity section.
#[server(endpoint = "scheduler_capacity", output = crate::codec::JsonText)]
pub async fn scheduler_capacity(name: String) -> Result<Option<CapacityPanel>, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let dashboard = dashboard()?;
    let scheduler = dashboard
        .schedulers
        .get(&user, &name, None)
        .await
        .map_err(|e| reject(e.into()))?;
    if scheduler.config.capacity.is_none() {
        return Ok(None);
    }
    let view = dashboard
        .capacity
        .capacity(&user, &name, DECISIONS_SHOWN)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(Some(CapacityPanel::of(&view, Utc::now())))
}

/// The capacity card; nothing for a scheduler without a capacity section.
#[component]
pub fn CapacityCard(#[prop(into)] name: Signal<String>) -> impl IntoView {
    let capacity = Resource::new(move || name.get(), scheduler_capacity);
    refresh_every(Duration::from_millis(5000), move || capacity.refetch());
    view! {
        <Transition fallback=|| ()>
            {move || {
                capacity
                    .get()
                    .map(|result| match result {
                        Ok(None) => ().into_any(),
                        Ok(Some(panel)) => view! { <Panel panel/> }.into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// The free payloads against the bounds machine scaling keeps, and the regions whose machines
/// could not be listed: the head of the scheduler page's card and of the capacity page.
pub fn capacity_summary(
    free: u64,
    bounds: String,
    enable_scaling: bool,
    skipped: Vec<String>,
) -> AnyView {
    let scaling = if enable_scaling {
        "machine scaling on"
    } else {
        "machine scaling off (decisions recorded only)"
    };
    view! {
        <p>
            <strong data-free-payload-capacity=free>{free}</strong>
            " free payloads (kept within "
            {bounds}
            "; "
            {scaling}
            ")"
        </p>
        {skipped
            .into_iter()
            .map(|s| view! { <p class="muted">"Machines unknown: " {s}</p> })
            .collect_view()}
    }
    .into_any()
}

#[component]
fn Panel(panel: CapacityPanel) -> impl IntoView {
    let CapacityPanel {
        now,
        machines,
        free,
        bounds,
        enable_scaling,
        skipped,
        decisions,
    } = panel;
    view! {
        <section class="card" id="capacity">
            <h2>"Capacity"</h2>
            {capacity_summary(free, bounds, enable_scaling, skipped)}
            <table class="grid machines">
                <thead>
                    <tr>
                        <th>"Machine"</th>
                        <th>"Region"</th>
                        <th>"Kind"</th>
                        <th>"Spec"</th>
                        <th class="num">"Payloads (busy)"</th>
                        <th class="num">"Payload capacity"</th>
                        <th class="num">"Free"</th>
                    </tr>
                </thead>
                <tbody>
                    {machines
                        .into_iter()
                        .map(|m| {
                            let notes = match (m.meets_min_spec, m.draining) {
                                (false, _) => " (below the minimum spec)",
                                (true, true) => " (draining)",
                                (true, false) => "",
                            };
                            let key = m.id.clone();
                            view! {
                                <tr data-machine=key>
                                    <td>
                                        <code>{m.id}</code>
                                        {notes}
                                    </td>
                                    <td>{m.region}</td>
                                    <td>{m.kind}</td>
                                    <td>{m.spec}</td>
                                    <td class="num">
                                        {format!("{} ({})", m.payloads, m.busy_payloads)}
                                    </td>
                                    <td class="num">{m.payload_capacity}</td>
                                    <td class="num">{m.free_payload_capacity}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <h3>"Machine-scaling decisions"</h3>
            <MachineDecisionsTable now decisions/>
        </section>
    }
}

/// The machine-scaling decisions, newest first: when, each action with its outcome, and why.
#[component]
pub fn MachineDecisionsTable(
    now: DateTime<Utc>,
    decisions: Vec<MachineDecisionRow>,
) -> impl IntoView {
    if decisions.is_empty() {
        return view! { <p class="muted">"No decisions yet."</p> }.into_any();
    }
    view! {
        <table class="table decisions machine-decisions">
            <thead>
                <tr>
                    <th>"When"</th>
                    <th>"Actions"</th>
                    <th>"Why"</th>
                </tr>
            </thead>
            <tbody>
                {decisions
                    .into_iter()
                    .map(|d| {
                        view! {
                            <tr>
                                <td title=d.at.to_rfc3339()>{ago(now, d.at)}</td>
                                <td>{d.actions}</td>
                                <td>{d.summary}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
