//! One evaluation of a scheduler's autoscaling: from its configuration, its state, its load and
//! its recorded usage points to the next desired room count, and the decision that explains it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::config::{Autoscaling, MetricsTrigger, ScalingDirection};
use super::policy::{Load, trigger_policy};
use super::target::target;

/// Usage points in percent per trigger type, oldest first.
pub type Points = BTreeMap<String, Vec<f64>>;

/// What the autoscaler remembers between evaluations.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerState {
    /// Rooms wanted now (the health controller converges to it).
    pub desired: u32,
    /// When the desired count last changed; cooldowns count from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaled_at: Option<DateTime<Utc>>,
    /// Occupied rooms at the previous evaluation: panic scale reacts to rooms newly occupied.
    #[serde(default)]
    pub occupied: u64,
}

impl AutoscalerState {
    /// The state of a scheduler the autoscaler has not seen yet: its roomsReplicas within min and max.
    pub fn initial(config: &Autoscaling, rooms_replicas: i64) -> Self {
        Self {
            desired: bounded(config, rooms_replicas).0,
            last_scaled_at: None,
            occupied: 0,
        }
    }
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// Which hard cap bounded the formula's answer.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cap {
    Min,
    Max,
}

/// Why the desired count changed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Reason {
    /// A trigger of the up or down list matched its usage points.
    #[serde(rename_all = "camelCase")]
    Trigger {
        direction: Direction,
        /// Position of the trigger in its list (the first that matched).
        index: usize,
        trigger: MetricsTrigger,
        /// The points considered, oldest first.
        points: Vec<f64>,
        /// How many of them were beyond `usage` (above for up, below for down).
        beyond: usize,
        /// The upscale happened during the cooldown because usage reached `limit`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        over_limit_in_cooldown: bool,
    },
    /// Panic scale: a room turned occupied while occupancy was at or above the trigger's limit.
    #[serde(rename_all = "camelCase")]
    Panic {
        index: usize,
        trigger: MetricsTrigger,
    },
    /// A target policy (`roomOccupancy`, `fixedBuffer`).
    #[serde(rename_all = "camelCase")]
    Policy { policy: String },
    /// The desired count was outside min and max (the configuration changed).
    Bounds,
}

/// A change of the desired room count, with everything that led to it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub from: u32,
    pub to: u32,
    pub reason: Reason,
    /// Usage in percent of the policy that decided, when it measures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
    /// The formula's answer before min and max were applied.
    pub wanted: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped: Option<Cap>,
    pub load: Load,
    /// The decision in one sentence.
    pub summary: String,
}

impl Decision {
    pub fn direction(&self) -> Direction {
        if self.to >= self.from {
            Direction::Up
        } else {
            Direction::Down
        }
    }
}

/// Everything one evaluation depends on.
pub struct Evaluation<'a> {
    pub config: &'a Autoscaling,
    pub state: &'a AutoscalerState,
    pub load: &'a Load,
    /// Recorded usage points per trigger type, oldest first, the latest included.
    pub points: &'a Points,
    /// Seconds between two points (the autoscaling period).
    pub period_seconds: f64,
    pub now: DateTime<Utc>,
    /// Whether a point was just recorded. Between points only panic scale and the caps apply.
    pub at_period: bool,
}

/// How many of the latest points a trigger considers: `time / period`, at least one.
pub fn points_needed(trigger: &MetricsTrigger, period_seconds: f64) -> usize {
    let period = period_seconds.max(0.001);
    ((trigger.time.max(0) as f64 / period).ceil() as usize).max(1)
}

fn triggers(config: &Autoscaling) -> impl Iterator<Item = &MetricsTrigger> {
    [&config.up, &config.down]
        .into_iter()
        .flatten()
        .flat_map(|direction| &direction.metrics_trigger)
}

/// How many points per type the store must keep for this configuration.
pub fn points_to_keep(config: &Autoscaling, period_seconds: f64) -> usize {
    triggers(config)
        .map(|t| points_needed(t, period_seconds))
        .max()
        .unwrap_or(0)
}

