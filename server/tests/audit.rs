//! The audit log end to end: changes made through the API and the dashboard's user
//! administration appear in `GET /audit`, newest first, with who made them and what changed
//! (secret values hidden); readers see only their games; filters and pages work. The real
//! server on port 0, on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use app::domain::user::Role;
use common::{ADMIN_PASSWORD, Api, Backend, TestServer, send};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

on_databases!(changes_are_audited_and_read_as_roles_allow);

/// Rooms that run but never ping: a major version's validation room waits, so its operation
/// can be canceled.
fn silent(name: &str, token: &str) -> Value {
    let (rooms, start) = if name == "audited" {
        (1, 43200)
    } else {
        (0, 43300)
    };
    json!({
        "name": name, "game": "g1", "roomsReplicas": rooms,
        "portRange": {"start": start, "end": start + 100},
        "spec": {"terminationGracePeriod": "1s", "containers": [{
            "name": "game", "image": "silent", "command": ["/bin/sleep", "120"],
            "environment": [
                {"name": "MODE", "value": "test"},
                {"name": "TOKEN", "value": token, "secret": true}
            ],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    })
}

async fn wait_status(api: &Api<'_>, scheduler: &str, id: &str, status: &str) {
    let started = Instant::now();
    loop {
        let reply = api
            .get(&format!("/schedulers/{scheduler}/operations/{id}"))
            .await;
        let operation = &reply.ok()["operation"];
        if operation["status"] == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited for {status}: {operation:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls a dashboard server function as a signed-in admin (form fields, as `ActionForm`).
async fn as_admin_in_dashboard(server: &TestServer, calls: &[(&str, &[(&str, &str)])]) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = send(client.post(server.url("/api/sign_in")).form(&[
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
        ("next", ""),
    ]))
    .await;
    let cookie = signed_in
        .headers
        .get(SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("signing in sets a cookie: {}", signed_in.text))
        .to_string();
    for (endpoint, form) in calls {
        let reply = send(
            client
                .post(server.url(&format!("/api/{endpoint}")))
                .header(COOKIE, &cookie)
                .form(form),
        )
        .await;
        assert!(reply.status.is_success(), "{endpoint}: {}", reply.text);
    }
}

fn actions(list: &Value) -> Vec<&str> {
    list["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries in {list}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

fn change<'a>(entry: &'a Value, path: &str) -> &'a Value {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no change of {path} in {entry:#}"))
}

async fn changes_are_audited_and_read_as_roles_allow(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.validation_attempts = 1).await;
    let admin = server.admin();
    admin
        .post("/schedulers", &silent("audited", "top-secret"))
        .await
        .ok();
    admin
        .post("/schedulers", &silent("other", "other-secret"))
        .await
        .ok();

    // Autoscaling only: a minor version, audited as an autoscaling change.
    admin
        .patch(
            "/schedulers/audited",
            &json!({"autoscaling": {"min": 1, "max": 5, "policy":
                {"type": "fixedBuffer", "parameters": {"amount": 2}}}}),
        )
        .await
        .ok();

    // A major version (new image, new secret) waits for its validation room: cancel it.
    let mut v2 = silent("audited", "new-secret");
    v2["spec"]["containers"][0]["image"] = json!("silent:2");
    let queued = admin
        .clone()
        .queued()
        .post("/schedulers/audited", &v2)
        .await;
    let operation = queued.ok()["operationId"].as_str().unwrap().to_string();
    wait_status(&admin, "audited", &operation, "in_progress").await;
    admin
        .post(
            &format!("/schedulers/audited/operations/{operation}/cancel"),
            &json!({}),
        )
        .await
        .ok();
    wait_status(&admin, "audited", &operation, "canceled").await;

    admin
        .put("/schedulers/audited", &json!({"version": "v1"}))
        .await
        .ok();
    admin.delete("/schedulers/audited").await.ok();
    as_admin_in_dashboard(
        &server,
        &[
            (
                "create_user",
                &[
                    ("username", "carol"),
                    ("password", "carol-password"),
                    ("role", "viewer"),
                    ("games", "g1"),
                ],
            ),
            (
                "update_user",
                &[
                    ("username", "carol"),
                    ("role", "editor"),
                    ("games", "g1 g2"),
                ],
            ),
            (
                "reset_password",
                &[("username", "carol"), ("password", "carol-password-2")],
            ),
        ],
    )
    .await;

    // Newest first, each by admin, with what changed.
    let reply = admin.get("/audit").await;
    let list = reply.ok();
    assert_eq!(
        actions(list),
        [
            "password_reset",
            "user_changed",
            "user_created",
            "scheduler_deleted",
            "version_switched",
            "operation_canceled",
            "new_version",
            "autoscaling_changed",
            "scheduler_created",
            "scheduler_created",
        ]
    );
    let entries = list["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["actor"] == "admin"), "{list:#}");
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()),
        "{list:#}"
    );
    for secret in ["top-secret", "new-secret", "other-secret", "carol-password"] {
        assert!(!reply.text.contains(secret), "{secret} in the audit log");
    }
    let role = change(&entries[1], "role");
    assert_eq!(
        (&role["before"], &role["after"]),
        (&json!("viewer"), &json!("editor"))
    );
    assert_eq!(change(&entries[1], "games[1]")["after"], "g2");
    assert_eq!(entries[2]["after"]["username"], "carol");
    assert_eq!(entries[3]["scheduler"], "audited");
    assert_eq!(entries[3]["game"], "g1");
    assert_eq!(change(&entries[3], "")["after"], Value::Null);
    let switched = change(&entries[4], "version");
    assert_eq!(switched["before"], "v1.1");
    assert_eq!(switched["after"], "v1");
    assert_eq!(change(&entries[5], "cancelRequested")["after"], true);
    let image = change(&entries[6], "spec.containers[0].image");
    assert_eq!(
        (&image["before"], &image["after"]),
        (&json!("silent"), &json!("silent:2"))
    );
    let token = change(&entries[6], "spec.containers[0].environment[1].value");
    assert_eq!(token["before"], "(hidden)");
    assert_eq!(token["after"], "(hidden, changed)");
    assert_eq!(change(&entries[7], "autoscaling")["before"], Value::Null);
    assert_eq!(change(&entries[7], "autoscaling")["after"]["max"], 5);
    assert_eq!(entries[7]["changes"].as_array().unwrap().len(), 1);
    assert_eq!(entries[8]["scheduler"], "other");

    // Filters: per scheduler, per game; pages follow `next`.
    let audited = admin.get("/audit?scheduler=audited").await;
    assert_eq!(audited.ok()["entries"].as_array().unwrap().len(), 6);
    assert!(
        audited.ok()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["scheduler"] == "audited")
    );
    assert_eq!(
        admin.get("/audit?game=g1").await.ok()["entries"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let first = admin.get("/audit?limit=4").await;
    assert_eq!(actions(first.ok()), actions(list)[..4]);
    let next = first.ok()["next"].as_i64().expect("a next page");
    let second = admin.get(&format!("/audit?limit=4&before={next}")).await;
    assert_eq!(actions(second.ok()), actions(list)[4..8]);

    // Readers: only the games they may read, never user changes.
    server
        .create_user("stranger", "stranger-password", Role::Viewer, &["g2"])
        .await;
    server
        .create_user("watcher", "watcher-password", Role::Viewer, &["g1"])
        .await;
    let stranger = server.user("stranger", "stranger-password");
    assert_eq!(
        actions(stranger.get("/audit").await.ok()),
        Vec::<&str>::new()
    );
    assert_eq!(
        actions(stranger.get("/audit?game=g1").await.ok()),
        Vec::<&str>::new()
    );
    let watcher = server.user("watcher", "watcher-password");
    assert_eq!(
        actions(watcher.get("/audit").await.ok()),
        actions(list)[3..]
    );

    // The JSON API's user changes go through the same use case: a deletion is recorded too.
    admin
        .delete("/users/carol")
        .await
        .expect(StatusCode::NO_CONTENT);
    let latest = admin.get("/audit?limit=1").await;
    let deleted = &latest.ok()["entries"][0];
    assert_eq!(deleted["action"], "user_deleted", "{deleted:#}");
    assert_eq!(deleted["before"]["username"], "carol");
    assert_eq!(deleted["after"], Value::Null);

    // Bad parameters name the field; no credentials, no log.
    admin.get("/audit?limit=0").await.expect_invalid(&["limit"]);
    admin
        .get("/audit?limit=many&before=x")
        .await
        .expect_invalid(&["limit", "before"]);
    admin
        .get("/audit?game=No%20Game")
        .await
        .expect_invalid(&["game"]);
    admin
        .get("/audit?scheduler=Bad_Name")
        .await
        .expect_invalid(&["scheduler"]);
    admin
        .get("/audit?before=999999")
        .await
        .expect_invalid(&["before"]);
    // A parameter given twice is refused as JSON naming it, like every other query error.
    admin
        .get("/audit?limit=1&limit=2")
        .await
        .expect_invalid(&["limit"]);
    server
        .anonymous()
        .get("/audit")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}
