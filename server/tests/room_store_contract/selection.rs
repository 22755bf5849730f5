//! Selection scenarios of the `RoomStore` contract: the scheduler's strategy (packed,
//! distributed), selectors by version and by metadata, regions in order of preference, and
//! selectors over more free rooms than one page of the Redis script.

use std::collections::{BTreeMap, BTreeSet};

use app::domain::allocation::{Selection, Strategy};
use app::domain::room::{GameRoom, Ping, RoomStatus};
use app::ports::RoomStore;
use serde_json::{Value, json};

use super::allocation::new_claim;
use super::{Ctx, at, ping, room};

/// A room of scheduler "s" with its region, version and running matches.
fn placed(id: &str, status: RoomStatus, region: &str, version: &str, matches: u32) -> GameRoom {
    GameRoom {
        region: region.to_string(),
        machine: String::new(),
        version: version.to_string(),
        running_matches: matches,
        ..room("s", id, status)
    }
}

async fn insert(store: &dyn RoomStore, rooms: &[GameRoom]) {
    for room in rooms {
        store.insert(room).await.unwrap();
    }
}

/// Numbers claims apart (ids are unique per scheduler).
static CLAIMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The rooms `n` allocations get, in order (`None` once none can).
async fn take(
    store: &dyn RoomStore,
    scheduler: &str,
    max: u32,
    selection: &Selection,
    n: usize,
) -> Vec<Option<String>> {
    let mut got = Vec::new();
    for i in 0..n {
        let n = CLAIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let claim = new_claim(&format!("{scheduler}-{n}-{i}"), 60);
        let claim = store
            .allocate(scheduler, max, selection, &claim)
            .await
            .unwrap();
        got.push(claim.map(|c| c.claim.room));
    }
    got
}

fn names(rooms: &[&str]) -> Vec<Option<String>> {
    rooms
        .iter()
        .map(|r| (!r.is_empty()).then(|| r.to_string()))
        .collect()
}

fn strategy(strategy: Strategy) -> Selection {
    Selection::any(strategy)
}

fn with_versions(versions: &[&str]) -> Selection {
    Selection {
        versions: Some(versions.iter().map(|v| v.to_string()).collect()),
        ..Selection::default()
    }
}

fn with_metadata(pairs: Value) -> Selection {
    let Value::Object(pairs) = pairs else {
        panic!("an object")
    };
    Selection {
        metadata: pairs.into_iter().collect(),
        ..Selection::default()
    }
}

fn with_regions(regions: &[&str]) -> Selection {
    Selection {
        regions: regions.iter().map(|r| r.to_string()).collect(),
        ..Selection::default()
    }
}

/// `packed` fills occupied rooms first, the busiest first (ties: greatest id); `distributed`
/// takes the least-loaded room first (ready before occupied, then the smallest id).
pub(super) async fn strategies_order_the_rooms(ctx: Ctx) {
    let store = ctx.store;
    for scheduler in ["s", "t"] {
        for (id, status, matches) in [
            ("a", RoomStatus::Ready, 0),
            ("b", RoomStatus::Ready, 1),
            ("c", RoomStatus::Occupied, 2),
            ("d", RoomStatus::Occupied, 1),
        ] {
            let mut room = placed(id, status, "eu-west", "v1", matches);
            room.scheduler = scheduler.to_string();
            store.insert(&room).await.unwrap();
        }
    }
    let packed = take(store.as_ref(), "s", 3, &strategy(Strategy::Packed), 9).await;
    assert_eq!(packed, names(&["c", "d", "d", "b", "b", "a", "a", "a", ""]));
    let spread = take(store.as_ref(), "t", 3, &strategy(Strategy::Distributed), 9).await;
    assert_eq!(spread, names(&["a", "a", "b", "d", "a", "b", "c", "d", ""]));
    // Single-match rooms, distributed: ready idle rooms by id, never an occupied one.
    insert(
        store.as_ref(),
        &[
            placed("y", RoomStatus::Ready, "eu-west", "v1", 0),
            placed("x", RoomStatus::Ready, "us-east", "v1", 0),
        ],
    )
    .await;
    let single = take(store.as_ref(), "s", 1, &strategy(Strategy::Distributed), 3).await;
    assert_eq!(single, names(&["x", "y", ""]));
}

