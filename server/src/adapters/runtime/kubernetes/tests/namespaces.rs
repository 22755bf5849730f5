//! The scheduler's namespace: made with Baton's labels, never adopted, never deleted without them.

use super::*;

fn already_exists() -> Value {
    status(409, "AlreadyExists", "namespaces \"arena\" already exists")
}

/// Answers the room's token and pod, as a cluster that takes them would.
async fn room_created(handle: &mut Handle, room: &str) {
    token_written(handle, room).await;
    let call = next_call(handle).await;
    call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
    let created = call.body.clone();
    call.reply(201, &created);
}

#[tokio::test]
async fn a_schedulers_namespace_is_created_with_batons_labels_once() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        room_created(&mut handle, "arena-abc").await;
        // Known now: the next room goes straight to its Secret keys and pod.
        room_created(&mut handle, "arena-def").await;
        no_more_calls(&mut handle).await;
    });
    let scheduler = portless_scheduler();
    for room in ["arena-abc", "arena-def"] {
        runtime
            .create_instance(&scheduler, room, &room_env(room))
            .await
            .unwrap();
    }
    server.await.unwrap();
}

#[tokio::test]
async fn batons_own_namespace_is_used_again_after_one_409() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces");
        call.reply(409, &already_exists());
        // 409 is an answer, not a failure: the namespace is read, not created again.
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        call.reply(200, &namespace_json(baton_labels_json()));
        room_created(&mut handle, "arena-abc").await;
        no_more_calls(&mut handle).await;
    });
    runtime
        .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_namespace_baton_did_not_create_is_not_adopted() {
    let foreign = [
        json!({"team": "payments"}),
        // What Baton used to put, without saying it manages the namespace.
        json!({"baton.dev/scheduler": "arena"}),
        // Baton's, but another scheduler's.
        json!({"app.kubernetes.io/managed-by": "baton", "baton.dev/scheduler": "other"}),
        json!({"app.kubernetes.io/managed-by": "helm", "baton.dev/scheduler": "arena"}),
    ];
    for labels in foreign {
        let (runtime, mut handle) = mocked();
        let answered = labels.clone();
        let server = tokio::spawn(async move {
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces");
            call.reply(409, &already_exists());
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena");
            call.reply(200, &namespace_json(answered));
            // Neither Secret nor pod is written into it.
            no_more_calls(&mut handle).await;
        });
        let error = runtime
            .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
            .await
            .unwrap_err();
        server.await.unwrap();
        let RuntimeError::Rejected(message) = &error else {
            panic!("{labels}: {error:?}");
        };
        assert!(
            message.starts_with("namespace arena was not created by Baton for scheduler arena")
                && message.contains("app.kubernetes.io/managed-by=baton")
                && message.contains("does not adopt"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_namespace_without_batons_labels_is_not_deleted() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        call.reply(
            200,
            &namespace_json(json!({"baton.dev/scheduler": "arena", "team": "payments"})),
        );
        // No DELETE.
        no_more_calls(&mut handle).await;
    });
    let error = runtime.remove_scheduler("arena").await.unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(&error, RuntimeError::Rejected(message)
            if message.starts_with("namespace arena was not created by Baton")
                && message.ends_with("left alone, not deleted")),
        "{error:?}"
    );
}

#[tokio::test]
async fn batons_namespace_is_deleted_as_it_was_read() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        call.reply(200, &namespace_json(baton_labels_json()));
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena");
        // Not another one made since, not one relabelled since.
        assert_eq!(
            call.body,
            json!({"preconditions": {"uid": "ns-uid-1", "resourceVersion": "7"}})
        );
        let mut terminating = namespace_json(baton_labels_json());
        terminating["status"]["phase"] = json!("Terminating");
        call.reply(200, &terminating);

        // Gone already, or on its way out: nothing to do.
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        call.reply(
            404,
            &status(404, "NotFound", "namespaces \"arena\" not found"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        let mut deleting = namespace_json(baton_labels_json());
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        call.reply(200, &deleting);

        // Changed between reading and deleting: not deleted, said so.
        let call = next_call(&mut handle).await;
        call.reply(200, &namespace_json(baton_labels_json()));
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena");
        call.reply(
            409,
            &status(409, "Conflict", "Precondition failed: ResourceVersion"),
        );
        no_more_calls(&mut handle).await;
    });
    runtime.remove_scheduler("arena").await.unwrap();
    runtime.remove_scheduler("arena").await.unwrap();
    runtime.remove_scheduler("arena").await.unwrap();
    let error = runtime.remove_scheduler("arena").await.unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(&error, RuntimeError::Unavailable(message) if message.contains("changed while being deleted")),
        "{error:?}"
    );
}

#[tokio::test]
async fn removing_a_scheduler_forgets_its_namespace() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        room_created(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        call.reply(200, &namespace_json(baton_labels_json()));
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena");
        call.reply(200, &namespace_json(baton_labels_json()));
        // A scheduler of the same name made afterwards makes its namespace again.
        namespace_created(&mut handle).await;
        room_created(&mut handle, "arena-def").await;
        no_more_calls(&mut handle).await;
    });
    let scheduler = portless_scheduler();
    runtime
        .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap();
    runtime.remove_scheduler("arena").await.unwrap();
    runtime
        .create_instance(&scheduler, "arena-def", &room_env("arena-def"))
        .await
        .unwrap();
    server.await.unwrap();
}

#[test]
fn only_throttling_server_and_connection_errors_are_retried() {
    let api = |code: u16| -> kube::Error {
        let body = status(code, "Whatever", "whatever");
        kube::Error::Api(Box::new(serde_json::from_value(body).unwrap()))
    };
    for code in [429, 500, 503, 504] {
        assert!(retry::is_transient(&api(code)), "{code}");
    }
    for code in [400, 401, 403, 404, 409, 410, 422] {
        assert!(!retry::is_transient(&api(code)), "{code}");
    }
}
