//! The dashboard's server side over HTTP, as a browser uses it: sign-in and sessions, the role
//! checks of every server function, and the cross-origin check. The real server, on SQLite,
//! with each room store.

#[macro_use]
mod common;

use app::domain::user::Role;
use common::browser::Browser;
use common::{ADMIN_PASSWORD, Backend, Reply, TestServer, seed};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

on_room_stores!(
    wrong_passwords_and_unknown_users_get_the_same_answer,
    failed_sign_ins_are_rate_limited,
    pages_need_a_session,
    sessions_open_pages_survive_a_restart_and_end_on_sign_out,
    secure_cookies_when_asked,
    viewers_read_but_change_nothing,
    editors_change_only_their_games,
    the_server_validates_what_the_form_sends,
    the_autoscaling_form_changes_autoscaling_only,
    admins_manage_users,
    cross_origin_posts_are_refused,
    reads_follow_roles_and_hide_secrets,
);

#[track_caller]
fn assert_refused(reply: &Reply, status: StatusCode, kind: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.text);
    let found = match &reply.json {
        Value::String(unit) => unit.as_str(),
        Value::Object(map) => map.keys().next().map_or("", String::as_str),
        _ => "",
    };
    assert_eq!(found, kind, "body: {}", reply.text);
}

/// A viewer and an editor of game `g1`, whose editors may run rooms on the local runtime.
async fn server_with_users(backend: Backend) -> TestServer {
    let server = TestServer::start_with(backend, |config| {
        config.local_runtime_editor_games = vec!["g1".into()];
    })
    .await;
    server
        .create_user("viewer", "viewer-password", Role::Viewer, &["g1"])
        .await;
    server
        .create_user("editor", "editor-password", Role::Editor, &["g1"])
        .await;
    server
}

async fn wrong_passwords_and_unknown_users_get_the_same_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut browser = Browser::new(&server);
    let wrong = browser.sign_in("admin", "not-the-password").await;
    let unknown = browser.sign_in("nobody", "not-the-password").await;
    assert_refused(&wrong, StatusCode::UNAUTHORIZED, "BadCredentials");
    assert_eq!((wrong.status, &wrong.text), (unknown.status, &unknown.text));
    assert_eq!(browser.cookie, None);
    assert_eq!(browser.current_user().await, Value::Null);
}

async fn failed_sign_ins_are_rate_limited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut browser = Browser::new(&server);
    // Ten failed checks from one address (at as many names: no user is slowed down)...
    for i in 0..10 {
        let reply = browser.sign_in(&format!("user{i}"), "guess").await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "BadCredentials");
    }
    // Now even the right password is refused for a while, and so is any user from this address.
    let reply = browser.sign_in("admin", ADMIN_PASSWORD).await;
    assert_refused(&reply, StatusCode::TOO_MANY_REQUESTS, "TooManyAttempts");
    let reply = browser.sign_in("nobody", "guess").await;
    assert_refused(&reply, StatusCode::TOO_MANY_REQUESTS, "TooManyAttempts");
    assert_eq!(browser.cookie, None);
}