/// A version selector takes only rooms of those versions; labels resolve to versions in the
/// service, so the store sees a set of versions (an empty set matches nothing).
pub(super) async fn version_selectors_take_rooms_of_those_versions(ctx: Ctx) {
    let store = ctx.store;
    insert(
        store.as_ref(),
        &[
            placed("r1", RoomStatus::Ready, "eu-west", "v1", 0),
            placed("r2", RoomStatus::Ready, "eu-west", "v2", 0),
            placed("r3", RoomStatus::Ready, "eu-west", "v1", 0),
        ],
    )
    .await;
    let v2 = with_versions(&["v2"]);
    assert_eq!(
        take(store.as_ref(), "s", 1, &v2, 2).await,
        names(&["r2", ""])
    );
    let nothing = with_versions(&[]);
    assert_eq!(
        take(store.as_ref(), "s", 1, &nothing, 1).await,
        names(&[""])
    );
    let both = with_versions(&["v2", "v1"]);
    assert_eq!(
        take(store.as_ref(), "s", 1, &both, 3).await,
        names(&["r3", "r1", ""])
    );
}

/// A metadata selector compares the room's metadata (as pinged) key by key, as JSON values.
pub(super) async fn metadata_selectors_match_the_rooms_metadata(ctx: Ctx) {
    let store = ctx.store;
    insert(
        store.as_ref(),
        &[
            placed("dust", RoomStatus::Ready, "eu-west", "v1", 0),
            placed("nuke", RoomStatus::Ready, "eu-west", "v1", 0),
            placed("bare", RoomStatus::Ready, "eu-west", "v1", 0),
        ],
    )
    .await;
    for (id, metadata) in [
        (
            "dust",
            json!({"map": "dust", "mode": {"ranked": true, "size": 5}, "tags": ["a", "b"]}),
        ),
        (
            "nuke",
            json!({"map": "nuke", "mode": {"ranked": false}, "n": null}),
        ),
    ] {
        let Value::Object(metadata) = metadata else {
            unreachable!()
        };
        let with = Ping {
            metadata: Some(metadata.into_iter().collect::<BTreeMap<_, _>>()),
            ..ping(RoomStatus::Ready)
        };
        store
            .ping("s", id, &with, at(1_800_000_000))
            .await
            .unwrap()
            .unwrap();
    }
    let cases = [
        (json!({"map": "dust"}), "dust"),
        (json!({"mode": {"size": 5.0, "ranked": true}}), "dust"),
        (json!({"tags": ["a", "b"], "map": "dust"}), "dust"),
        (json!({"n": null}), "nuke"),
        (json!({"map": "nuke", "mode": {"ranked": false}}), "nuke"),
        (json!({"tags": ["b", "a"]}), ""),
        (json!({"mode": {"ranked": true}}), ""),
        (json!({"map": "dust", "n": null}), ""),
        (json!({"missing": 1}), ""),
    ];
    for (i, (pairs, want)) in cases.into_iter().enumerate() {
        let selection = with_metadata(pairs.clone());
        let got = store
            .allocate("s", 1, &selection, &new_claim(&format!("m{i}"), 60))
            .await
            .unwrap();
        assert_eq!(
            got.as_ref().map(|c| c.claim.room.as_str()).unwrap_or(""),
            want,
            "{pairs}"
        );
        if let Some(claim) = got {
            store.release("s", &claim.claim.id).await.unwrap().unwrap();
        }
    }
}

