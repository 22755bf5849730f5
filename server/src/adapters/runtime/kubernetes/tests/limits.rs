//! The client-side limit: API calls beyond it wait for a free slot before they reach the server.

use super::*;

#[tokio::test]
async fn calls_beyond_the_in_flight_limit_wait_until_one_is_answered() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let config = KubernetesRuntimeConfig {
        limits: ApiLimits::new(2, None),
        ..fast()
    };
    let runtime = KubernetesRuntime::with_config(Client::new(service, "default"), config);
    // Five listings at once (one API call each); two may be in flight.
    let listings: Vec<_> = (0..5)
        .map(|_| {
            let runtime = runtime.clone();
            tokio::spawn(async move { runtime.instances("arena").await })
        })
        .collect();
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let call = next_call(&mut handle).await;
        call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
        waiting.push(call);
    }
    // A third call does not reach the server while two are unanswered.
    no_more_calls(&mut handle).await;
    // Each answer lets one more through.
    for answered in 0..5 {
        let call = waiting.remove(0);
        call.reply(200, &pod_list(Vec::new()));
        if answered + 2 < 5 {
            let call = next_call(&mut handle).await;
            call.assert(Method::GET, "/api/v1/namespaces/arena/pods");
            waiting.push(call);
            no_more_calls(&mut handle).await;
        }
    }
    for listing in listings {
        assert!(listing.await.unwrap().unwrap().is_empty());
    }
}

#[tokio::test]
async fn calls_start_no_faster_than_the_configured_rate() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let config = KubernetesRuntimeConfig {
        // A burst of one, then 20 calls a second: 50 ms apart.
        limits: ApiLimits::new(1, Some(20.0)),
        ..fast()
    };
    let runtime = KubernetesRuntime::with_config(Client::new(service, "default"), config);
    let listings: Vec<_> = (0..4)
        .map(|_| {
            let runtime = runtime.clone();
            tokio::spawn(async move { runtime.instances("arena").await })
        })
        .collect();
    let started = Instant::now();
    for _ in 0..4 {
        next_call(&mut handle)
            .await
            .reply(200, &pod_list(Vec::new()));
    }
    // The first at once, three more 50 ms apart.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(145), "{elapsed:?}");
    for listing in listings {
        listing.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn listing_instances_reads_the_nodes_at_once() {
    let (runtime, mut handle) = mocked();
    let listing = tokio::spawn(async move { runtime.instances("arena").await });
    next_call(&mut handle).await.reply(
        200,
        &pod_list(vec![
            pod_json("arena-a", Some("n1"), [40000, 40001], running()),
            pod_json("arena-b", Some("n2"), [40002, 40003], running()),
            pod_json("arena-c", Some("n3"), [40004, 40005], running()),
        ]),
    );
    // Three node reads arrive before any is answered.
    let mut reads = Vec::new();
    for _ in 0..3 {
        reads.push(next_call(&mut handle).await);
    }
    let mut paths: Vec<String> = reads.iter().map(|call| call.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/api/v1/nodes/n1", "/api/v1/nodes/n2", "/api/v1/nodes/n3"]
    );
    for call in reads {
        let node = call.path.rsplit('/').next().unwrap().to_string();
        let address =
            json!([{"type": "ExternalIP", "address": format!("203.0.113.{}", &node[1..])}]);
        call.reply(200, &node_json(&node, address));
    }
    let mut hosts: Vec<String> = listing
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .filter_map(|instance| instance.address.map(|a| a.host))
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]);
}
