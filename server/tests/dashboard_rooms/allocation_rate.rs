//! The allocation page's rates: allocations made and refused through the API, counted by the
//! room store and seen through the page's server function and in its server-rendered HTML, by
//! a viewer of the game; others are refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{assert_refused, server_with_a_room};
use crate::common::Backend;
use crate::common::browser::Browser;

/// The rates a viewer gets for the last `minutes`.
async fn rates(viewer: &mut Browser<'_>, name: &str, minutes: &str) -> Value {
    viewer
        .call("allocation_rates", &[("name", name), ("minutes", minutes)])
        .await
        .ok()
        .clone()
}

/// Allocations per second summed over the points, times a point's length: the allocations the
/// chart draws.
fn drawn(rates: &Value, column: usize) -> f64 {
    let seconds = rates["seconds_per_point"].as_f64().unwrap();
    rates["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[column].as_f64().unwrap() * seconds)
        .sum()
}

pub(super) async fn the_allocation_page_counts_allocations_and_refusals(backend: Backend) {
    let name = "alloc-rate";
    let (server, room) = server_with_a_room(backend, name).await;
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;

    // Nothing counted yet: a quarter of an hour of empty ten-second points.
    let before = rates(&mut viewer, name, "15").await;
    assert_eq!(
        (before["allocated"].clone(), before["refused"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(before["seconds_per_point"], 10);
    assert_eq!(before["points"].as_array().unwrap().len(), 91, "{before}");

    // The matchmaker takes the one room, is refused twice, releases it and reserves it again;
    // the reservation refused while the room was taken does not count.
    let matchmaker = server.user("editor", "editor-password");
    let allocations = format!("/schedulers/{name}/allocations");
    let reserve = format!("/schedulers/{name}/rooms/{room}/reserve");
    let first = matchmaker.post(&allocations, &json!({})).await;
    let claim = first.expect(StatusCode::CREATED)["claimId"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        matchmaker
            .post(&allocations, &json!({}))
            .await
            .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    }
    matchmaker
        .post(&reserve, &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "NO_ROOM_AVAILABLE");
    matchmaker
        .delete(&format!("{allocations}/{claim}"))
        .await
        .ok();
    matchmaker
        .post(&reserve, &json!({}))
        .await
        .expect(StatusCode::CREATED);

    for minutes in ["15", "60", "1440"] {
        let got = rates(&mut viewer, name, minutes).await;
        assert_eq!(got["allocated"], 2, "{minutes}: {got}");
        assert_eq!(got["refused"], 2, "{minutes}: {got}");
        assert!((drawn(&got, 1) - 2.0).abs() < 1e-9, "{minutes}: {got}");
        assert!((drawn(&got, 2) - 2.0).abs() < 1e-9, "{minutes}: {got}");
        // Points are seconds before now, oldest first, the window's start to now.
        let xs: Vec<f64> = got["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_f64().unwrap())
            .collect();
        let window = minutes.parse::<f64>().unwrap() * 60.0;
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{minutes}: {xs:?}");
        assert!(xs[0] >= -window - 60.0 && xs[xs.len() - 1] <= 0.0, "{xs:?}");
    }
    assert_eq!(
        rates(&mut viewer, name, "1440").await["seconds_per_point"],
        420
    );

    // The page, rendered on the server, draws both lines and says the totals.
    let html = viewer
        .get(&format!("/ui/schedulers/{name}/allocation"))
        .await;
    assert_eq!(html.status, StatusCode::OK);
    for part in [
        r#"id="allocation-rate""#,
        "series-allocated",
        "series-refused",
        "2 allocated, 2 refused (no room free) in the window",
    ] {
        assert!(html.text.contains(part), "{part}: {}", html.text);
    }

    // Offered windows only; unknown schedulers are not found; strangers are not signed in.
    let odd = viewer
        .call("allocation_rates", &[("name", name), ("minutes", "7")])
        .await;
    assert_refused(&odd, StatusCode::BAD_REQUEST, "Invalid");
    let unknown = viewer
        .call("allocation_rates", &[("name", "nope"), ("minutes", "15")])
        .await;
    assert_refused(&unknown, StatusCode::NOT_FOUND, "NotFound");
    let anonymous = Browser::new(&server)
        .call("allocation_rates", &[("name", name), ("minutes", "15")])
        .await;
    assert_refused(&anonymous, StatusCode::UNAUTHORIZED, "Unauthenticated");
}
