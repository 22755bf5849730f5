//! Regions: where a scheduler's rooms run. Each runtime Baton drives is tagged with one region;
//! a scheduler lists the regions it wants rooms in, with a weight each (zeuz's `Regions`), and
//! its desired count is split over them here. Pure: the health controller carries it out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::room::{GameRoom, RoomCounts};

/// The region of the runtime started from `--runtime` alone (no runtimes file).
pub const DEFAULT_REGION: &str = "default";

/// One region a scheduler wants rooms in. Written as `{"name": "eu-west", "weight": 2}` or as a
/// plain string (`"eu-west"`, weight 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SchedulerRegion {
    /// A region some runtime of Baton is tagged with.
    pub name: String,
    /// Its share of the rooms relative to the other regions' weights (at least 1).
    pub weight: u32,
}

/// A name or `{name, weight}`, read directly (an untagged enum would make serde buffer the value
/// first, which costs the browser bundle a second deserializer).
impl<'de> Deserialize<'de> for SchedulerRegion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SchedulerRegion;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a region name or {\"name\": ..., \"weight\": ...}")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<SchedulerRegion, E> {
                Ok(SchedulerRegion::new(name, 1))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SchedulerRegion, A::Error> {
                let (mut name, mut weight) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value::<String>()?),
                        "weight" => weight = Some(map.next_value::<u32>()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                let name = name.ok_or_else(|| serde::de::Error::missing_field("name"))?;
                Ok(SchedulerRegion {
                    name,
                    weight: weight.unwrap_or(1),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl SchedulerRegion {
    pub fn new(name: &str, weight: u32) -> Self {
        Self {
            name: name.to_string(),
            weight,
        }
    }
}

/// The regions a scheduler's rooms go to: its own list, or the default runtime's region when
/// the list is empty.
pub fn regions_of(listed: &[SchedulerRegion], default_region: &str) -> Vec<SchedulerRegion> {
    if listed.is_empty() {
        vec![SchedulerRegion::new(default_region, 1)]
    } else {
        listed.to_vec()
    }
}

/// The region a room runs in: its own, or the default runtime's for rooms stored before
/// Baton knew regions (empty).
pub fn room_region<'a>(room: &'a GameRoom, default_region: &'a str) -> &'a str {
    if room.region.is_empty() {
        default_region
    } else {
        &room.region
    }
}

/// How `desired` rooms split over `regions` by weight, in their order: largest remainder, ties
/// to the earlier region. Regions that are not `reachable` get 0 and their share goes to the
/// reachable ones; with none reachable every region gets 0.
pub fn split(desired: u32, regions: &[SchedulerRegion], reachable: &[bool]) -> Vec<u32> {
    let weight = |i: usize| {
        if reachable.get(i).copied().unwrap_or(false) {
            u64::from(regions[i].weight)
        } else {
            0
        }
    };
    let total: u64 = (0..regions.len()).map(weight).sum();
    if total == 0 {
        return vec![0; regions.len()];
    }
    let desired = u64::from(desired);
    let mut shares: Vec<u64> = (0..regions.len())
        .map(|i| desired * weight(i) / total)
        .collect();
    let mut left = desired - shares.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..regions.len()).filter(|i| weight(*i) > 0).collect();
    // Stable: equal remainders keep the regions' order.
    by_remainder.sort_by_key(|i| std::cmp::Reverse(desired * weight(*i) % total));
    for i in by_remainder {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares.into_iter().map(|s| s as u32).collect()
}

/// Whether a region's runtime answered the last reconciliation, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegionHealth {
    pub region: String,
    /// Whether its runtime answered the last listing of the scheduler's instances.
    pub reachable: bool,
    /// The last error, while unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Since when the region is reachable, or unreachable.
    pub since: DateTime<Utc>,
    /// When the scheduler's controller last stored a check: at once when anything else here
    /// changes, else at least every [`REGION_HEALTH_REFRESH`] (`worth_storing`).
    pub checked_at: DateTime<Utc>,
    /// The region's share of the desired room count at that check.
    pub desired: u32,
}

impl RegionHealth {
    /// The health after a check at `now` that answered `outcome`; `since` stays while the
    /// region stays reachable (or unreachable).
    pub fn after(
        previous: Option<&RegionHealth>,
        region: &str,
        outcome: Result<(), String>,
        desired: u32,
        now: DateTime<Utc>,
    ) -> Self {
        let reachable = outcome.is_ok();
        let since = previous
            .filter(|p| p.reachable == reachable)
            .map_or(now, |p| p.since);
        Self {
            region: region.to_string(),
            reachable,
            last_error: outcome.err(),
            since,
            checked_at: now,
            desired,
        }
    }
}

/// How old the stored region health may grow while nothing in it but `checked_at` changes.
pub const REGION_HEALTH_REFRESH: chrono::Duration = chrono::Duration::seconds(10);

/// Whether a tick's region health `new` (checked at `now`) is worth storing over `stored`
/// (what the store holds, as far as the controller knows; `None`: unknown). Only a change or
/// a `checked_at` older than [`REGION_HEALTH_REFRESH`] is: a steady tick writes nothing.
pub fn worth_storing(
    stored: Option<&[RegionHealth]>,
    new: &[RegionHealth],
    now: DateTime<Utc>,
) -> bool {
    let Some(stored) = stored else {
        return true;
    };
    stored.len() != new.len()
        || stored.iter().zip(new).any(|(old, new)| {
            RegionHealth {
                checked_at: new.checked_at,
                ..old.clone()
            } != *new
                || now - old.checked_at >= REGION_HEALTH_REFRESH
        })
}

/// One region of a scheduler as `GET /schedulers/{name}/regions` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegionView {
    pub region: String,
    /// The scheduler lists it (else its rooms are being scaled away).
    pub listed: bool,
    pub weight: u32,
    /// Its runtime answered the last check (true until a first check says otherwise).
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Since when it is reachable or unreachable (absent before a first check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Its share of the desired count at the last check.
    pub desired: u32,
    pub rooms: RoomCounts,
}

/// Every region of the scheduler: those it lists (in order), then any other region its rooms or
/// a check name; each with its rooms' counts and its last health.
pub fn region_views(
    listed: &[SchedulerRegion],
    default_region: &str,
    rooms: &[GameRoom],
    health: &[RegionHealth],
) -> Vec<RegionView> {
    let listed = regions_of(listed, default_region);
    let mut names: Vec<String> = listed.iter().map(|r| r.name.clone()).collect();
    let others = rooms
        .iter()
        .map(|room| room_region(room, default_region).to_string())
        .chain(health.iter().map(|h| h.region.clone()));
    for name in others {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut counts = RoomCounts::default();
            for room in rooms
                .iter()
                .filter(|r| room_region(r, default_region) == name)
            {
                counts.add(room.status);
            }
            let entry = listed.iter().find(|r| r.name == name);
            let checked = health.iter().find(|h| h.region == name);
            RegionView {
                listed: entry.is_some(),
                weight: entry.map_or(0, |r| r.weight),
                reachable: checked.is_none_or(|h| h.reachable),
                last_error: checked.and_then(|h| h.last_error.clone()),
                since: checked.map(|h| h.since),
                desired: checked.map_or(0, |h| h.desired),
                rooms: counts,
                region: name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
