//! Creating and deleting rooms: the requests, retries and host ports.

use super::*;

#[tokio::test]
async fn create_sends_the_room_pod_with_host_ports_from_the_range() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        // The scheduler's first room creates its namespace.
        namespace_created(&mut handle).await;

        // The ports in use are read from the scheduler's pods: one already holds 40000.
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
        assert!(
            call.query
                .contains("labelSelector=baton.dev%2Fscheduler%3Darena"),
            "{}",
            call.query
        );
        let existing = pod_json("arena-old", Some("n1"), [40000, 30081], running());
        call.reply(200, &pod_list(vec![existing]));

        // The room's token goes to a Secret of its batch before its pod is posted.
        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        assert_eq!(call.query, "&fieldManager=baton");
        assert_eq!(call.body, expected_pod("arena-abc", 40001, 40002));
        let mut created = call.body.clone();
        created["metadata"]["namespace"] = json!("arena");
        created["status"] = pending();
        call.reply(201, &created);

        // The next room continues after the last port handed out, without listing again.
        token_written(&mut handle, "arena-def").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        assert_eq!(call.body, expected_pod("arena-def", 40003, 40004));
        let created = call.body.clone();
        call.reply(201, &created);
        no_more_calls(&mut handle).await;
    });

    let scheduler = scheduler();
    let instance = runtime
        .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap();
    assert_eq!(
        instance,
        RoomInstance {
            scheduler: "arena".to_string(),
            room: "arena-abc".to_string(),
            version: "v2".to_string(),
            address: None,
            machine: None,
            crashed: None,
        }
    );
    let instance = runtime
        .create_instance(&scheduler, "arena-def", &room_env("arena-def"))
        .await
        .unwrap();
    assert_eq!(instance.room, "arena-def");
    server.await.unwrap();
}

#[tokio::test]
async fn throttled_creations_are_retried() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        // Baton's namespace from an earlier run.
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces");
        call.reply(
            409,
            &status(409, "AlreadyExists", "namespaces \"arena\" already exists"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena");
        call.reply(200, &namespace_json(baton_labels_json()));

        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        let first = call.body.clone();
        call.reply(429, &status(429, "TooManyRequests", "slow down"));

        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        assert_eq!(call.body, first, "the retry sends the same pod");
        let created = call.body.clone();
        call.reply(201, &created);
        no_more_calls(&mut handle).await;
    });
    let instance = runtime
        .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap();
    assert_eq!(instance.room, "arena-abc");
    server.await.unwrap();
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        token_written(&mut handle, "arena-abc").await;
        for _ in 0..5 {
            let call = next_call(&mut handle).await;
            call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
            call.reply_raw(503, b"upstream connect error".to_vec());
        }
        no_more_calls(&mut handle).await;
    });
    let error = runtime
        .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RuntimeError::Unavailable(message) if message.contains("upstream connect error")),
        "{error:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn calls_that_hang_time_out_and_are_retried() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let config = KubernetesRuntimeConfig {
        call_timeout: Duration::from_millis(20),
        ..fast()
    };
    let runtime = KubernetesRuntime::with_config(Client::new(service, "default"), config);
    let server = tokio::spawn(async move {
        let mut unanswered = Vec::new();
        for _ in 0..5 {
            let call = next_call(&mut handle).await;
            call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-abc");
            unanswered.push(call);
        }
        no_more_calls(&mut handle).await;
    });
    let error = runtime
        .delete_instance(&scheduler(), "arena-abc")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RuntimeError::Unavailable(message) if message.contains("deadline has elapsed")),
        "{error:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn forbidden_creations_are_rejected_without_retry() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        call.reply(
            403,
            &status(403, "Forbidden", "pods is forbidden: exceeded quota"),
        );
        // The refused room's token leaves the Secret again.
        dropped_token(&mut handle, "arena-abc", "arena-abc-secrets", json!({})).await;
        no_more_calls(&mut handle).await;
    });
    let error = runtime
        .create_instance(&portless_scheduler(), "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RuntimeError::Rejected(
            "creating pod arena/arena-abc: pods is forbidden: exceeded quota (403 Forbidden)"
                .to_string()
        )
    );
    server.await.unwrap();
}

