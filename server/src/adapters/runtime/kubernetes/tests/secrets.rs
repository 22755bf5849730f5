//! Secret variables: kept in the scheduler's Secret, referenced by the pod, removed with the room.

use super::*;

/// `hunter2` as the Secret's data carries it.
const PASSWORD_BASE64: &str = "aHVudGVyMg==";

/// A portless scheduler whose game container has a secret variable and two `valueFrom` ones.
fn scheduler_with_secrets() -> Scheduler {
    let mut scheduler = portless_scheduler();
    let variables: Vec<EnvironmentVariable> = serde_json::from_value(json!([
        {"name": "DB_PASSWORD", "value": "hunter2", "secret": true},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "LICENSE", "valueFrom": {"secretKeyRef": {"name": "game-license", "key": "key"}}},
    ]))
    .unwrap();
    scheduler.config.spec.containers[0]
        .environment
        .extend(variables);
    scheduler
}

#[tokio::test]
async fn secret_variables_go_to_the_schedulers_secret_and_the_pod_only_references_them() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;

        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, SECRET_PATH);
        assert_eq!(call.query, "&fieldManager=baton");
        assert_eq!(call.content_type, "application/merge-patch+json");
        assert_eq!(
            call.body,
            json!({
                "metadata": {"labels": {
                    "app.kubernetes.io/managed-by": "baton", "baton.dev/scheduler": "arena",
                }},
                "data": {
                    "arena-abc.game.BATON_ROOM_TOKEN": TOKEN_BASE64,
                    "arena-abc.game.DB_PASSWORD": PASSWORD_BASE64,
                    "arena-abc.metrics.BATON_ROOM_TOKEN": TOKEN_BASE64,
                },
            })
        );
        call.reply(200, &secret_json(json!({})));

        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let plain = |name: &str, value: &str| json!({"name": name, "value": value});
        let caller = |container: &str| {
            vec![
                plain("MAESTRO_SCHEDULER_NAME", "arena"),
                plain("MAESTRO_ROOM_ID", "arena-abc"),
                plain("BATON_API_URL", "http://baton.example:3000"),
                from_secret(
                    "BATON_ROOM_TOKEN",
                    format!("arena-abc.{container}.BATON_ROOM_TOKEN"),
                ),
            ]
        };
        let mut game = vec![
            plain("MODE", "ranked"),
            from_secret("DB_PASSWORD", "arena-abc.game.DB_PASSWORD".to_string()),
            // valueFrom passes unchanged.
            json!({"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}),
            json!({"name": "LICENSE", "valueFrom": {"secretKeyRef": {"name": "game-license", "key": "key"}}}),
        ];
        game.extend(caller("game"));
        let containers = &call.body["spec"]["containers"];
        assert_eq!(containers[0]["env"], json!(game));
        assert_eq!(containers[1]["env"], json!(caller("metrics")));
        // Whoever reads the pod reads no secret, in any encoding.
        let text = call.body.to_string();
        for secret in ["secret-token", "hunter2", TOKEN_BASE64, PASSWORD_BASE64] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let created = call.body.clone();
        call.reply(201, &created);
        no_more_calls(&mut handle).await;
    });
    runtime
        .create_instance(
            &scheduler_with_secrets(),
            "arena-abc",
            &room_env("arena-abc"),
        )
        .await
        .unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn rooms_without_secret_variables_write_no_secret() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let created = call.body.clone();
        call.reply(201, &created);
        no_more_calls(&mut handle).await;
    });
    let env = [EnvironmentVariable::plain("MAESTRO_ROOM_ID", "arena-abc")];
    runtime
        .create_instance(&portless_scheduler(), "arena-abc", &env)
        .await
        .unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_missing_secret_is_created_with_batons_labels() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, SECRET_PATH);
        call.reply(
            404,
            &status(404, "NotFound", "secrets \"baton-room-secrets\" not found"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/secrets");
        assert_eq!(call.query, "&fieldManager=baton");
        assert_eq!(
            call.body,
            json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "baton-room-secrets", "labels": baton_labels_json()},
                "data": {
                    "arena-abc.game.BATON_ROOM_TOKEN": TOKEN_BASE64,
                    "arena-abc.metrics.BATON_ROOM_TOKEN": TOKEN_BASE64,
                },
            })
        );
        let created = call.body.clone();
        call.reply(201, &created);
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let created = call.body.clone();
        call.reply(201, &created);

        // Another room's creation made it meanwhile (409, once): the keys are added to it.
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, SECRET_PATH);
        call.reply(
            404,
            &status(404, "NotFound", "secrets \"baton-room-secrets\" not found"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/secrets");
        call.reply(
            409,
            &status(
                409,
                "AlreadyExists",
                "secrets \"baton-room-secrets\" already exists",
            ),
        );
        token_written(&mut handle, "arena-def").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let created = call.body.clone();
        call.reply(201, &created);
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
async fn a_namespace_deleted_behind_our_back_is_made_again_with_the_rooms_keys() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        call.reply(
            404,
            &status(404, "NotFound", "namespaces \"arena\" not found"),
        );
        // The keys went with the namespace: both are made again before the pod.
        namespace_created(&mut handle).await;
        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let created = call.body.clone();
        call.reply(201, &created);

        // Found missing while writing the Secret this time.
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, SECRET_PATH);
        call.reply(
            404,
            &status(404, "NotFound", "namespaces \"arena\" not found"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/secrets");
        call.reply(
            404,
            &status(404, "NotFound", "namespaces \"arena\" not found"),
        );
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, SECRET_PATH);
        call.reply(
            404,
            &status(404, "NotFound", "secrets \"baton-room-secrets\" not found"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/secrets");
        let created = call.body.clone();
        call.reply(201, &created);
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let created = call.body.clone();
        call.reply(201, &created);
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
async fn deleting_a_room_removes_its_keys_and_only_its_keys() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-abc");
        call.reply(200, &pod_json("arena-abc", None, [40000, 40001], running()));
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, SECRET_PATH);
        call.reply(
            200,
            &secret_json(json!({
                "arena-abc.game.BATON_ROOM_TOKEN": TOKEN_BASE64,
                "arena-abc.metrics.BATON_ROOM_TOKEN": TOKEN_BASE64,
                "arena-abcd.game.BATON_ROOM_TOKEN": TOKEN_BASE64,
                "arena-def.game.BATON_ROOM_TOKEN": TOKEN_BASE64,
            })),
        );
        dropped_token(&mut handle, "arena-abc").await;

        // Best effort: the room is deleted even when its keys cannot be read.
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-def");
        call.reply(200, &pod_json("arena-def", None, [40002, 40003], running()));
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, SECRET_PATH);
        call.reply(
            403,
            &status(403, "Forbidden", "secrets is forbidden: no get"),
        );
        no_more_calls(&mut handle).await;
    });
    let scheduler = scheduler();
    runtime
        .delete_instance(&scheduler, "arena-abc")
        .await
        .unwrap();
    runtime
        .delete_instance(&scheduler, "arena-def")
        .await
        .unwrap();
    server.await.unwrap();
}

#[test]
fn a_secret_variable_that_cannot_be_a_key_is_refused() {
    let scheduler = portless_scheduler();
    let env = [EnvironmentVariable::secret("X".repeat(250), "value")];
    let error = room_secret_data(&scheduler, "arena-abc", &env).unwrap_err();
    assert!(
        matches!(&error, RuntimeError::Rejected(message) if message.contains("not a valid Secret key")),
        "{error:?}"
    );
    // Plain and valueFrom variables need no key.
    let data = room_secret_data(&scheduler_with_secrets(), "arena-abc", &[]).unwrap();
    assert_eq!(
        data,
        BTreeMap::from([(
            "arena-abc.game.DB_PASSWORD".to_string(),
            "hunter2".to_string()
        )])
    );
}
