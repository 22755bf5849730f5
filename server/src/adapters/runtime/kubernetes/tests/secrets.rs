//! Secret variables: kept in batch Secrets, referenced by the pod, removed with the room.

use super::*;

use std::collections::BTreeMap;

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
async fn secret_variables_go_to_a_batch_secret_and_the_pod_only_references_them() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;

        let call = next_call(&mut handle).await;
        call.assert(Method::POST, SECRETS_PATH);
        assert_eq!(call.query, "&fieldManager=baton");
        assert_eq!(
            call.body,
            secret_json(
                "arena-abc-secrets",
                json!({
                    "arena-abc.game.BATON_ROOM_TOKEN": TOKEN_BASE64,
                    "arena-abc.game.DB_PASSWORD": PASSWORD_BASE64,
                    "arena-abc.metrics.BATON_ROOM_TOKEN": TOKEN_BASE64,
                })
            )
        );
        let created = call.body.clone();
        call.reply(201, &created);

        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let plain = |name: &str, value: &str| json!({"name": name, "value": value});
        let secret = "arena-abc-secrets";
        let caller = |container: &str| {
            vec![
                plain("MAESTRO_SCHEDULER_NAME", "arena"),
                plain("MAESTRO_ROOM_ID", "arena-abc"),
                plain("BATON_API_URL", "http://baton.example:3000"),
                from_secret(
                    "BATON_ROOM_TOKEN",
                    secret,
                    format!("arena-abc.{container}.BATON_ROOM_TOKEN"),
                ),
            ]
        };
        let mut game = vec![
            plain("MODE", "ranked"),
            from_secret(
                "DB_PASSWORD",
                secret,
                "arena-abc.game.DB_PASSWORD".to_string(),
            ),
            // valueFrom passes unchanged.
            json!({"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}),
            json!({"name": "LICENSE", "valueFrom": {"secretKeyRef": {"name": "game-license", "key": "key"}}}),
        ];
        game.extend(caller("game"));
        let containers = &call.body["spec"]["containers"];
        assert_eq!(containers[0]["env"], json!(game));
        assert_eq!(containers[1]["env"], json!(caller("metrics")));
        // The pod names its Secret, so that deleting the room finds its keys.
        assert_eq!(
            call.body["metadata"]["annotations"]["baton.dev/secret"],
            json!(secret)
        );
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
        assert_eq!(
            call.body["metadata"]["annotations"].get("baton.dev/secret"),
            None
        );
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

/// Answers every call of a scale-up of `rooms` rooms (namespace known) as a cluster that takes
/// them would; answers the rooms' names per Secret written, in the order written.
async fn serve_scale_up(handle: &mut Handle, rooms: usize) -> Vec<BTreeSet<String>> {
    let mut batches = Vec::new();
    let mut pods = BTreeSet::new();
    while pods.len() < rooms {
        let call = next_call(handle).await;
        match (call.method.as_str(), call.path.as_str()) {
            ("POST", SECRETS_PATH) => {
                let data = call.body["data"].as_object().unwrap();
                let batch: BTreeSet<String> = data
                    .keys()
                    .map(|key| key.split('.').next().unwrap().to_string())
                    .collect();
                let first = batch.iter().next().unwrap().clone();
                assert_eq!(
                    call.body["metadata"]["name"],
                    json!(format!("{first}-secrets"))
                );
                // Every room's keys, both containers.
                assert_eq!(data.len(), batch.len() * 2);
                batches.push(batch);
                let created = call.body.clone();
                call.reply(201, &created);
            }
            ("POST", "/api/v1/namespaces/arena/pods") => {
                let room = call.body["metadata"]["name"].as_str().unwrap().to_string();
                let secret = &call.body["metadata"]["annotations"]["baton.dev/secret"];
                let batch = batches
                    .iter()
                    .find(|batch| batch.contains(&room))
                    .expect("the room's Secret is written before its pod");
                let first = batch.iter().next().unwrap();
                assert_eq!(secret, &json!(format!("{first}-secrets")));
                pods.insert(room);
                let created = call.body.clone();
                call.reply(201, &created);
            }
            (method, path) => panic!("unexpected request {method} {path}"),
        }
    }
    batches
}

#[tokio::test]
async fn rooms_created_together_share_one_secret_of_at_most_a_hundred_rooms() {
    let (runtime, mut handle) = mocked();
    let scheduler = portless_scheduler();
    // The first room is alone: nothing else waits while its Secret is written.
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        token_written(&mut handle, "arena-first").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let created = call.body.clone();
        call.reply(201, &created);
        let batches = serve_scale_up(&mut handle, 3).await;
        let later = serve_scale_up(&mut handle, BATCH_ROOMS + 1).await;
        no_more_calls(&mut handle).await;
        (batches, later)
    });
    runtime
        .create_instance(&scheduler, "arena-first", &room_env("arena-first"))
        .await
        .unwrap();
    let together = |names: Vec<String>| {
        let (runtime, scheduler) = (&runtime, &scheduler);
        futures::future::join_all(names.into_iter().map(move |room| async move {
            runtime
                .create_instance(scheduler, &room, &room_env(&room))
                .await
                .map(|instance| instance.room)
        }))
    };
    let three = ["arena-b", "arena-c", "arena-d"].map(String::from).to_vec();
    let created = together(three.clone()).await;
    assert_eq!(created, three.into_iter().map(Ok).collect::<Vec<_>>());
    let many: Vec<String> = (0..=BATCH_ROOMS).map(|n| format!("arena-{n:03}")).collect();
    let created = together(many).await;
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let (batches, later) = server.await.unwrap();
    // Three rooms at once: one Secret.
    assert_eq!(batches.len(), 1, "{batches:?}");
    // 101 rooms at once: a hundred in the first Secret, the last one in the next.
    let sizes: Vec<usize> = later.iter().map(BTreeSet::len).collect();
    assert_eq!(sizes, [BATCH_ROOMS, 1]);
}

