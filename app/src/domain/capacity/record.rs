//! A machine-scaling decision as recorded: when, for which scheduler, what was decided and what
//! became of each action. Kept per scheduler like autoscaling decisions are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::scaling::{MachineAction, MachineDecision};

/// What became of one action of a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ActionOutcome {
    /// Carried out (the provider accepted it, or the machine was drained).
    Done,
    /// Tried and failed; tried again at a later decision if still wanted.
    Failed { error: String },
    /// Only recorded: the machine provider is `dry-run`.
    DryRun,
    /// Not sent: the machines asked for by decision `decision` have not shown up yet, and the
    /// machines are as they were then.
    Waiting { decision: String },
}

/// One machine-scaling decision of one scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MachineDecisionRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub scheduler: String,
    pub decision: MachineDecision,
    /// One per action of `decision`, in the same order.
    pub outcomes: Vec<ActionOutcome>,
    /// The machines the decision was made from (ids, sorted).
    #[serde(default)]
    pub machines: Vec<String>,
    /// Regions whose machine source failed, with why: their machines were left out.
    #[serde(default)]
    pub skipped_regions: Vec<SkippedRegion>,
}

/// A region whose machines could not be listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SkippedRegion {
    pub region: String,
    pub error: String,
}

impl MachineDecisionRecord {
    /// Whether this record asked for machines and the provider accepted at least one request.
    pub fn added(&self) -> bool {
        self.decision
            .actions
            .iter()
            .zip(&self.outcomes)
            .any(|(action, outcome)| {
                matches!(action, MachineAction::Add { .. }) && *outcome == ActionOutcome::Done
            })
    }
}

/// Whether an `Add` of a new decision should wait: the `latest` decision added machines and
/// the machines are still those it was made from (the new ones have not shown up).
pub fn add_pending<'a>(
    latest: Option<&'a MachineDecisionRecord>,
    machines: &[String],
) -> Option<&'a str> {
    let latest = latest?;
    let waiting = latest
        .decision
        .actions
        .iter()
        .zip(&latest.outcomes)
        .any(|(a, o)| {
            matches!(a, MachineAction::Add { .. }) && matches!(o, ActionOutcome::Waiting { .. })
        });
    if (latest.added() || waiting) && latest.machines == machines {
        return Some(
            match latest.outcomes.iter().find_map(|o| match o {
                ActionOutcome::Waiting { decision } => Some(decision.as_str()),
                _ => None,
            }) {
                Some(first) => first,
                None => latest.id.as_str(),
            },
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::MachineKind;
    use super::super::scaling::{MachineFigures, MachineScalingReason};
    use super::*;

    fn record(id: &str, outcome: ActionOutcome, machines: &[&str]) -> MachineDecisionRecord {
        MachineDecisionRecord {
            id: id.into(),
            at: Utc::now(),
            scheduler: "s".into(),
            decision: MachineDecision {
                actions: vec![MachineAction::Add {
                    kind: MachineKind::BareMetal,
                    count: 1,
                    region: None,
                }],
                reason: MachineScalingReason::BelowMinFree,
                summary: String::new(),
                figures: MachineFigures::default(),
            },
            outcomes: vec![outcome],
            machines: machines.iter().map(|m| m.to_string()).collect(),
            skipped_regions: vec![],
        }
    }

    #[test]
    fn an_add_waits_until_the_machines_change() {
        let done = record("d1", ActionOutcome::Done, &["a"]);
        let same = vec!["a".to_string()];
        assert_eq!(add_pending(Some(&done), &same), Some("d1"));
        assert_eq!(add_pending(Some(&done), &["a".into(), "b".into()]), None);
        let waiting = record(
            "d2",
            ActionOutcome::Waiting {
                decision: "d1".into(),
            },
            &["a"],
        );
        assert_eq!(add_pending(Some(&waiting), &same), Some("d1"));
        let failed = record("d3", ActionOutcome::Failed { error: "x".into() }, &["a"]);
        assert_eq!(add_pending(Some(&failed), &same), None);
        assert_eq!(
            add_pending(Some(&record("d4", ActionOutcome::DryRun, &["a"])), &same),
            None
        );
        assert_eq!(add_pending(None, &same), None);
    }

    #[test]
    fn outcomes_are_tagged() {
        let json = serde_json::to_value(ActionOutcome::Failed { error: "e".into() }).unwrap();
        assert_eq!(json, serde_json::json!({"outcome": "failed", "error": "e"}));
        assert_eq!(
            serde_json::to_value(ActionOutcome::DryRun).unwrap(),
            serde_json::json!({"outcome": "dryRun"})
        );
    }
}
