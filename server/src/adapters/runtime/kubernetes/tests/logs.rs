//! Reading what a room's pod printed: the pod, then the tail of each container's log.

use super::*;

/// The query string (kube's starts with a `&`, which the API server ignores).
fn query(call: &Call) -> &str {
    call.query.trim_start_matches('&')
}

fn text(call: Call, body: &str) {
    call.reply_raw(200, body.as_bytes().to_vec());
}

#[tokio::test]
async fn logs_are_the_tail_of_each_container_named_when_several() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-a");
        call.reply(
            200,
            &pod_json("arena-a", Some("n1"), [40000, 40001], running()),
        );
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-a/log");
        assert_eq!(query(&call), "container=game&tailLines=200");
        text(call, "room up\nready\n");
        // A server error is retried.
        let call = next_call(&mut handle).await;
        assert_eq!(query(&call), "container=metrics&tailLines=200");
        call.reply(500, &status(500, "InternalError", "etcd hiccup"));
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-a/log");
        assert_eq!(query(&call), "container=metrics&tailLines=200");
        text(call, "scraped\n");
        no_more_calls(&mut handle).await;
    });
    let lines = runtime.logs("arena", "arena-a").await;
    server.await.unwrap();
    assert_eq!(
        lines,
        ["[game] room up", "[game] ready", "[metrics] scraped"]
    );
}

#[tokio::test]
async fn one_container_unprefixed_and_a_waiting_one_printed_nothing() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        let mut pod = pod_json("arena-a", None, [40000, 40001], pending());
        pod["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .truncate(1);
        call.reply(200, &pod);
        let call = next_call(&mut handle).await;
        assert_eq!(query(&call), "container=game&tailLines=200");
        text(call, "line 1\nline 2");
        no_more_calls(&mut handle).await;
    });
    assert_eq!(runtime.logs("arena", "arena-a").await, ["line 1", "line 2"]);
    server.await.unwrap();

    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        next_call(&mut handle)
            .await
            .reply(200, &pod_json("arena-a", None, [40000, 40001], pending()));
        for _ in 0..2 {
            let call = next_call(&mut handle).await;
            call.reply(
                400,
                &status(400, "BadRequest", "container is waiting to start"),
            );
        }
        no_more_calls(&mut handle).await;
    });
    assert!(runtime.logs("arena", "arena-a").await.is_empty());
    server.await.unwrap();
}

#[tokio::test]
async fn a_gone_pod_printed_nothing_and_a_refusal_is_told() {
    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods/arena-gone");
        call.reply(
            404,
            &status(404, "NotFound", "pods \"arena-gone\" not found"),
        );
        no_more_calls(&mut handle).await;
    });
    assert!(runtime.logs("arena", "arena-gone").await.is_empty());
    server.await.unwrap();

    let (runtime, mut handle) = mocked();
    let server = tokio::spawn(async move {
        let call = next_call(&mut handle).await;
        call.reply(
            403,
            &status(403, "Forbidden", "pods is forbidden: cannot get resource"),
        );
        no_more_calls(&mut handle).await;
    });
    let lines = runtime.logs("arena", "arena-a").await;
    server.await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("(Baton could not read the log of arena/arena-a:"),
        "{lines:?}"
    );
    assert!(lines[0].contains("forbidden"), "{lines:?}");
}