#[tokio::test]
async fn a_secret_made_by_an_attempt_answered_too_late_is_the_batchs() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, SECRETS_PATH);
        call.reply(
            409,
            &status(
                409,
                "AlreadyExists",
                "secrets \"arena-abc-secrets\" already exists",
            ),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        assert_eq!(
            call.body["metadata"]["annotations"]["baton.dev/secret"],
            json!("arena-abc-secrets")
        );
        let created = call.body.clone();
        call.reply(201, &created);
        no_more_calls(&mut handle).await;
    });
    runtime
        .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap();
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
        call.assert(Method::POST, SECRETS_PATH);
        call.reply(
            404,
            &status(404, "NotFound", "namespaces \"arena\" not found"),
        );
        namespace_created(&mut handle).await;
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
async fn deleting_a_room_removes_its_keys_and_the_last_room_its_secret() {
    let (runtime, mut handle) = mocked();
    let scheduler = portless_scheduler();
    let pod_of = |room: &str, secret: &str| {
        let pod = room_pod_placed(
            &portless_scheduler(),
            room,
            &room_env(room),
            &[],
            Some(secret),
            &MachinesConfig::default(),
        );
        serde_json::to_value(pod).unwrap()
    };
    let (abc, def, ghi) = (
        pod_of("arena-abc", "arena-abc-secrets"),
        pod_of("arena-def", "arena-abc-secrets"),
        pod_of("arena-ghi", "arena-abc-secrets"),
    );
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-abc");
        call.reply(200, &abc);
        // Another room's keys stay: the Secret stays.
        let left = token_keys("arena-def");
        dropped_token(&mut handle, "arena-abc", "arena-abc-secrets", left).await;

        // Best effort: the room is deleted even when its keys cannot be removed.
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-ghi");
        call.reply(200, &ghi);
        let call = next_call(&mut handle).await;
        call.assert(Method::PATCH, &secret_path("arena-abc-secrets"));
        call.reply(
            403,
            &status(403, "Forbidden", "secrets is forbidden: no patch"),
        );

        // The last room's keys leave it empty: the Secret goes.
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-def");
        call.reply(200, &def);
        dropped_token(&mut handle, "arena-def", "arena-abc-secrets", json!({})).await;
        no_more_calls(&mut handle).await;
    });
    for room in ["arena-abc", "arena-ghi", "arena-def"] {
        runtime.delete_instance(&scheduler, room).await.unwrap();
    }
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

#[tokio::test]
async fn rooms_created_together_in_a_new_namespace_check_it_once() {
    let (runtime, mut handle) = mocked();
    let scheduler = portless_scheduler();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        // Then Secrets and pods only (any other call fails the test).
        let batches = serve_scale_up(&mut handle, 5).await;
        no_more_calls(&mut handle).await;
        batches
    });
    let rooms: Vec<(String, Vec<EnvironmentVariable>)> = (0..5)
        .map(|n| format!("arena-{n}"))
        .map(|room| (room.clone(), room_env(&room)))
        .collect();
    let created = futures::future::join_all(
        rooms
            .iter()
            .map(|(room, env)| runtime.create_instance(&scheduler, room, env)),
    )
    .await;
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    server.await.unwrap();
}