async fn pages_need_a_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut browser = Browser::new(&server);
    let reply = browser.get("/").await;
    assert_eq!(reply.headers[LOCATION], "/ui/schedulers");
    let reply = browser.get("/ui/schedulers/demo?x=1").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.headers[LOCATION],
        "/ui/sign-in?next=/ui/schedulers/demo%3Fx%3D1"
    );
    let reply = browser.get("/ui/sign-in").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text.contains("Sign in"), "{}", reply.text);
    // Server functions answer 401 without a session.
    let reply = browser.call("list_schedulers", &[]).await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "Unauthenticated");
    // A browser that opens an API path lands on the page of the same resource; API clients
    // (no `text/html` in Accept) still get the API's answer.
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for (path, page) in [
        ("/schedulers/demo", "/ui/schedulers/demo"),
        ("/schedulers", "/ui/schedulers"),
        ("/schedulers/info?game=demo", "/ui/schedulers"),
        ("/users", "/ui/users"),
    ] {
        let request = browser.client.get(server.url(path)).header("accept", html);
        let reply = browser.send(request).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers[LOCATION], page, "{path}");
    }
    let request = browser.client.get(server.url("/schedulers/demo"));
    let reply = browser
        .send(request.header("accept", "application/json"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn sessions_open_pages_survive_a_restart_and_end_on_sign_out(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    server
        .admin()
        .post("/schedulers", &seed("s1", "g1"))
        .await
        .ok();
    let mut browser = Browser::new(&server);
    let reply = browser.sign_in("admin", ADMIN_PASSWORD).await;
    reply.ok();
    assert_eq!(reply.headers[LOCATION], "/ui/schedulers");
    let cookie = reply.headers[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(browser.current_user().await["username"], "admin");

    // The list renders on the server, counts and all.
    let page = browser.get("/ui/schedulers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains(r#"data-scheduler="s1""#),
        "{}",
        page.text
    );
    let page = browser.get("/ui/schedulers/s1").await;
    assert!(
        page.text.contains("registry.example.com/game:1.0.0"),
        "{}",
        page.text
    );
    assert!(page.text.contains(r#"id="autoscaling-decisions""#));

    let cookie = browser.cookie.clone();
    server.restart().await;
    let mut after = Browser {
        cookie,
        ..Browser::new(&server)
    };
    assert_eq!(after.current_user().await["username"], "admin");
    assert_eq!(after.get("/ui/schedulers").await.status, StatusCode::OK);

    let old_cookie = after.cookie.clone();
    after.call("sign_out", &[]).await.ok();
    assert_eq!(after.cookie, None);
    // The session is gone from the store, not just from this browser.
    let mut replay = Browser {
        cookie: old_cookie,
        ..Browser::new(&server)
    };
    assert_eq!(replay.current_user().await, Value::Null);
    assert_eq!(
        replay.get("/ui/schedulers").await.status,
        StatusCode::SEE_OTHER
    );
}

async fn secure_cookies_when_asked(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.secure_cookies = true).await;
    let reply = Browser::new(&server).sign_in("admin", ADMIN_PASSWORD).await;
    let cookie = reply.headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

async fn viewers_read_but_change_nothing(backend: Backend) {
    let server = server_with_users(backend).await;
    server
        .admin()
        .post("/schedulers", &seed("s1", "g1"))
        .await
        .ok();
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;

    let rows = viewer.call("list_schedulers", &[]).await;
    assert_eq!(rows.ok()[0]["name"], "s1");
    let detail = viewer.call("scheduler_detail", &[("name", "s1")]).await;
    assert_eq!(detail.ok()["can_edit"], false);

    let mut config = seed("s2", "g1");
    let reply = viewer
        .call_json("save_scheduler", &json!({"config": config, "create": true}))
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    config["name"] = json!("s1");
    config["roomsReplicas"] = json!(5);
    let reply = viewer
        .call_json(
            "save_scheduler",
            &json!({"config": config, "create": false}),
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let reply = viewer.call("scheduler_for_edit", &[("name", "s1")]).await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let reply = viewer
        .call("switch_version", &[("name", "s1"), ("version", "v1")])
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let reply = viewer.call("list_users", &[]).await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");

    let scheduler = server.admin().get("/schedulers/s1").await;
    assert_eq!(scheduler.ok()["scheduler"]["version"], "v1");
    assert_eq!(
        server.admin().get("/schedulers?name=s2").await.ok()["schedulers"],
        json!([])
    );
}

async fn editors_change_only_their_games(backend: Backend) {
    let server = server_with_users(backend).await;
    server
        .admin()
        .post("/schedulers", &seed("other", "g2"))
        .await
        .ok();
    let mut editor = Browser::signed_in(&server, "editor", "editor-password").await;

    // Their game: create, edit (a new version), switch back.
    let reply = editor
        .call_json(
            "save_scheduler",
            &json!({"config": seed("mine", "g1"), "create": true}),
        )
        .await;
    assert_eq!(reply.ok(), "v1");
    let mut changed = seed("mine", "g1");
    changed["spec"]["containers"][0]["image"] = json!("registry.example.com/game:2.0.0");
    let reply = editor
        .call_json(
            "save_scheduler",
            &json!({"config": changed, "create": false}),
        )
        .await;
    assert_eq!(reply.ok(), "v2");
    // The same configuration again changes nothing.
    let reply = editor
        .call_json(
            "save_scheduler",
            &json!({"config": changed, "create": false}),
        )
        .await;
    assert_eq!(reply.ok(), "v2");
    assert_eq!(
        editor
            .call("scheduler_for_edit", &[("name", "mine")])
            .await
            .ok()["spec"]["containers"][0]["image"],
        "registry.example.com/game:2.0.0"
    );
    editor
        .call("switch_version", &[("name", "mine"), ("version", "v1")])
        .await
        .ok();
    let detail = editor.call("scheduler_detail", &[("name", "mine")]).await;
    assert_eq!(detail.ok()["version"], "v1");
    assert_eq!(detail.ok()["can_edit"], true);

    // Another game: refused, whichever way; its schedulers are not even visible.
    let reply = editor
        .call_json(
            "save_scheduler",
            &json!({"config": seed("theirs", "g2"), "create": true}),
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let mut other = seed("other", "g2");
    other["roomsReplicas"] = json!(3);
    let reply = editor
        .call_json("save_scheduler", &json!({"config": other, "create": false}))
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "NotFound");
    // Moving a scheduler of their game into another game is refused too.
    let mut moved = seed("mine", "g2");
    moved["roomsReplicas"] = json!(2);
    let reply = editor
        .call_json("save_scheduler", &json!({"config": moved, "create": false}))
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "Invalid");
    let reply = editor
        .call("switch_version", &[("name", "other"), ("version", "v1")])
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "NotFound");
    let detail = editor.call("scheduler_detail", &[("name", "other")]).await;
    assert_refused(&detail, StatusCode::NOT_FOUND, "NotFound");
}

async fn reads_follow_roles_and_hide_secrets(backend: Backend) {
    let server = server_with_users(backend).await;
    let mut ours = seed("ours", "g1");
    ours["spec"]["containers"][0]["environment"] = json!([
        {"name": "PLAIN", "value": "plain-value"},
        {"name": "API_KEY", "value": "the-secret-value", "secret": true},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    ]);
    server.admin().post("/schedulers", &ours).await.ok();
    server
        .admin()
        .post("/schedulers", &seed("theirs", "g2"))
        .await
        .ok();
    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;

    let rows = viewer.call("list_schedulers", &[]).await;
    let names: Vec<&str> = rows
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ours"]);
    for (endpoint, form) in [
        ("scheduler_detail", vec![("name", "theirs")]),
        ("scheduler_rooms", vec![("name", "theirs")]),
        ("autoscaling_decisions", vec![("name", "theirs")]),
        ("room_history", vec![("name", "theirs"), ("minutes", "15")]),
    ] {
        let reply = viewer.call(endpoint, &form).await;
        assert_refused(&reply, StatusCode::NOT_FOUND, "NotFound");
    }
    let detail = viewer.call("scheduler_detail", &[("name", "ours")]).await;
    let env = &detail.ok()["config"]["containers"][0]["environment"];
    assert_eq!(env[0]["value"], "plain-value");
    assert_eq!(env[1]["value"], "(hidden)");
    assert_eq!(env[2]["value"], "(hidden)");
    assert!(!detail.text.contains("the-secret-value"), "{}", detail.text);
    assert!(!detail.text.contains("secretKeyRef"), "{}", detail.text);

    // The game's editor sees the values it may change.
    let mut editor = Browser::signed_in(&server, "editor", "editor-password").await;
    let detail = editor.call("scheduler_detail", &[("name", "ours")]).await;
    assert!(detail.text.contains("the-secret-value"));
}

async fn the_server_validates_what_the_form_sends(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let mut config = seed("bad", "g1");
    config["maxSurge"] = json!("0");
    config["spec"]["containers"][0]["requests"]["memory"] = json!("100MB");
    let reply = admin
        .call_json("save_scheduler", &json!({"config": config, "create": true}))
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "Invalid");
    let fields: Vec<&str> = reply.json["Invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["maxSurge", "spec.containers[0].requests.memory"]);
    // A taken name is reported at the name field.
    admin
        .call_json(
            "save_scheduler",
            &json!({"config": seed("s1", "g1"), "create": true}),
        )
        .await
        .ok();
    let reply = admin
        .call_json(
            "save_scheduler",
            &json!({"config": seed("s1", "g1"), "create": true}),
        )
        .await;
    assert_eq!(reply.json["Invalid"][0]["field"], "name", "{}", reply.text);
    let reply = admin.call("scheduler_detail", &[("name", "nope")]).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "NotFound");

    // The autoscaling page shows an unreservedRooms policy selected, its fields and the preview.
    let mut zeuz = seed("zeuz", "g1");
    zeuz["autoscaling"] = json!({"enabled": true, "min": 1, "max": 0, "cooldown": 0,
        "policy": {"type": "unreservedRooms", "parameters": {"unreservedRooms": {"min": 4, "max": 6}}}});
    admin
        .call_json("save_scheduler", &json!({"config": zeuz, "create": true}))
        .await
        .ok();
    let page = admin.get("/ui/schedulers/zeuz/autoscaling").await;
    assert_eq!(page.status, StatusCode::OK);
    for expected in [
        r#"<option value="unreservedRooms" selected"#,
        r#"name="autoscaling.policy.parameters.unreservedRooms.min" value="4""#,
        r#"name="autoscaling.policy.parameters.unreservedRooms.max" value="6""#,
        "never ran out of ready rooms",
    ] {
        assert!(page.text.contains(expected), "{expected} in {}", page.text);
    }
}

async fn the_autoscaling_form_changes_autoscaling_only(backend: Backend) {
    let server = server_with_users(backend).await;
    let mut config = seed("auto", "g1");
    config["labels"] = json!({"team": "blue"});
    config["allocation"] = json!({"strategy": "distributed", "claimTtl": "30s"});
    config["capacity"] = json!({"payloadQuota": {"cpuCores": 0.5, "memoryMB": 256},
        "minUnreservedPayloads": 1, "maxUnreservedPayloads": 3});
    server.admin().post("/schedulers", &config).await.ok();
    let before = server.admin().get("/schedulers/auto").await.ok()["scheduler"].clone();

    let mut editor = Browser::signed_in(&server, "editor", "editor-password").await;
    let form = editor
        .call("autoscaling_for_edit", &[("name", "auto")])
        .await;
    assert_eq!(form.ok()["autoscaling"], Value::Null);
    assert_eq!(
        form.json["containers"][0]["name"],
        before["spec"]["containers"][0]["name"]
    );

    // A bad policy is refused at its field; nothing is stored.
    let bad = json!({"enabled": true, "min": -1, "max": 0, "cooldown": 0,
        "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 2}}}});
    let reply = editor
        .call_json(
            "save_autoscaling",
            &json!({"name": "auto", "autoscaling": bad}),
        )
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "Invalid");
    assert_eq!(
        reply.json["Invalid"][0]["field"], "autoscaling.min",
        "{}",
        reply.text
    );

    let policy = json!({"enabled": true, "min": 1, "max": 0, "cooldown": 0,
        "policy": {"type": "fixedBuffer", "parameters": {"fixedBuffer": {"amount": 2}}}});
    let reply = editor
        .call_json(
            "save_autoscaling",
            &json!({"name": "auto", "autoscaling": policy}),
        )
        .await;
    assert_eq!(reply.ok(), "v1.1");
    let after = server.admin().get("/schedulers/auto").await.ok()["scheduler"].clone();
    assert_eq!(
        after["autoscaling"]["policy"]["parameters"]["fixedBuffer"]["amount"],
        2
    );
    // Every other section is the one stored, though the form never saw it.
    for field in [
        "labels",
        "allocation",
        "capacity",
        "roomsReplicas",
        "portRange",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(after["spec"]["containers"], before["spec"]["containers"]);

    // Off removes the section.
    let reply = editor
        .call_json(
            "save_autoscaling",
            &json!({"name": "auto", "autoscaling": null}),
        )
        .await;
    assert_eq!(reply.ok(), "v1.2");
    let off = server.admin().get("/schedulers/auto").await.ok()["scheduler"].clone();
    assert!(off.get("autoscaling").is_none_or(Value::is_null), "{off}");

    let mut viewer = Browser::signed_in(&server, "viewer", "viewer-password").await;
    let reply = viewer
        .call("autoscaling_for_edit", &[("name", "auto")])
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let reply = viewer
        .call_json(
            "save_autoscaling",
            &json!({"name": "auto", "autoscaling": policy}),
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
}

async fn admins_manage_users(backend: Backend) {
    let server = server_with_users(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let mut editor = Browser::signed_in(&server, "editor", "editor-password").await;

    // Only admins see and change users.
    let reply = editor
        .call(
            "create_user",
            &[
                ("username", "x"),
                ("password", "long-enough"),
                ("role", "admin"),
                ("games", ""),
            ],
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let reply = editor
        .call(
            "set_user_disabled",
            &[("username", "viewer"), ("disabled", "true")],
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");

    admin
        .call(
            "create_user",
            &[
                ("username", "carol"),
                ("password", "carol-password"),
                ("role", "editor"),
                ("games", "g1, g2"),
            ],
        )
        .await
        .ok();
    let reply = admin
        .call(
            "create_user",
            &[
                ("username", "carol"),
                ("password", "carol-password"),
                ("role", "viewer"),
                ("games", ""),
            ],
        )
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, "Conflict");
    let reply = admin
        .call(
            "create_user",
            &[
                ("username", "dave"),
                ("password", "short"),
                ("role", "viewer"),
                ("games", ""),
            ],
        )
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "Invalid");
    let users = admin.call("list_users", &[]).await;
    let names: Vec<&str> = users
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "carol", "editor", "viewer"]);
    assert_eq!(users.json[1]["games"], json!(["g1", "g2"]));
    let mut carol = Browser::signed_in(&server, "carol", "carol-password").await;
    assert_eq!(carol.current_user().await["role"], "editor");

    // Role changes take effect at once, on the API too.
    admin
        .call(
            "update_user",
            &[("username", "carol"), ("role", "viewer"), ("games", "")],
        )
        .await
        .ok();
    assert_eq!(carol.current_user().await["role"], "viewer");
    let api = server
        .user("carol", "carol-password")
        .post("/schedulers", &seed("c1", "g1"))
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.text);

    // A reset password ends the user's sessions; the new one works.
    admin
        .call(
            "reset_password",
            &[("username", "carol"), ("password", "brand-new-password")],
        )
        .await
        .ok();
    assert_eq!(carol.current_user().await, Value::Null);
    assert_refused(
        &Browser::new(&server)
            .sign_in("carol", "carol-password")
            .await,
        StatusCode::UNAUTHORIZED,
        "BadCredentials",
    );
    let mut carol = Browser::signed_in(&server, "carol", "brand-new-password").await;

    // Disabled: sessions end, sign-in and the API refuse, with the usual answer.
    admin
        .call(
            "set_user_disabled",
            &[("username", "carol"), ("disabled", "true")],
        )
        .await
        .ok();
    assert_eq!(carol.current_user().await, Value::Null);
    assert_refused(
        &Browser::new(&server)
            .sign_in("carol", "brand-new-password")
            .await,
        StatusCode::UNAUTHORIZED,
        "BadCredentials",
    );
    let api = server
        .user("carol", "brand-new-password")
        .get("/schedulers")
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    admin
        .call(
            "set_user_disabled",
            &[("username", "carol"), ("disabled", "false")],
        )
        .await
        .ok();
    Browser::signed_in(&server, "carol", "brand-new-password").await;

    // Admins cannot lock themselves out.
    let reply = admin
        .call(
            "set_user_disabled",
            &[("username", "admin"), ("disabled", "true")],
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    let reply = admin
        .call(
            "update_user",
            &[("username", "admin"), ("role", "viewer"), ("games", "")],
        )
        .await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "Forbidden");
    assert_eq!(admin.current_user().await["role"], "admin");
}

async fn cross_origin_posts_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = Browser::signed_in(&server, "admin", ADMIN_PASSWORD).await;
    let forged = admin
        .client
        .post(server.url("/api/create_user"))
        .header(ORIGIN, "http://evil.example")
        .form(&[
            ("username", "x"),
            ("password", "long-enough"),
            ("role", "admin"),
            ("games", ""),
        ]);
    let reply = admin.send(forged).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let same = admin
        .client
        .post(server.url("/api/current_user"))
        .header(ORIGIN, server.base_url.clone());
    assert_eq!(admin.send(same).await.ok()["username"], "admin");
    let names: Vec<String> = admin
        .call("list_users", &[])
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["admin"]);
}
