use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use proptest::prelude::{Just, any, prop, prop_assert, prop_oneof, proptest};
use proptest::strategy::Strategy as _;
use serde_json::json;

use super::*;
use RoomStatus::*;

fn room(id: &str, status: RoomStatus, matches: u32) -> GameRoom {
    GameRoom {
        id: id.into(),
        scheduler: "s".into(),
        version: "v1".into(),
        status,
        status_reason: None,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
        status_changed_at: DateTime::from_timestamp(0, 0).unwrap(),
        last_ping_at: None,
        running_matches: matches,
        metadata: Default::default(),
        address: None,
        region: String::new(),
        machine: String::new(),
    }
}

fn in_region(mut room: GameRoom, region: &str) -> GameRoom {
    room.region = region.into();
    room
}

fn ids(picked: Option<&GameRoom>) -> Option<&str> {
    picked.map(|r| r.id.as_str())
}

fn packed() -> Selection {
    Selection::any(Strategy::Packed)
}

fn distributed() -> Selection {
    Selection::any(Strategy::Distributed)
}

#[test]
fn packed_picks_the_busiest_room_that_has_room() {
    let rooms = [
        room("a", Ready, 0),
        room("b", Ready, 1),
        room("c", Occupied, 2),
        room("d", Occupied, 1),
        room("e", Terminating, 0),
    ];
    let with = |claims: [u32; 5]| rooms.iter().zip(claims).collect::<Vec<_>>();
    assert_eq!(ids(pick(with([0; 5]), 3, &packed())), Some("c"));
    assert_eq!(ids(pick(with([0, 0, 1, 0, 0]), 3, &packed())), Some("d"));
    assert_eq!(ids(pick(with([0, 0, 1, 2, 0]), 3, &packed())), Some("b"));
    // Single-match rooms: only ready, idle ones; ties go to the greatest id.
    assert_eq!(ids(pick(with([0; 5]), 1, &packed())), Some("a"));
    let idle = [room("a", Ready, 0), room("b", Ready, 0)];
    assert_eq!(
        ids(pick(idle.iter().map(|r| (r, 0)), 1, &packed())),
        Some("b")
    );
    assert_eq!(pick(with([1, 0, 0, 0, 0]), 1, &packed()), None);
}

#[test]
fn distributed_picks_the_least_loaded_room() {
    let rooms = [
        room("a", Occupied, 1),
        room("b", Ready, 1),
        room("c", Ready, 2),
        room("d", Ready, 1),
    ];
    let with = |claims: [u32; 4]| rooms.iter().zip(claims).collect::<Vec<_>>();
    // Equal load: ready before occupied, then the smallest id.
    assert_eq!(ids(pick(with([0; 4]), 3, &distributed())), Some("b"));
    assert_eq!(ids(pick(with([0, 1, 0, 0]), 3, &distributed())), Some("d"));
    assert_eq!(ids(pick(with([0, 1, 0, 1]), 3, &distributed())), Some("a"));
    assert_eq!(ids(pick(with([2, 2, 1, 2]), 3, &distributed())), None);
}

#[test]
fn selectors_match_version_metadata_and_region() {
    let mut a = in_region(room("a", Ready, 0), "eu-west");
    a.metadata = BTreeMap::from([("map".into(), json!("dust")), ("n".into(), json!(1))]);
    let mut b = in_region(room("b", Ready, 0), "us-east");
    b.version = "v2".into();
    let selection = |f: fn(&mut Selection)| {
        let mut s = packed();
        f(&mut s);
        s
    };
    assert!(matches(&a, &packed()));
    let v2 = selection(|s| s.versions = Some(BTreeSet::from(["v2".into()])));
    assert!(!matches(&a, &v2) && matches(&b, &v2));
    let dust = selection(|s| s.metadata = BTreeMap::from([("map".into(), json!("dust"))]));
    assert!(matches(&a, &dust) && !matches(&b, &dust));
    let one = selection(|s| s.metadata = BTreeMap::from([("n".into(), json!(1.0))]));
    assert!(matches(&a, &one), "numbers compare by value");
    let us = selection(|s| s.regions = vec!["us-east".into()]);
    assert!(!matches(&a, &us) && matches(&b, &us));
    let none = selection(|s| s.versions = Some(BTreeSet::new()));
    assert!(none.matches_nothing() && !matches(&a, &none));
}

