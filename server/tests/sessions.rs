//! Dashboard sessions over HTTP, as browsers use them: signing out in one browser ends the
//! user's sessions in every browser; disabling a user ends them for good; a session in use is
//! renewed (sliding expiry) and an idle one ends. The real server, on SQLite and PostgreSQL
//! (sessions and session epochs are in the SQL database).

#[macro_use]
mod common;

use std::time::Duration;

use app::domain::user::Role;
use common::browser::Browser;
use common::{ADMIN_PASSWORD, Backend, TestServer};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

on_databases!(
    signing_out_ends_every_session_of_the_user,
    disabling_a_user_ends_its_sessions_for_good,
    sessions_in_use_outlive_the_window_and_idle_ones_end,
);

/// Whether `browser` is still signed in: as the server functions see it and as pages do.
async fn signed_in_as(browser: &mut Browser<'_>) -> Option<String> {
    let user = browser.current_user().await;
    let page = browser.get("/ui/schedulers").await.status;
    match user {
        Value::Null => {
            assert_eq!(page, StatusCode::SEE_OTHER, "pages follow the session");
            None
        }
        user => {
            assert_eq!(page, StatusCode::OK, "pages follow the session");
            Some(user["username"].as_str().unwrap().to_string())
        }
    }
}

async fn signing_out_ends_every_session_of_the_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .create_user("bob", "bob-password-1", Role::Viewer, &["g1"])
        .await;
    let mut laptop = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let mut phone = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let mut bob = Browser::signed_in(&server, "bob", "bob-password-1").await;
    assert_ne!(laptop.cookie, phone.cookie, "two sessions");
    assert_eq!(signed_in_as(&mut phone).await.as_deref(), Some("admin"));

    laptop.call("sign_out", &[]).await.ok();
    assert_eq!(laptop.cookie, None);
    // The other browser's session ended at once; another user's did not.
    assert_eq!(signed_in_as(&mut phone).await, None);
    assert_eq!(signed_in_as(&mut bob).await.as_deref(), Some("bob"));

    // Signing in again works, and does not revive the old session.
    let mut again = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    assert_eq!(signed_in_as(&mut again).await.as_deref(), Some("admin"));
    assert_eq!(signed_in_as(&mut phone).await, None);
}

async fn disabling_a_user_ends_its_sessions_for_good(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .create_user("bob", "bob-password-1", Role::Viewer, &["g1"])
        .await;
    let mut bob = Browser::signed_in(&server, "bob", "bob-password-1").await;
    assert_eq!(signed_in_as(&mut bob).await.as_deref(), Some("bob"));
    let admin = server.admin();
    admin
        .patch("/users/bob", &json!({"disabled": true}))
        .await
        .ok();
    assert_eq!(signed_in_as(&mut bob).await, None);
    // Enabled again: the old session stays ended; a new sign-in works.
    admin
        .patch("/users/bob", &json!({"disabled": false}))
        .await
        .ok();
    assert_eq!(signed_in_as(&mut bob).await, None);
    let mut fresh = Browser::signed_in(&server, "bob", "bob-password-1").await;
    assert_eq!(signed_in_as(&mut fresh).await.as_deref(), Some("bob"));
}

async fn sessions_in_use_outlive_the_window_and_idle_ones_end(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.session_idle_secs = 2).await;
    let mut busy = Browser::new(&server);
    let reply = busy.sign_in("admin", ADMIN_PASSWORD).await;
    let cookie = reply.headers[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("Max-Age=2"), "{cookie}");
    let mut idle = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;

    // Used every second for twice the window: still signed in, the cookie renewed each time.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let reply = busy.call("current_user", &[]).await;
        assert_eq!(reply.ok()["username"], "admin", "the session slid");
        let renewed = reply.headers[SET_COOKIE].to_str().unwrap();
        assert!(renewed.contains("Max-Age=2"), "{renewed}");
    }
    assert_eq!(signed_in_as(&mut busy).await.as_deref(), Some("admin"));
    // The one left alone for as long ended after its window.
    assert_eq!(signed_in_as(&mut idle).await, None);
}