/// Regions are tried in order: the next one only when the one before has no room that can
/// take the claim and matches; regions not listed are never used. Rooms with no region are in
/// region "".
pub(super) async fn regions_are_tried_in_order_of_preference(ctx: Ctx) {
    let store = ctx.store;
    insert(
        store.as_ref(),
        &[
            placed("eu-1", RoomStatus::Ready, "eu-west", "v1", 0),
            placed("us-1", RoomStatus::Ready, "us-east", "v1", 0),
            placed("us-2", RoomStatus::Ready, "us-east", "v2", 0),
            placed("old-1", RoomStatus::Ready, "", "v1", 0),
            placed("ap-1", RoomStatus::Ready, "ap-south", "v1", 0),
        ],
    )
    .await;
    let mut us_then_eu = with_regions(&["us-east", "eu-west"]);
    us_then_eu.versions = Some(BTreeSet::from(["v1".to_string()]));
    // us-2 is of another version: us-east has one matching room, then eu-west takes over.
    assert_eq!(
        take(store.as_ref(), "s", 1, &us_then_eu, 3).await,
        names(&["us-1", "eu-1", ""])
    );
    let none_there = with_regions(&["mars"]);
    assert_eq!(
        take(store.as_ref(), "s", 1, &none_there, 1).await,
        names(&[""])
    );
    let unnamed = with_regions(&["", "us-east"]);
    assert_eq!(
        take(store.as_ref(), "s", 1, &unnamed, 3).await,
        names(&["old-1", "us-2", ""])
    );
    // No preference: any region (ap-south is the one left).
    assert_eq!(
        take(store.as_ref(), "s", 1, &Selection::default(), 2).await,
        names(&["ap-1", ""])
    );
}

/// Multi-match rooms take claims up to `maxMatches` under a selector too, and a selector never
/// spills over to rooms that do not match, however much capacity they have.
pub(super) async fn multi_match_rooms_take_selected_claims_up_to_max(ctx: Ctx) {
    let store = ctx.store;
    insert(
        store.as_ref(),
        &[
            placed("big-v1", RoomStatus::Ready, "eu-west", "v1", 0),
            placed("busy-v2", RoomStatus::Occupied, "us-east", "v2", 1),
            placed("idle-v2", RoomStatus::Ready, "eu-west", "v2", 0),
        ],
    )
    .await;
    let mut v2 = with_versions(&["v2"]);
    v2.regions = vec!["us-east".into(), "eu-west".into()];
    assert_eq!(
        take(store.as_ref(), "s", 3, &v2, 6).await,
        names(&["busy-v2", "busy-v2", "idle-v2", "idle-v2", "idle-v2", ""])
    );
    assert_eq!(store.claims("s", Some("big-v1")).await.unwrap(), vec![]);
    let mut v1_spread = with_versions(&["v1"]);
    v1_spread.strategy = Strategy::Distributed;
    assert_eq!(
        take(store.as_ref(), "s", 3, &v1_spread, 4).await,
        names(&["big-v1", "big-v1", "big-v1", ""])
    );
}

/// More free rooms than one page of the Redis script: the only match, last in index order, is
/// still found, and a selector that matches none scans them all and answers none.
pub(super) async fn selectors_find_the_last_match_among_many(ctx: Ctx) {
    let store = ctx.store;
    let mut rooms: Vec<GameRoom> = (0..150)
        .map(|i| placed(&format!("r{i:03}"), RoomStatus::Ready, "eu-west", "v1", 0))
        .collect();
    // Packed ties go to the greatest id: "a-last" comes after every rNNN.
    rooms.push(placed("a-last", RoomStatus::Ready, "eu-west", "v2", 0));
    insert(store.as_ref(), &rooms).await;
    let labelled = Ping {
        metadata: Some(BTreeMap::from([("map".to_string(), json!("rare"))])),
        ..ping(RoomStatus::Ready)
    };
    store
        .ping("s", "a-last", &labelled, at(1_800_000_000))
        .await
        .unwrap()
        .unwrap();
    let rare = with_metadata(json!({"map": "rare"}));
    assert_eq!(
        take(store.as_ref(), "s", 1, &rare, 2).await,
        names(&["a-last", ""])
    );
    let v3 = with_versions(&["v3"]);
    assert_eq!(take(store.as_ref(), "s", 1, &v3, 1).await, names(&[""]));
    assert_eq!(
        take(store.as_ref(), "s", 1, &Selection::default(), 1).await,
        names(&["r149"])
    );
}
