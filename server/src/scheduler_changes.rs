//! Telling other processes of scheduler changes: a [`SchedulerCache`] that, told to forget a
//! scheduler, publishes the change (the subscriber of every process, this one included, then
//! makes its own caches forget it).

use std::sync::Arc;

use app::ports::{SchedulerCache, SchedulerChanges};

pub struct PublishChanges {
    changes: Arc<dyn SchedulerChanges>,
}

impl PublishChanges {
    pub fn new(changes: Arc<dyn SchedulerChanges>) -> Self {
        Self { changes }
    }
}

impl SchedulerCache for PublishChanges {
    /// Publishes in the background: the change is stored already, and this process's own
    /// caches are told directly; a failed publish is logged (others then learn of it when
    /// their cached answer expires).
    fn forget(&self, scheduler: &str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(scheduler, "no runtime to publish a scheduler change on");
            return;
        };
        let changes = self.changes.clone();
        let scheduler = scheduler.to_string();
        runtime.spawn(async move {
            if let Err(err) = changes.publish(&scheduler).await {
                tracing::warn!(%scheduler, %err, "publishing a scheduler change failed");
            }
        });
    }

    /// Nothing to publish: only a process that missed changes forgets everything.
    fn forget_all(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::ports::StoreError;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl SchedulerChanges for Recorded {
        async fn publish(&self, scheduler: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(scheduler.to_string());
            Ok(())
        }
    }

    #[tokio::test]
    async fn forgetting_publishes_the_change() {
        let recorded = Arc::new(Recorded::default());
        let cache = PublishChanges::new(recorded.clone());
        cache.forget("s");
        cache.forget_all();
        for _ in 0..100 {
            if !recorded.0.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(*recorded.0.lock().unwrap(), vec!["s".to_string()]);
    }
}