/// The usage point of each trigger type the configuration uses, as of `load`.
/// Types that cannot be measured now (no rooms, no metrics) are left out.
pub fn usage_points(config: &Autoscaling, load: &Load) -> Vec<(String, f64)> {
    let mut points: Vec<(String, f64)> = Vec::new();
    for trigger in triggers(config) {
        if points.iter().any(|(kind, _)| *kind == trigger.r#type) {
            continue;
        }
        if let Some(usage) = trigger_policy(&trigger.r#type).and_then(|p| p.utilization(load)) {
            points.push((trigger.r#type.clone(), usage));
        }
    }
    points
}

/// Whether the configuration has trigger types measured from resources (cpu, mem).
pub fn uses_resources(config: &Autoscaling) -> bool {
    triggers(config).any(|t| t.r#type != "room")
}

/// `wanted` within min and max (max 0 is unbounded), and which cap applied.
fn bounded(config: &Autoscaling, wanted: i64) -> (u32, Option<Cap>) {
    let min = config.min.max(0);
    if wanted < min {
        return (to_count(min), Some(Cap::Min));
    }
    if config.max > 0 && wanted > config.max {
        return (to_count(config.max), Some(Cap::Max));
    }
    (to_count(wanted), None)
}

fn to_count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn in_cooldown(state: &AutoscalerState, cooldown_seconds: i64, now: DateTime<Utc>) -> bool {
    state
        .last_scaled_at
        .is_some_and(|at| now < at + Duration::seconds(cooldown_seconds.max(0)))
}

/// The next state, and the decision when the desired count changes.
pub fn step(e: &Evaluation) -> (AutoscalerState, Option<Decision>) {
    let decision = decide(e);
    let mut next = e.state.clone();
    next.occupied = e.load.occupied();
    if let Some(d) = &decision {
        next.desired = d.to;
        next.last_scaled_at = Some(e.now);
    }
    (next, decision)
}

fn decide(e: &Evaluation) -> Option<Decision> {
    let from = e.state.desired;
    let (inside, cap) = bounded(e.config, i64::from(from));
    if inside != from {
        let summary = format!(
            "{from} rooms is outside min {} and max {}",
            e.config.min, e.config.max
        );
        return Some(e.decision(inside, i64::from(from), cap, Reason::Bounds, None, summary));
    }
    if let Some(panic) = panic_scale(e) {
        return Some(panic);
    }
    if !e.at_period {
        return None;
    }
    match &e.config.policy {
        Some(policy) => target_policy(e, policy),
        None => trigger_lists(e),
    }
}

impl Evaluation<'_> {
    fn decision(
        &self,
        to: u32,
        wanted: i64,
        capped: Option<Cap>,
        reason: Reason,
        utilization: Option<f64>,
        summary: String,
    ) -> Decision {
        Decision {
            at: self.now,
            from: self.state.desired,
            to,
            reason,
            utilization,
            wanted,
            capped,
            load: *self.load,
            summary,
        }
    }

    fn points_of(&self, trigger: &MetricsTrigger) -> &[f64] {
        let all = self
            .points
            .get(&trigger.r#type)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let needed = points_needed(trigger, self.period_seconds);
        &all[all.len().saturating_sub(needed)..]
    }
}

/// A room newly occupied with occupancy at or above the first up trigger's `limit` scales up at
/// once, cooldown or not; only with `enablePanicScale`.
fn panic_scale(e: &Evaluation) -> Option<Decision> {
    if !e.config.enable_panic_scale || e.load.occupied() <= e.state.occupied {
        return None;
    }
    let room = trigger_policy("room")?;
    let up = e.config.up.as_ref()?;
    let (index, trigger) = up
        .metrics_trigger
        .iter()
        .enumerate()
        .find(|(_, t)| t.limit.is_some())?;
    let limit = trigger.limit? as f64;
    let occupancy = room.utilization(e.load)?;
    if occupancy < limit {
        return None;
    }
    let wanted = e.load.total() as i64 + room.delta(trigger, e.load)?.max(1);
    let (to, cap) = bounded(e.config, wanted);
    (to > e.state.desired).then(|| {
        let summary = format!(
            "panic scale: occupancy {occupancy:.1}% reached limit {limit}% of up trigger {index}; {} -> {to}",
            e.state.desired
        );
        e.decision(
            to,
            wanted,
            cap,
            Reason::Panic {
                index,
                trigger: trigger.clone(),
            },
            Some(occupancy),
            summary,
        )
    })
}

fn target_policy(e: &Evaluation, policy: &super::config::PolicyConfig) -> Option<Decision> {
    let answer = target(policy, e.load)?;
    let (to, cap) = bounded(e.config, answer.desired);
    let from = e.state.desired;
    let down_blocked = !answer.may_scale_down || in_cooldown(e.state, e.config.cooldown, e.now);
    if to == from || (to < from && down_blocked) {
        return None;
    }
    let utilization = trigger_policy("room").and_then(|p| p.utilization(e.load));
    let summary = format!("{}; {from} -> {to}", answer.summary);
    Some(e.decision(
        to,
        answer.desired,
        cap,
        Reason::Policy {
            policy: policy.r#type.clone(),
        },
        utilization,
        summary,
    ))
}

/// The seed's trigger lists: up first, then down; in each, the first trigger whose points match.
fn trigger_lists(e: &Evaluation) -> Option<Decision> {
    let mut up_matched = false;
    if let Some(up) = &e.config.up {
        match first_match(e, up, Direction::Up) {
            Matched::Scale(decision) => return Some(*decision),
            Matched::NoChange => return None,
            Matched::Blocked => up_matched = true,
            Matched::None => {}
        }
    }
    // High usage that the cooldown holds back must not turn into a downscale.
    if up_matched {
        return None;
    }
    match e
        .config
        .down
        .as_ref()
        .map(|down| first_match(e, down, Direction::Down))
    {
        Some(Matched::Scale(decision)) => Some(*decision),
        _ => None,
    }
}

enum Matched {
    /// A trigger matched and changes the desired count.
    Scale(Box<Decision>),
    /// A trigger matched, but its formula or the caps leave the count as it is.
    NoChange,
    /// Triggers matched but the cooldown holds them back.
    Blocked,
    None,
}

fn first_match(e: &Evaluation, list: &ScalingDirection, direction: Direction) -> Matched {
    let mut blocked = false;
    for (index, trigger) in list.metrics_trigger.iter().enumerate() {
        let Some(policy) = trigger_policy(&trigger.r#type) else {
            continue;
        };
        let points = e.points_of(trigger);
        if points.len() < points_needed(trigger, e.period_seconds) {
            continue; // not enough history yet
        }
        let usage = trigger.usage as f64;
        let beyond = points
            .iter()
            .filter(|&&p| match direction {
                Direction::Up => p > usage,
                Direction::Down => p < usage,
            })
            .count();
        if (beyond as i64) * 100 < trigger.threshold * points.len() as i64 {
            continue;
        }
        let utilization = policy.utilization(e.load);
        let mut over_limit = false;
        if in_cooldown(e.state, list.cooldown, e.now) {
            over_limit = direction == Direction::Up
                && trigger
                    .limit
                    .zip(utilization)
                    .is_some_and(|(limit, now)| now >= limit as f64);
            if !over_limit {
                blocked = true;
                continue;
            }
        }
        let Some(delta) = policy.delta(trigger, e.load) else {
            continue;
        };
        let wanted = e.load.total() as i64 + delta;
        let (to, cap) = bounded(e.config, wanted);
        let from = e.state.desired;
        let changes = match direction {
            Direction::Up => to > from,
            Direction::Down => to < from,
        };
        if !changes {
            return Matched::NoChange;
        }
        let side = match direction {
            Direction::Up => "above",
            Direction::Down => "below",
        };
        let summary = format!(
            "{direction:?} trigger {index} ({}): {beyond} of {} points {side} {}% (threshold {}%){}; delta {delta:+} on {} rooms -> {wanted}{}",
            trigger.r#type,
            points.len(),
            trigger.usage,
            trigger.threshold,
            if over_limit {
                ", over limit during cooldown"
            } else {
                ""
            },
            e.load.total(),
            match cap {
                Some(Cap::Min) => format!(", raised to min {}", e.config.min),
                Some(Cap::Max) => format!(", capped at max {}", e.config.max),
                None => String::new(),
            }
        );
        return Matched::Scale(Box::new(e.decision(
            to,
            wanted,
            cap,
            Reason::Trigger {
                direction,
                index,
                trigger: trigger.clone(),
                points: points.to_vec(),
                beyond,
                over_limit_in_cooldown: over_limit,
            },
            utilization,
            summary,
        )));
    }
    if blocked {
        Matched::Blocked
    } else {
        Matched::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::autoscaling::{PolicyConfig, PolicyParameters};
    use crate::domain::room::RoomCounts;

    const PERIOD: f64 = 10.0;

    fn t0() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(1)
    }

    fn trigger(
        kind: &str,
        usage: i64,
        threshold: i64,
        time: i64,
        limit: Option<i64>,
    ) -> MetricsTrigger {
        MetricsTrigger {
            r#type: kind.into(),
            usage,
            threshold,
            time,
            limit,
        }
    }

    fn config(up: Vec<MetricsTrigger>, down: Vec<MetricsTrigger>) -> Autoscaling {
        Autoscaling {
            enabled: true,
            min: 1,
            max: 0,
            cooldown: 0,
            policy: None,
            up: Some(ScalingDirection {
                metrics_trigger: up,
                cooldown: 300,
            }),
            down: Some(ScalingDirection {
                metrics_trigger: down,
                cooldown: 300,
            }),
            enable_panic_scale: false,
            requests: None,
        }
    }

    fn load(ready: u64, occupied: u64) -> Load {
        Load {
            rooms: RoomCounts {
                ready,
                occupied,
                ..RoomCounts::default()
            },
            max_matches: 1,
            ..Load::default()
        }
    }

    fn state(desired: u32, scaled_ago: Option<i64>) -> AutoscalerState {
        AutoscalerState {
            desired,
            last_scaled_at: scaled_ago.map(|s| t0() - Duration::seconds(s)),
            occupied: 0,
        }
    }

    fn room_points(values: &[f64]) -> Points {
        Points::from([("room".to_string(), values.to_vec())])
    }

    struct Case {
        name: &'static str,
        config: Autoscaling,
        state: AutoscalerState,
        load: Load,
        points: Points,
        at_period: bool,
        /// The desired count after the evaluation (unchanged when no decision).
        expect: u32,
    }

    fn run(case: &Case) -> Option<Decision> {
        let (next, decision) = step(&Evaluation {
            config: &case.config,
            state: &case.state,
            load: &case.load,
            points: &case.points,
            period_seconds: PERIOD,
            now: t0(),
            at_period: case.at_period,
        });
        assert_eq!(next.desired, case.expect, "{}", case.name);
        assert_eq!(
            decision.is_some(),
            case.expect != case.state.desired,
            "{}",
            case.name
        );
        decision
    }

    fn up60() -> Vec<MetricsTrigger> {
        // The seed's best practice: up at 60%, judged on 80% of 60 s of points (6 points).
        vec![trigger("room", 60, 80, 60, None)]
    }

    fn down50() -> Vec<MetricsTrigger> {
        vec![trigger("room", 50, 80, 60, None)]
    }

    #[test]
    fn threshold_and_time_semantics() {
        let high = [90.0; 6];
        let cases = [
            Case {
                name: "all 6 points above usage: scale up with the room formula",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&high),
                at_period: true,
                // 9 occupied at 60% -> 15 rooms
                expect: 15,
            },
            Case {
                name: "5 of 6 above (83% >= 80%): scale up",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&[50.0, 90.0, 90.0, 90.0, 90.0, 90.0]),
                at_period: true,
                expect: 15,
            },
            Case {
                name: "4 of 6 above (67% < 80%): no scale",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&[50.0, 50.0, 90.0, 90.0, 90.0, 90.0]),
                at_period: true,
                expect: 10,
            },
            Case {
                name: "only the last time/period points count: older low points are ignored",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&[10.0, 10.0, 10.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0]),
                at_period: true,
                expect: 15,
            },
            Case {
                name: "fewer points than time/period: wait for history",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&[90.0; 5]),
                at_period: true,
                expect: 10,
            },
            Case {
                name: "points exactly at usage are not above it",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(4, 6),
                points: room_points(&[60.0; 6]),
                at_period: true,
                expect: 10,
            },
            Case {
                name: "down: points below usage scale down to the target usage",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(8, 2),
                points: room_points(&[20.0; 6]),
                at_period: true,
                // 2 occupied at 50% -> 4 rooms
                expect: 4,
            },
            Case {
                name: "between points nothing but caps and panic is evaluated",
                config: config(up60(), down50()),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&high),
                at_period: false,
                expect: 10,
            },
        ];
        for case in &cases {
            run(case);
        }
    }

    #[test]
    fn limit_versus_cooldown() {
        let mut with_limit = config(vec![trigger("room", 60, 80, 60, Some(85))], down50());
        with_limit.up.as_mut().unwrap().cooldown = 300;
        let cases = [
            Case {
                name: "in up cooldown, below limit: held back",
                config: with_limit.clone(),
                state: state(10, Some(100)),
                load: load(2, 8), // 80% < 85%
                points: room_points(&[90.0; 6]),
                at_period: true,
                expect: 10,
            },
            Case {
                name: "in up cooldown, at limit: scales anyway",
                config: with_limit.clone(),
                state: state(10, Some(100)),
                load: load(1, 9), // 90% >= 85%
                points: room_points(&[90.0; 6]),
                at_period: true,
                expect: 15,
            },
            Case {
                name: "cooldown over: scales without reaching the limit",
                config: with_limit.clone(),
                state: state(10, Some(301)),
                load: load(2, 8),
                points: room_points(&[90.0; 6]),
                at_period: true,
                // 8 / 0.6 = 13.3 -> 13
                expect: 13,
            },
            Case {
                name: "limit never forces a downscale in cooldown",
                config: with_limit.clone(),
                state: state(10, Some(100)),
                load: load(9, 1),
                points: room_points(&[10.0; 6]),
                at_period: true,
                expect: 10,
            },
            Case {
                name: "an up trigger held back by cooldown prevents a down trigger of another type",
                config: config(
                    vec![trigger("room", 60, 80, 60, None)],
                    vec![trigger("cpu", 50, 80, 60, None)],
                ),
                state: state(10, Some(100)),
                load: load(1, 9),
                points: Points::from([
                    ("room".to_string(), vec![90.0; 6]),
                    ("cpu".to_string(), vec![10.0; 6]),
                ]),
                at_period: true,
                expect: 10,
            },
        ];
        for case in &cases {
            run(case);
        }
        let decision = run(&cases[1]).unwrap();
        assert!(matches!(
            decision.reason,
            Reason::Trigger {
                over_limit_in_cooldown: true,
                ..
            }
        ));
    }

    #[test]
    fn min_and_max_are_hard_caps() {
        let mut capped = config(up60(), down50());
        capped.min = 6;
        capped.max = 12;
        let cases = [
            Case {
                name: "up capped at max",
                config: capped.clone(),
                state: state(10, None),
                load: load(1, 9),
                points: room_points(&[90.0; 6]),
                at_period: true,
                expect: 12,
            },
            Case {
                name: "down raised to min",
                config: capped.clone(),
                state: state(10, None),
                load: load(9, 1),
                points: room_points(&[10.0; 6]),
                at_period: true,
                expect: 6,
            },
            Case {
                name: "already at max: no decision",
                config: capped.clone(),
                state: state(12, None),
                load: load(1, 11),
                points: room_points(&[95.0; 6]),
                at_period: true,
                expect: 12,
            },
            Case {
                name: "a count outside the caps is corrected at once, even between points",
                config: capped.clone(),
                state: state(20, Some(10)),
                load: load(20, 0),
                points: Points::new(),
                at_period: false,
                expect: 12,
            },
            Case {
                name: "max 0 is unbounded",
                config: config(up60(), down50()),
                state: state(1000, None),
                load: load(0, 1000),
                points: room_points(&[100.0; 6]),
                at_period: true,
                // 1000 / 0.6 = 1666.7 -> 1667
                expect: 1667,
            },
        ];
        for case in &cases {
            run(case);
        }
        let up = run(&cases[0]).unwrap();
        assert_eq!((up.wanted, up.capped), (15, Some(Cap::Max)));
        let down = run(&cases[1]).unwrap();
        assert_eq!((down.wanted, down.capped), (2, Some(Cap::Min)));
    }

    #[test]
    fn the_first_matching_trigger_scales() {
        let loaded = Load {
            cpu: Some(crate::domain::autoscaling::ResourceLoad {
                used: 9.0,
                requested: 10.0,
            }),
            ..load(5, 5)
        };
        let both_high = Points::from([
            ("room".to_string(), vec![90.0; 6]),
            ("cpu".to_string(), vec![90.0; 6]),
        ]);
        let cpu_first = config(
            vec![
                trigger("cpu", 60, 80, 60, None),
                trigger("room", 40, 80, 60, None),
            ],
            down50(),
        );
        let room_first = config(
            vec![
                trigger("room", 40, 80, 60, None),
                trigger("cpu", 60, 80, 60, None),
            ],
            down50(),
        );
        let cases = [
            Case {
                name: "cpu listed first: its formula decides (ceil(90/60 * 10) = 15)",
                config: cpu_first,
                state: state(10, None),
                load: loaded,
                points: both_high.clone(),
                at_period: true,
                expect: 15,
            },
            Case {
                name: "room listed first: its formula decides (5 / 0.4 = 12.5 -> 13)",
                config: room_first,
                state: state(10, None),
                load: loaded,
                points: both_high,
                at_period: true,
                expect: 13,
            },
            Case {
                name: "the first trigger does not match: the second one scales",
                config: config(
                    vec![
                        trigger("cpu", 95, 80, 60, None),
                        trigger("room", 40, 80, 60, None),
                    ],
                    down50(),
                ),
                state: state(10, None),
                load: loaded,
                points: Points::from([
                    ("room".to_string(), vec![90.0; 6]),
                    ("cpu".to_string(), vec![90.0; 6]),
                ]),
                at_period: true,
                expect: 13,
            },
        ];
        for case in &cases {
            run(case);
        }
        match run(&cases[2]).unwrap().reason {
            Reason::Trigger { index, .. } => assert_eq!(index, 1),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn panic_scale_on_and_off() {
        let triggers = vec![trigger("room", 60, 80, 600, Some(80))];
        let mut on = config(triggers.clone(), down50());
        on.enable_panic_scale = true;
        let off = config(triggers, down50());
        let newly_occupied = |desired| AutoscalerState {
            desired,
            last_scaled_at: Some(t0() - Duration::seconds(10)),
            occupied: 8,
        };
        let cases = [
            Case {
                name: "on: a room turned occupied at 90% >= limit 80%: scale now, cooldown and all",
                config: on.clone(),
                state: newly_occupied(10),
                load: load(1, 9),
                points: Points::new(),
                at_period: false,
                expect: 15,
            },
            Case {
                name: "off (the default): nothing between points",
                config: off.clone(),
                state: newly_occupied(10),
                load: load(1, 9),
                points: Points::new(),
                at_period: false,
                expect: 10,
            },
            Case {
                name: "on, but below the limit: nothing",
                config: on.clone(),
                state: AutoscalerState {
                    occupied: 6,
                    ..newly_occupied(10)
                },
                load: load(3, 7),
                points: Points::new(),
                at_period: false,
                expect: 10,
            },
            Case {
                name: "on, but no room newly occupied: nothing",
                config: on,
                state: AutoscalerState {
                    occupied: 9,
                    ..newly_occupied(10)
                },
                load: load(1, 9),
                points: Points::new(),
                at_period: false,
                expect: 10,
            },
        ];
        for case in &cases {
            run(case);
        }
        assert!(matches!(
            run(&cases[0]).unwrap().reason,
            Reason::Panic { .. }
        ));
    }

    #[test]
    fn target_policies_scale_down_after_their_cooldown_only() {
        let buffer = Autoscaling {
            min: 1,
            cooldown: 120,
            policy: Some(PolicyConfig {
                r#type: "fixedBuffer".into(),
                parameters: PolicyParameters::fixed_buffer(3),
            }),
            ..config(vec![], vec![])
        };
        let buffer = Autoscaling {
            up: None,
            down: None,
            ..buffer
        };
        let cases = [
            Case {
                name: "up at once, even right after a scaling",
                config: buffer.clone(),
                state: state(5, Some(10)),
                load: load(0, 5),
                points: Points::new(),
                at_period: true,
                expect: 8,
            },
            Case {
                name: "down held back during the cooldown",
                config: buffer.clone(),
                state: state(8, Some(10)),
                load: load(7, 1),
                points: Points::new(),
                at_period: true,
                expect: 8,
            },
            Case {
                name: "down after the cooldown",
                config: buffer,
                state: state(8, Some(121)),
                load: load(7, 1),
                points: Points::new(),
                at_period: true,
                expect: 4,
            },
        ];
        for case in &cases {
            run(case);
        }
    }

    #[test]
    fn points_and_keep() {
        let c = config(
            vec![trigger("room", 60, 80, 600, None)],
            vec![trigger("cpu", 50, 80, 900, None)],
        );
        assert_eq!(points_to_keep(&c, 30.0), 30);
        assert_eq!(points_needed(&trigger("room", 1, 1, 5, None), 30.0), 1);
        let l = Load {
            cpu: Some(crate::domain::autoscaling::ResourceLoad {
                used: 1.0,
                requested: 4.0,
            }),
            ..load(3, 1)
        };
        assert_eq!(
            usage_points(&c, &l),
            vec![("room".to_string(), 25.0), ("cpu".to_string(), 25.0)]
        );
        assert!(uses_resources(&c));
    }

    #[test]
    fn the_initial_count_is_rooms_replicas_within_the_caps() {
        let mut c = config(up60(), down50());
        c.min = 3;
        c.max = 8;
        assert_eq!(AutoscalerState::initial(&c, 1).desired, 3);
        assert_eq!(AutoscalerState::initial(&c, 5).desired, 5);
        assert_eq!(AutoscalerState::initial(&c, 50).desired, 8);
    }
}
