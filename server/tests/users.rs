//! `/users`, black box: the real server on port 0. Administrators list, read, create, change
//! and delete users; everyone else gets 403, reads included; nobody removes themselves or the
//! last enabled administrator; bad input is a 400 naming its fields, and changes nothing.

mod common;

use common::{Backend, TestServer, send};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn usernames(server: &TestServer) -> Vec<String> {
    server.admin().get("/users").await.ok()["users"]
        .as_array()
        .expect("a users list")
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

/// The status of a request that only reads, as `user` with `password`.
async fn status_as(server: &TestServer, user: &str, password: &str) -> StatusCode {
    server.user(user, password).get("/schedulers").await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_create_read_change_and_delete_users() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.admin();
    assert_eq!(usernames(&server).await, ["admin"]);

    let created = admin
        .post(
            "/users",
            &json!({"username": "ann", "password": "ann-password", "role": "editor",
                "games": ["g1", "g2"]}),
        )
        .await;
    assert_eq!(
        created.expect(StatusCode::CREATED)["user"],
        json!({"username": "ann", "role": "editor", "games": ["g1", "g2"], "disabled": false})
    );
    assert!(
        !created.text.contains("ann-password") && !created.text.contains("password"),
        "{}",
        created.text
    );
    assert_eq!(
        status_as(&server, "ann", "ann-password").await,
        StatusCode::OK
    );
    assert_eq!(usernames(&server).await, ["admin", "ann"]);
    let got = admin.get("/users/ann").await;
    assert_eq!(got.ok()["user"]["role"], "editor");
    assert!(!got.text.contains("password"), "{}", got.text);
    admin
        .get("/users/nobody")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    // The name is taken.
    admin
        .post(
            "/users",
            &json!({"username": "ann", "password": "other-password", "role": "viewer"}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "ALREADY_EXISTS");

    // The role alone: the games stay.
    let changed = admin.patch("/users/ann", &json!({"role": "viewer"})).await;
    assert_eq!(
        changed.ok()["user"],
        json!({"username": "ann", "role": "viewer", "games": ["g1", "g2"], "disabled": false})
    );
    // A new password: the old one stops working; the answer does not show it.
    let changed = admin
        .patch(
            "/users/ann",
            &json!({"password": "ann-new-password", "games": []}),
        )
        .await;
    assert_eq!(changed.ok()["user"]["games"], json!([]));
    assert!(!changed.text.contains("ann-new-password"));
    assert_eq!(
        status_as(&server, "ann", "ann-password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_as(&server, "ann", "ann-new-password").await,
        StatusCode::OK
    );
    // Disabled, then enabled again.
    admin
        .patch("/users/ann", &json!({"disabled": true}))
        .await
        .ok();
    assert_eq!(
        status_as(&server, "ann", "ann-new-password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(admin.get("/users/ann").await.ok()["user"]["disabled"], true);
    admin
        .patch("/users/ann", &json!({"disabled": false}))
        .await
        .ok();
    assert_eq!(
        status_as(&server, "ann", "ann-new-password").await,
        StatusCode::OK
    );

    // Deleted: gone, and its credentials with it.
    admin
        .delete("/users/ann")
        .await
        .expect(StatusCode::NO_CONTENT);
    admin
        .get("/users/ann")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        status_as(&server, "ann", "ann-new-password").await,
        StatusCode::UNAUTHORIZED
    );
    admin
        .delete("/users/ann")
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(usernames(&server).await, ["admin"]);

    // Documented.
    let doc = server.anonymous().get("/openapi.json").await;
    let paths = &doc.ok()["paths"];
    for method in ["get", "post"] {
        assert!(paths["/users"][method].is_object(), "{method} /users");
    }
    for method in ["get", "patch", "delete"] {
        assert!(
            paths["/users/{name}"][method].is_object(),
            "{method} /users/{{name}}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_read_or_change_users() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.admin();
    for (name, role) in [("ed", "editor"), ("vic", "viewer")] {
        admin
            .post(
                "/users",
                &json!({"username": name, "password": format!("{name}-password"),
                    "role": role, "games": ["g1"]}),
            )
            .await
            .expect(StatusCode::CREATED);
    }
    let before = admin.get("/users").await.ok().clone();

    for name in ["ed", "vic"] {
        let password = format!("{name}-password");
        let api = server.user(name, &password);
        for path in [
            "/users",
            "/users/admin",
            "/users/nobody",
            &format!("/users/{name}"),
        ] {
            api.get(path)
                .await
                .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        }
        api.post(
            "/users",
            &json!({"username": "mallory", "password": "mallory-password", "role": "admin"}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        // Not even their own role or password.
        for body in [
            json!({"role": "admin"}),
            json!({"password": "my-own-password"}),
        ] {
            api.patch(&format!("/users/{name}"), &body)
                .await
                .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        }
        api.patch("/users/admin", &json!({"disabled": true}))
            .await
            .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        api.delete("/users/admin")
            .await
            .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        assert_eq!(status_as(&server, name, &password).await, StatusCode::OK);
    }
    // Without credentials, or with wrong ones: 401.
    server
        .anonymous()
        .get("/users")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    server
        .user("admin", "wrong-password")
        .get("/users")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(admin.get("/users").await.ok(), &before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_removes_themselves_or_the_last_administrator() {
    let mut server = TestServer::start(Backend::Sqlite).await;
    let admin = server.admin();
    // The only administrator cannot delete, demote or disable itself...
    admin
        .delete("/users/admin")
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    for body in [json!({"role": "editor"}), json!({"disabled": true})] {
        admin
            .patch("/users/admin", &body)
            .await
            .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    // ...but changes what keeps its rights.
    admin
        .patch("/users/admin", &json!({"games": ["g1"]}))
        .await
        .ok();
    let me = admin.get("/users/admin").await;
    assert_eq!(me.ok()["user"]["role"], "admin");
    assert_eq!(me.ok()["user"]["disabled"], false);

    // Another administrator may remove the first one's rights, while it is not the last.
    admin
        .post(
            "/users",
            &json!({"username": "ops", "password": "ops-password", "role": "admin"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ops = server.user("ops", "ops-password");
    ops.patch("/users/admin", &json!({"role": "viewer"}))
        .await
        .ok();
    // The demoted admin is refused at once (its cached credentials were dropped).
    server
        .admin()
        .get("/users")
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    ops.patch("/users/admin", &json!({"role": "admin"}))
        .await
        .ok();

    // A second replica on the same database still trusts `ops`'s credentials it verified a
    // moment ago (up to 30 s). When `ops` loses its rights on the first replica and then, on the
    // second, tries to delete `admin` (now the last enabled administrator), the rule holds.
    let replica = server::startup::start(server.config.clone())
        .await
        .expect("a second replica");
    let client = reqwest::Client::new();
    let on_replica = |method: Method, path: &str| {
        client
            .request(method, format!("http://{}{path}", replica.addr))
            .basic_auth("ops", Some("ops-password"))
    };
    send(on_replica(Method::GET, "/users")).await.ok();
    server
        .admin()
        .patch("/users/ops", &json!({"role": "viewer"}))
        .await
        .ok();
    let refused = send(on_replica(Method::DELETE, "/users/admin")).await;
    refused.expect_error(StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert!(
        refused.text.contains("last enabled administrator"),
        "{}",
        refused.text
    );
    let demote =
        send(on_replica(Method::PATCH, "/users/admin").json(&json!({"disabled": true}))).await;
    demote.expect_error(StatusCode::CONFLICT, "FAILED_PRECONDITION");
    replica.task.abort();
    assert_eq!(
        server.admin().get("/users/admin").await.ok()["user"],
        json!({"username": "admin", "role": "admin", "games": ["g1"], "disabled": false})
    );
    assert_eq!(usernames(&server).await, ["admin", "ops"]);

    // The same after a restart: the rules read the stored users.
    server.restart().await;
    server
        .admin()
        .delete("/users/admin")
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    server
        .admin()
        .delete("/users/ops")
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(usernames(&server).await, ["admin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_its_fields_and_changes_nothing() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.admin();
    admin
        .post(
            "/users",
            &json!({"username": "ann", "password": "ann-password", "role": "viewer",
                "games": ["g1"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let before = admin.get("/users").await.ok().clone();

    admin
        .post(
            "/users",
            &json!({"username": "a b", "password": "short", "role": "admin",
                "games": ["ok", "not ok"]}),
        )
        .await
        .expect_invalid(&["username", "password", "games[1]"]);
    admin
        .post(
            "/users",
            &json!({"username": "bob", "password": "bob-password", "role": "root"}),
        )
        .await
        .expect_invalid(&["role"]);
    admin
        .post("/users", &json!({"username": "bob"}))
        .await
        .expect_invalid(&["password", "role"]);
    admin
        .post(
            "/users",
            &json!({"username": "bob", "password": "bob-password", "role": "viewer",
                "games": "g1"}),
        )
        .await
        .expect_invalid(&["games"]);
    let unknown = admin
        .post(
            "/users",
            &json!({"username": "bob", "password": "bob-password", "role": "viewer",
                "superuser": true}),
        )
        .await;
    unknown.expect_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert!(unknown.text.contains("superuser"), "{}", unknown.text);
    let form = send(
        admin
            .request(Method::POST, "/users")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("username=bob&password=bob-password&role=admin"),
    )
    .await;
    form.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");

    // A change is checked whole before anything is written.
    admin
        .patch(
            "/users/ann",
            &json!({"role": "editor", "password": "short"}),
        )
        .await
        .expect_invalid(&["password"]);
    admin
        .patch("/users/ann", &json!({"role": "boss"}))
        .await
        .expect_invalid(&["role"]);
    admin
        .patch("/users/ann", &json!({"games": ["fine", "not fine"]}))
        .await
        .expect_invalid(&["games[1]"]);
    admin
        .patch("/users/ann", &json!({}))
        .await
        .expect_invalid(&["body"]);
    admin
        .patch("/users/nobody", &json!({"role": "viewer"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    assert_eq!(admin.get("/users").await.ok(), &before);
    assert_eq!(
        status_as(&server, "ann", "ann-password").await,
        StatusCode::OK
    );
    assert_eq!(
        status_as(&server, "bob", "bob-password").await,
        StatusCode::UNAUTHORIZED
    );
}