#[tokio::test]
async fn creating_an_existing_pod_of_the_same_room_succeeds() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
        call.reply(200, &pod_list(vec![]));
        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        call.reply(
            409,
            &status(409, "AlreadyExists", "pods \"arena-abc\" already exists"),
        );
        // 409 is not retried: it means the pod exists. An earlier attempt created it, with
        // other ports: those are the room's.
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-abc");
        call.reply(200, &pod_json("arena-abc", None, [40005, 40006], pending()));

        token_written(&mut handle, "arena-xyz").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        call.reply(
            409,
            &status(409, "AlreadyExists", "pods \"arena-xyz\" already exists"),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-xyz");
        let mut foreign = pod_json("arena-xyz", None, [40007, 40008], pending());
        foreign["metadata"]["labels"] = json!({"app": "something-else"});
        call.reply(200, &foreign);
        dropped_token(&mut handle, "arena-xyz", "arena-xyz-secrets", json!({})).await;
        no_more_calls(&mut handle).await;
    });
    let scheduler = scheduler();
    let instance = runtime
        .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap();
    assert_eq!(instance.room, "arena-abc");
    let held = runtime.ports.with("arena", |ports| {
        ports
            .rooms
            .get("arena-abc")
            .map(|holding| holding.ports.clone())
    });
    assert_eq!(held, Some(vec![40005, 30080, 40006]));

    let error = runtime
        .create_instance(&scheduler, "arena-xyz", &room_env("arena-xyz"))
        .await
        .unwrap_err();
    assert!(matches!(error, RuntimeError::Rejected(_)), "{error:?}");
    let held = runtime
        .ports
        .with("arena", |ports| ports.rooms.contains_key("arena-xyz"));
    assert!(!held, "a rejected room gives its ports back");
    server.await.unwrap();
}

#[tokio::test]
async fn abandoned_creations_keep_their_ports_until_a_listing_frees_them() {
    let (runtime, mut handle) = mocked();
    let scheduler = scheduler();
    let env = room_env("arena-abc");
    let creating = runtime.create_instance(&scheduler, "arena-abc", &env);
    let server = async {
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.reply(200, &pod_list(vec![]));
        token_written(&mut handle, "arena-abc").await;
        let call = next_call(&mut handle).await;
        call.assert(Method::POST, "/api/v1/namespaces/arena/pods");
        call
    };
    // The caller gives up while the pod is being posted.
    let _unanswered = tokio::select! {
        result = creating => panic!("the creation finished: {result:?}"),
        call = server => call,
    };
    runtime.ports.with("arena", |ports| {
        let holding = &ports.rooms["arena-abc"];
        assert!(!holding.pending);
        assert_eq!(holding.ports, [40000, 30080, 40001]);
    });
}

#[tokio::test]
async fn exhausted_port_ranges_are_reported() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        namespace_created(&mut handle).await;
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
        let existing = pod_json("arena-old", None, [40000, 40001], running());
        call.reply(200, &pod_list(vec![existing]));
        no_more_calls(&mut handle).await;
    });
    let mut scheduler = scheduler();
    scheduler.config.port_range = Some(app::domain::scheduler::PortRange {
        start: 40000,
        end: 40003,
    });
    let error = runtime
        .create_instance(&scheduler, "arena-abc", &room_env("arena-abc"))
        .await
        .unwrap_err();
    assert_eq!(error, RuntimeError::PortsExhausted("arena".to_string()));
    server.await.unwrap();
}

#[tokio::test]
async fn delete_gives_the_grace_period_and_accepts_missing_pods() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-abc");
        assert_eq!(call.body, json!({"gracePeriodSeconds": 100}));
        call.reply(
            404,
            &status(404, "NotFound", "pods \"arena-abc\" not found"),
        );
        // No pod, no Secret named: nothing else is asked.

        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-def");
        call.reply(500, &status(500, "InternalError", "etcd hiccup"));
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-def");
        let pod = room_pod(
            &scheduler(),
            "arena-def",
            &room_env("arena-def"),
            &[40000, 40001],
        );
        let mut deleting = serde_json::to_value(pod).unwrap();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        call.reply(200, &deleting);
        // The pod names its batch Secret: its keys leave it; another room's stay.
        let left = json!({"arena-ghi.game.BATON_ROOM_TOKEN": TOKEN_BASE64});
        dropped_token(&mut handle, "arena-def", "arena-def-secrets", left).await;

        // A pod without secret variables names no Secret.
        let call = next_call(&mut handle).await;
        call.assert(Method::DELETE, "/api/v1/namespaces/arena/pods/arena-jkl");
        call.reply(
            200,
            &pod_json("arena-jkl", Some("n1"), [40002, 40003], running()),
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
    runtime
        .delete_instance(&scheduler, "arena-jkl")
        .await
        .unwrap();
    server.await.unwrap();
}
