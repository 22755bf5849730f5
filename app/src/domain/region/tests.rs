use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

fn regions(weights: &[u32]) -> Vec<SchedulerRegion> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| SchedulerRegion::new(&format!("r{i}"), *w))
        .collect()
}

#[test]
fn splits_by_weight_with_the_largest_remainder() {
    assert_eq!(split(4, &regions(&[1, 1]), &[true, true]), vec![2, 2]);
    assert_eq!(split(5, &regions(&[1, 1]), &[true, true]), vec![3, 2]);
    assert_eq!(split(10, &regions(&[2, 1, 1]), &[true; 3]), vec![5, 3, 2]);
    // 7 * 1/3 = 2.33, 7 * 2/3 = 4.67: the larger remainder takes the extra room.
    assert_eq!(split(7, &regions(&[1, 2]), &[true, true]), vec![2, 5]);
    assert_eq!(split(0, &regions(&[1, 3]), &[true, true]), vec![0, 0]);
}

#[test]
fn a_region_in_outage_gets_nothing_and_the_others_take_its_share() {
    assert_eq!(split(4, &regions(&[1, 1]), &[false, true]), vec![0, 4]);
    assert_eq!(
        split(9, &regions(&[1, 1, 1]), &[true, false, true]),
        vec![5, 0, 4]
    );
    assert_eq!(split(4, &regions(&[1, 1]), &[false, false]), vec![0, 0]);
}

#[test]
fn regions_are_read_from_strings_or_objects() {
    let read: Vec<SchedulerRegion> =
        serde_json::from_str(r#"["eu-west", {"name": "us-east", "weight": 3}, {"name": "ap"}]"#)
            .unwrap();
    assert_eq!(
        read,
        vec![
            SchedulerRegion::new("eu-west", 1),
            SchedulerRegion::new("us-east", 3),
            SchedulerRegion::new("ap", 1)
        ]
    );
    assert_eq!(
        serde_json::to_value(&read[1]).unwrap(),
        serde_json::json!({"name": "us-east", "weight": 3})
    );
}

#[test]
fn health_keeps_since_while_the_state_holds() {
    let t = |s| Utc.timestamp_opt(s, 0).unwrap();
    let up = RegionHealth::after(None, "eu", Ok(()), 2, t(10));
    assert_eq!(up.since, t(10));
    let still = RegionHealth::after(Some(&up), "eu", Ok(()), 2, t(20));
    assert_eq!((still.since, still.checked_at), (t(10), t(20)));
    let down = RegionHealth::after(Some(&still), "eu", Err("refused".into()), 0, t(30));
    assert_eq!((down.reachable, down.since), (false, t(30)));
    assert_eq!(down.last_error.as_deref(), Some("refused"));
    let again = RegionHealth::after(Some(&down), "eu", Err("refused".into()), 0, t(40));
    assert_eq!(again.since, t(30));
}

#[test]
fn region_health_is_stored_on_a_change_or_when_it_grows_old() {
    let t = |s| Utc.timestamp_opt(s, 0).unwrap();
    let up = vec![RegionHealth::after(None, "eu", Ok(()), 2, t(10))];
    let next = |at: i64, desired: u32, outcome: Result<(), String>| {
        vec![RegionHealth::after(
            Some(&up[0]),
            "eu",
            outcome,
            desired,
            t(at),
        )]
    };
    // Unknown: stored. The same a second later: not; ten seconds later: refreshed.
    assert!(worth_storing(None, &up, t(10)));
    assert!(!worth_storing(Some(&up), &next(11, 2, Ok(())), t(11)));
    assert!(!worth_storing(Some(&up), &next(19, 2, Ok(())), t(19)));
    assert!(worth_storing(Some(&up), &next(20, 2, Ok(())), t(20)));
    // Any other change at once: the share, an outage, a region more or less.
    assert!(worth_storing(Some(&up), &next(11, 3, Ok(())), t(11)));
    assert!(worth_storing(
        Some(&up),
        &next(11, 0, Err("refused".into())),
        t(11)
    ));
    let two = [
        up[0].clone(),
        RegionHealth::after(None, "us", Ok(()), 1, t(11)),
    ];
    assert!(worth_storing(Some(&up), &two, t(11)));
    assert!(worth_storing(Some(&two), &up, t(11)));
    assert!(!worth_storing(Some(&[]), &[], t(11)));
}

#[test]
fn views_list_the_scheduler_regions_then_the_others_with_their_rooms() {
    let t = Utc.timestamp_opt(1_000, 0).unwrap();
    let room = GameRoom {
        id: "a".into(),
        scheduler: "s".into(),
        version: "v1".into(),
        status: crate::domain::room::RoomStatus::Ready,
        status_reason: None,
        created_at: t,
        status_changed_at: t,
        last_ping_at: None,
        running_matches: 0,
        metadata: Default::default(),
        address: None,
        region: String::new(),
        machine: String::new(),
    };
    let mut other = room.clone();
    other.id = "b".into();
    other.region = "old".into();
    let views = region_views(&[], DEFAULT_REGION, &[room, other], &[]);
    let names: Vec<&str> = views.iter().map(|v| v.region.as_str()).collect();
    assert_eq!(names, vec![DEFAULT_REGION, "old"]);
    assert_eq!(views[0].rooms.ready, 1);
    assert!(views[0].listed && !views[1].listed);
    assert!(views[1].reachable);
}

proptest! {
    #[test]
    fn the_split_adds_up_and_stays_within_one_of_the_proportional_share(
        desired in 0u32..500,
        weights in proptest::collection::vec(1u32..10, 1..6),
        reachable in proptest::collection::vec(any::<bool>(), 6),
    ) {
        let regions = regions(&weights);
        let reachable = &reachable[..regions.len()];
        let shares = split(desired, &regions, reachable);
        prop_assert_eq!(shares.len(), regions.len());
        let total: u32 = weights.iter().zip(reachable).filter(|(_, r)| **r).map(|(w, _)| *w).sum();
        if total == 0 {
            prop_assert!(shares.iter().all(|s| *s == 0));
        } else {
            prop_assert_eq!(shares.iter().sum::<u32>(), desired);
            for (i, share) in shares.iter().enumerate() {
                if !reachable[i] {
                    prop_assert_eq!(*share, 0);
                    continue;
                }
                let exact = f64::from(desired) * f64::from(weights[i]) / f64::from(total);
                prop_assert!((f64::from(*share) - exact).abs() < 1.0, "{} vs {}", share, exact);
            }
        }
        // Stable: the same input gives the same split.
        prop_assert_eq!(split(desired, &regions, reachable), shares);
    }
}