#[test]
fn regions_are_tried_in_order() {
    let rooms = [
        in_region(room("eu", Ready, 0), "eu-west"),
        in_region(room("us", Ready, 0), "us-east"),
        in_region(room("old", Ready, 0), ""),
    ];
    let order = |regions: &[&str]| {
        let mut s = packed();
        s.regions = regions.iter().map(|r| r.to_string()).collect();
        s
    };
    let claims = |c: [u32; 3]| rooms.iter().zip(c).collect::<Vec<_>>();
    let us_first = order(&["us-east", "eu-west"]);
    assert_eq!(ids(pick(claims([0; 3]), 1, &us_first)), Some("us"));
    assert_eq!(ids(pick(claims([0, 1, 0]), 1, &us_first)), Some("eu"));
    assert_eq!(pick(claims([1, 1, 0]), 1, &us_first), None);
    assert_eq!(ids(pick(claims([1, 1, 0]), 1, &order(&[""]))), Some("old"));
    assert_eq!(ids(pick(claims([1, 1, 0]), 1, &packed())), Some("old"));
}

#[test]
fn selectors_resolve_labels_to_versions() {
    let versions = [
        VersionLabels {
            version: "v1".into(),
            labels: BTreeMap::from([("mode".into(), "ranked".into())]),
        },
        VersionLabels {
            version: "v2".into(),
            labels: BTreeMap::from([
                ("mode".into(), "ranked".into()),
                ("map".into(), "big".into()),
            ]),
        },
    ];
    let resolve = |selector: RoomSelector| selector.resolve(Strategy::Distributed, &versions);
    let any = resolve(RoomSelector::default()).unwrap();
    assert_eq!(any, Selection::any(Strategy::Distributed));
    let ranked = RoomSelector {
        labels: BTreeMap::from([("mode".into(), "ranked".into())]),
        ..Default::default()
    };
    let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    assert_eq!(
        resolve(ranked.clone()).unwrap().versions,
        set(&["v1", "v2"])
    );
    let big = RoomSelector {
        labels: BTreeMap::from([("map".into(), "big".into())]),
        version: Some("v1".into()),
        ..Default::default()
    };
    assert_eq!(resolve(big).unwrap().versions, set(&[]));
    let v9 = RoomSelector {
        version: Some("v9".into()),
        ..Default::default()
    };
    assert_eq!(resolve(v9).unwrap_err().field, "selector.version");
}

