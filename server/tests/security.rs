//! Least privilege, black box over HTTP: who reads what, who may run commands on Baton's host,
//! password guessing, cross-site requests.

#[macro_use]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use app::domain::user::Role;
use common::{Backend, Reply, TestServer, seed, send};
use reqwest::header::{CONTENT_TYPE, ORIGIN, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    reads_follow_the_games_a_user_has_a_role_in,
    secret_environment_values_are_hidden_from_readers,
    local_runtime_schedulers_are_an_administrators_right,
    password_guessing_is_limited_per_client_address,
    parallel_guesses_do_not_slip_past_the_limit,
    a_stranger_cannot_lock_a_user_out,
    cross_site_requests_change_nothing,
);

/// A scheduler of `game` whose container has a plain, a secret and a `valueFrom` variable.
fn with_secrets(name: &str, game: &str) -> Value {
    let mut body = seed(name, game);
    body["spec"]["containers"][0]["environment"] = json!([
        {"name": "PLAIN", "value": "plain-value"},
        {"name": "API_KEY", "value": "the-secret-value", "secret": true},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    ]);
    body
}

fn names(reply: &Reply) -> Vec<String> {
    let mut names: Vec<String> = reply.ok()["schedulers"]
        .as_array()
        .expect("a list of schedulers")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

async fn reads_follow_the_games_a_user_has_a_role_in(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    admin.post("/schedulers", &seed("ours", "g1")).await.ok();
    admin.post("/schedulers", &seed("theirs", "g2")).await.ok();
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["g1"])
        .await;
    server
        .create_user("editor", "editor-password", Role::Editor, &["g1"])
        .await;
    server
        .create_user("nobody", "nobody-password", Role::Viewer, &[])
        .await;

    for (who, password) in [("viewer", "viewer-password"), ("editor", "editor-password")] {
        let api = server.user(who, password);
        assert_eq!(names(&api.get("/schedulers").await), ["ours"], "{who}");
        assert_eq!(names(&api.get("/schedulers/info").await), ["ours"], "{who}");
        api.get("/schedulers/ours").await.ok();
        for path in [
            "/schedulers/theirs",
            "/schedulers/theirs/versions",
            "/schedulers/theirs/rooms",
            "/schedulers/theirs/rooms/history",
            "/schedulers/theirs/autoscaling/decisions",
            "/scheduler/theirs/rooms/some-room/address",
        ] {
            // As if it did not exist: the answer does not even confirm the name.
            api.get(path)
                .await
                .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        // Nor can they change it.
        api.patch("/schedulers/theirs", &json!({"roomsReplicas": 5}))
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
        api.delete("/schedulers/theirs")
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let nobody = server.user("nobody", "nobody-password");
    assert!(names(&nobody.get("/schedulers").await).is_empty());
    nobody
        .get("/schedulers/ours")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(names(&admin.get("/schedulers").await), ["ours", "theirs"]);
    // Nothing changed.
    assert_eq!(
        admin.get("/schedulers/theirs").await.ok()["scheduler"]["roomsReplicas"],
        1
    );
}

async fn secret_environment_values_are_hidden_from_readers(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.local_runtime_editor_games = vec!["g1".into()];
    })
    .await;
    let created = server
        .admin()
        .post("/schedulers", &with_secrets("ours", "g1"))
        .await
        .ok()
        .clone();
    let env = &created["scheduler"]["spec"]["containers"][0]["environment"];
    assert_eq!(env[1]["value"], "the-secret-value", "the admin sees it");
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["g1"])
        .await;
    server
        .create_user("editor", "editor-password", Role::Editor, &["g1"])
        .await;

    let viewer = server.user("viewer", "viewer-password");
    for path in ["/schedulers/ours", "/schedulers/ours?version=v1"] {
        let reply = viewer.get(path).await;
        let env = &reply.ok()["scheduler"]["spec"]["containers"][0]["environment"];
        assert_eq!(env[0]["value"], "plain-value");
        assert_eq!(env[1]["value"], "(hidden)");
        assert_eq!(env[2]["value"], "(hidden)");
        assert!(env[2].get("valueFrom").is_none(), "{env}");
        assert!(!reply.text.contains("the-secret-value"), "{}", reply.text);
        assert!(!reply.text.contains("secretKeyRef"), "{}", reply.text);
    }
    let listed = viewer.get("/schedulers").await;
    assert!(!listed.text.contains("the-secret-value"));

    // The game's editor sees and keeps what it may change.
    let editor = server.user("editor", "editor-password");
    let seen = editor.get("/schedulers/ours").await;
    assert_eq!(
        seen.ok()["scheduler"]["spec"]["containers"][0]["environment"][1]["value"],
        "the-secret-value"
    );
    editor
        .patch("/schedulers/ours", &json!({"roomsReplicas": 2}))
        .await
        .ok();
    let after = server.admin().get("/schedulers/ours").await;
    assert_eq!(
        after.ok()["scheduler"]["spec"]["containers"][0]["environment"],
        *env
    );
}

