//! Creating many rooms in one tick: as many at once as the runtime takes.

use super::*;

#[tokio::test]
async fn rooms_are_created_as_many_at_once_as_the_runtime_takes() {
    let setup = setup(serde_json::json!(["eu-west"]), 12).await;
    setup.eu.slow.store(true, Ordering::SeqCst);
    setup.eu.at_once.store(4, Ordering::SeqCst);
    setup.tick().await;
    assert_eq!(setup.live_in("eu-west").await.len(), 12);
    assert_eq!(setup.eu.ids().len(), 12);
    assert_eq!(setup.eu.most_creating.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_runtime_without_a_limit_of_its_own_gets_one_creation_at_a_time() {
    let setup = setup(serde_json::json!(["eu-west"]), 6).await;
    setup.eu.slow.store(true, Ordering::SeqCst);
    setup.tick().await;
    assert_eq!(setup.live_in("eu-west").await.len(), 6);
    assert_eq!(setup.eu.most_creating.load(Ordering::SeqCst), 1);
}