#[test]
fn selectors_are_checked_with_their_paths() {
    let fields = |selector: RoomSelector| -> Vec<String> {
        selector
            .validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    assert!(fields(RoomSelector::default()).is_empty());
    let bad = RoomSelector {
        version: Some(" ".into()),
        regions: vec!["eu".into(), "us".into(), "eu".into()],
        metadata: BTreeMap::from([(String::new(), json!(1))]),
        ..Default::default()
    };
    assert_eq!(
        fields(bad),
        [
            "selector.version",
            "selector.regions[2]",
            "selector.metadata"
        ]
    );
    let many = RoomSelector {
        regions: (0..=MAX_SELECTOR_REGIONS)
            .map(|i| format!("r{i}"))
            .collect(),
        ..Default::default()
    };
    assert_eq!(fields(many), ["selector.regions"]);
    // Unknown fields are refused when read.
    assert!(serde_json::from_value::<RoomSelector>(json!({"zone": "x"})).is_err());
}

#[test]
fn json_values_compare_as_the_stores_do() {
    assert!(same_json(&json!(1), &json!(1.0)));
    assert!(same_json(
        &json!({"a": [1, {"b": null}]}),
        &json!({"a": [1.0, {"b": null}]})
    ));
    assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    assert!(!same_json(&json!([1, 2]), &json!([2, 1])));
    assert!(!same_json(&json!("1"), &json!(1)));
    assert!(same_json(&json!([]), &json!({})));
    assert!(!same_json(&json!([1]), &json!({"1": 1})));
}

// ---------------------------------------------------------------------------------------------
// Properties over random rooms and selections.

const REGIONS: [&str; 3] = ["", "eu", "us"];

fn arb_room() -> impl proptest::strategy::Strategy<Value = (GameRoom, u32)> {
    (
        prop_oneof![
            Just(Ready),
            Just(Occupied),
            Just(Pending),
            Just(Terminating)
        ],
        0u32..4,
        0u32..3,
        0usize..3,
        0usize..3,
        prop::option::of(0i64..3),
    )
        .prop_map(|(status, matches, claims, region, version, map)| {
            let mut r = room("", status, matches);
            r.region = REGIONS[region].into();
            r.version = format!("v{version}");
            if let Some(map) = map {
                r.metadata.insert("map".into(), json!(map));
            }
            (r, claims)
        })
}

fn arb_selection() -> impl proptest::strategy::Strategy<Value = Selection> {
    (
        any::<bool>(),
        prop::option::of(prop::collection::btree_set(0usize..3, 0..3)),
        prop::option::of(0i64..3),
        prop::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        any::<bool>(),
    )
        .prop_map(|(distributed, versions, map, regions, reverse)| {
            let mut regions: Vec<String> = regions.iter().map(|&i| REGIONS[i].into()).collect();
            if reverse {
                regions.reverse();
            }
            Selection {
                strategy: if distributed {
                    Strategy::Distributed
                } else {
                    Strategy::Packed
                },
                versions: versions.map(|v| v.iter().map(|i| format!("v{i}")).collect()),
                metadata: map
                    .map(|m| BTreeMap::from([("map".into(), json!(m))]))
                    .unwrap_or_default(),
                regions,
            }
        })
}

fn names(regions: &[&str]) -> Vec<String> {
    regions.iter().map(|r| r.to_string()).collect()
}

#[test]
fn the_default_region_also_finds_the_rooms_that_carry_no_region_right_after_its_own() {
    let expand = |regions: &[&str]| with_unnamed_rooms(&names(regions), "default");
    assert_eq!(expand(&[]), names(&[]));
    assert_eq!(expand(&["us", "eu"]), names(&["us", "eu"]));
    assert_eq!(expand(&["default"]), names(&["default", ""]));
    assert_eq!(
        expand(&["us", "default", "eu"]),
        names(&["us", "default", "", "eu"])
    );
    // `""` stands for the default region too; each region once, order kept.
    assert_eq!(expand(&["", "us"]), names(&["default", "", "us"]));
    assert_eq!(
        expand(&["us", "", "default"]),
        names(&["us", "default", ""])
    );
}

proptest! {
    #[test]
    fn pick_takes_the_first_eligible_room_of_the_first_region_that_has_one(
        mut rooms in prop::collection::vec(arb_room(), 0..24),
        max in 1u32..4,
        selection in arb_selection(),
    ) {
        for (i, (room, _)) in rooms.iter_mut().enumerate() {
            room.id = format!("r{i:02}");
        }
        let picked = pick(rooms.iter().map(|(r, c)| (r, *c)), max, &selection);
        let eligible: Vec<(&GameRoom, u64)> = rooms
            .iter()
            .filter(|(r, c)| can_take(r.status, r.running_matches, *c, max) && matches(r, &selection))
            .map(|(r, c)| (r, u64::from(r.running_matches) + u64::from(*c)))
            .collect();
        match picked {
            None => prop_assert!(eligible.is_empty(), "a room was there: {eligible:?}"),
            Some(room) => {
                let (_, claims) = rooms.iter().find(|(r, _)| r.id == room.id).unwrap();
                // Never a room that cannot take the claim or does not match.
                prop_assert!(can_take(room.status, room.running_matches, *claims, max));
                prop_assert!(matches(room, &selection));
                let load = u64::from(room.running_matches) + u64::from(*claims);
                // Region preference: no listed region before the room's has an eligible room.
                if !selection.regions.is_empty() {
                    let rank = selection.regions.iter().position(|r| *r == room.region).unwrap();
                    for earlier in &selection.regions[..rank] {
                        prop_assert!(eligible.iter().all(|(r, _)| &r.region != earlier));
                    }
                }
                // Strategy order among the eligible rooms of the same preference.
                let rivals = eligible.iter().filter(|(r, _)| {
                    selection.regions.is_empty() || r.region == room.region
                });
                for (rival, rival_load) in rivals {
                    match selection.strategy {
                        Strategy::Packed => {
                            let occupied = |r: &GameRoom| r.status == Occupied;
                            prop_assert!(occupied(room) || !occupied(rival));
                            if occupied(room) == occupied(rival) {
                                prop_assert!(load >= *rival_load);
                            }
                        }
                        Strategy::Distributed => prop_assert!(load <= *rival_load),
                    }
                }
            }
        }
    }
}