async fn local_runtime_schedulers_are_an_administrators_right(backend: Backend) {
    // The test server runs rooms on the local runtime: on Baton's own host.
    let server = TestServer::start(backend).await;
    server
        .create_user("editor", "editor-password", Role::Editor, &["g1"])
        .await;
    let editor = server.user("editor", "editor-password");
    let refused = editor.post("/schedulers", &seed("mine", "g1")).await;
    refused.expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert!(refused.text.contains("local runtime"), "{}", refused.text);

    server
        .admin()
        .post("/schedulers", &seed("mine", "g1"))
        .await
        .ok();
    server
        .admin()
        .patch("/schedulers/mine", &json!({"roomsReplicas": 2}))
        .await
        .ok();
    for reply in [
        editor
            .patch(
                "/schedulers/mine",
                &json!({"spec": {"containers": [{"name": "c", "image": "i", "command": ["/bin/sh", "-c", "cat baton.db"]}]}}),
            )
            .await,
        editor.post("/schedulers/mine", &seed("mine", "g1")).await,
        editor
            .put("/schedulers/mine", &json!({"version": "v1"}))
            .await,
    ] {
        reply.expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    let stored = server.admin().get("/schedulers/mine").await;
    assert_eq!(
        stored.ok()["scheduler"]["version"],
        "v1.1",
        "nothing changed"
    );
    // Deleting runs nothing: the game's editor may.
    editor.delete("/schedulers/mine").await.ok();

    // An administrator may allow a game's editors.
    let granted = TestServer::start_with(backend, |config| {
        config.local_runtime_editor_games = vec!["g1".into()];
    })
    .await;
    granted
        .create_user("editor", "editor-password", Role::Editor, &["g1", "g2"])
        .await;
    let editor = granted.user("editor", "editor-password");
    editor.post("/schedulers", &seed("mine", "g1")).await.ok();
    editor
        .post("/schedulers", &seed("other", "g2"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
}

/// A client that connects from `ip` (any 127.0.0.0/8 address is loopback on Linux).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client")
}

fn schedulers_as(
    server: &TestServer,
    client: &reqwest::Client,
    user: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    client
        .get(server.url("/schedulers"))
        .basic_auth(user, Some(password))
}

async fn password_guessing_is_limited_per_client_address(backend: Backend) {
    let server = TestServer::start(backend).await;
    let attacker = client_from([127, 0, 0, 2]);
    // Ten wrong guesses (at as many names, so that no user is slowed down) are answered 401...
    for i in 0..10 {
        let reply = send(schedulers_as(
            &server,
            &attacker,
            &format!("user{i}"),
            "guess",
        ))
        .await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // ...then the address is refused, whatever it sends, until its window ends.
    for (user, password) in [("user10", "guess"), ("admin", common::ADMIN_PASSWORD)] {
        let reply = send(schedulers_as(&server, &attacker, user, password)).await;
        reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED");
        let retry: u64 = reply.headers[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    }
    // The dashboard's sign-in checks passwords with the same limits.
    let sign_in = send(
        attacker
            .post(server.url("/api/sign_in"))
            .form(&[("username", "admin"), ("password", common::ADMIN_PASSWORD)]),
    )
    .await;
    assert_eq!(
        sign_in.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        sign_in.text
    );
    // Other addresses are not affected.
    let other = client_from([127, 0, 0, 3]);
    send(schedulers_as(
        &server,
        &other,
        "admin",
        common::ADMIN_PASSWORD,
    ))
    .await
    .ok();
}

async fn parallel_guesses_do_not_slip_past_the_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let attacker = client_from([127, 0, 0, 4]);
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..30 {
        let request = schedulers_as(&server, &attacker, &format!("user{i}"), "guess");
        guesses.spawn(async move { send(request).await.status });
    }
    let mut checked = 0;
    let mut refused = 0;
    while let Some(status) = guesses.join_next().await {
        match status.expect("a guess") {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((checked, refused), (10, 20));
}

async fn a_stranger_cannot_lock_a_user_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    server
        .create_user("victim", "victim-password", Role::Admin, &[])
        .await;
    let stranger = client_from([127, 0, 0, 5]);
    for _ in 0..6 {
        send(schedulers_as(&server, &stranger, "victim", "guess"))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // The victim, from its own address, gets in: slowed down (its seventh check in the window
    // waits 0.5 s), not locked out.
    let own = client_from([127, 0, 0, 6]);
    let started = Instant::now();
    send(schedulers_as(&server, &own, "victim", "victim-password"))
        .await
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(500));
    // Success forgets the failures: the next check (a new credential) is not slowed.
    let started = Instant::now();
    send(schedulers_as(&server, &own, "victim", "wrong again"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(started.elapsed() < Duration::from_millis(500));
}

async fn cross_site_requests_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin();
    let body = seed("forged", "g1").to_string();
    // A form or a plain fetch from another site can only send these types without a preflight.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = admin
            .request(Method::POST, "/schedulers")
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        send(request)
            .await
            .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    }
    // A foreign Origin is refused on the API as on the dashboard, credentials or not.
    let foreign = send(
        admin
            .request(Method::POST, "/schedulers")
            .header(CONTENT_TYPE, "application/json")
            .header(ORIGIN, "https://evil.example")
            .body(body.clone()),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.text);
    let null_origin = send(
        admin
            .request(Method::DELETE, "/schedulers/forged")
            .header(ORIGIN, "null"),
    )
    .await;
    assert_eq!(null_origin.status, StatusCode::FORBIDDEN);
    assert!(
        admin.get("/schedulers").await.ok()["schedulers"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "nothing was created"
    );
    // The same origin (the dashboard's own pages) and no origin (API clients) are fine.
    let own = send(
        admin
            .request(Method::POST, "/schedulers")
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header(ORIGIN, server.base_url.clone())
            .body(body.clone()),
    )
    .await;
    own.ok();
    // YAML is read too.
    let yaml = send(
        admin
            .request(Method::PATCH, "/schedulers/forged")
            .header(CONTENT_TYPE, "application/yaml")
            .body("roomsReplicas: 0\n"),
    )
    .await;
    assert_eq!(yaml.ok()["scheduler"]["roomsReplicas"], 0);
}
