//! `MeteredRuntime`: a `Runtime` that counts and times every call of the runtime it wraps
//! (`baton_runtime_calls_total`, `baton_runtime_call_duration_seconds`), whatever the adapter.

use std::sync::Arc;
use std::time::Instant;

use app::domain::scheduler::{EnvironmentVariable, Scheduler};
use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, Runtime, RuntimeError};
use async_trait::async_trait;
use futures::stream::BoxStream;

use super::metrics::Metrics;

pub struct MeteredRuntime {
    inner: Arc<dyn Runtime>,
    metrics: Arc<Metrics>,
}

impl MeteredRuntime {
    pub fn new(inner: Arc<dyn Runtime>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn record<T>(&self, call: &'static str, started: Instant, result: &Result<T, RuntimeError>) {
        self.metrics
            .runtime_call(call, outcome(result), started.elapsed());
    }
}

/// The label value of a call's outcome.
fn outcome<T>(result: &Result<T, RuntimeError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(RuntimeError::Rejected(_)) => "rejected",
        Err(RuntimeError::Unavailable(_)) => "unavailable",
        Err(RuntimeError::PortsExhausted(_)) => "ports_exhausted",
        Err(RuntimeError::NoCapacity(_)) => "no_capacity",
    }
}

#[async_trait]
impl Runtime for MeteredRuntime {
    async fn create_instance(
        &self,
        scheduler: &Scheduler,
        room: &str,
        env: &[EnvironmentVariable],
    ) -> Result<RoomInstance, RuntimeError> {
        let started = Instant::now();
        let result = self.inner.create_instance(scheduler, room, env).await;
        self.record("create_instance", started, &result);
        result
    }

    async fn delete_instance(&self, scheduler: &Scheduler, room: &str) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let result = self.inner.delete_instance(scheduler, room).await;
        self.record("delete_instance", started, &result);
        result
    }

    async fn instances(&self, scheduler: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
        let started = Instant::now();
        let result = self.inner.instances(scheduler).await;
        self.record("instances", started, &result);
        result
    }

    /// A long-lived stream: not a call to count.
    fn watch(&self, scheduler: &str) -> BoxStream<'static, InstanceEvent> {
        self.inner.watch(scheduler)
    }

    async fn usage(&self, scheduler: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
        let started = Instant::now();
        let result = self.inner.usage(scheduler).await;
        self.record("usage", started, &result);
        result
    }

    async fn logs(&self, scheduler: &str, room: &str) -> Vec<String> {
        self.inner.logs(scheduler, room).await
    }

    async fn remove_scheduler(&self, scheduler: &str) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let result = self.inner.remove_scheduler(scheduler).await;
        self.record("remove_scheduler", started, &result);
        result
    }

    fn creations_at_once(&self) -> usize {
        self.inner.creations_at_once()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// Answers from a script: each call takes the next answer (`Ok` when the script is empty).
    #[derive(Default)]
    struct FakeRuntime {
        answers: Mutex<Vec<Result<(), RuntimeError>>>,
        calls: Mutex<Vec<String>>,
    }

    impl FakeRuntime {
        fn answer(&self, call: &str) -> Result<(), RuntimeError> {
            self.calls.lock().unwrap().push(call.to_string());
            let mut answers = self.answers.lock().unwrap();
            if answers.is_empty() {
                Ok(())
            } else {
                answers.remove(0)
            }
        }
    }

    #[async_trait]
    impl Runtime for FakeRuntime {
        async fn create_instance(
            &self,
            scheduler: &Scheduler,
            room: &str,
            _env: &[EnvironmentVariable],
        ) -> Result<RoomInstance, RuntimeError> {
            self.answer("create_instance").map(|()| RoomInstance {
                scheduler: scheduler.config.name.clone(),
                room: room.to_string(),
                version: scheduler.version.clone(),
                address: None,
                machine: None,
                crashed: None,
            })
        }
        async fn delete_instance(&self, _: &Scheduler, _: &str) -> Result<(), RuntimeError> {
            self.answer("delete_instance")
        }
        async fn instances(&self, _: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
            self.answer("instances").map(|()| Vec::new())
        }
        fn watch(&self, _: &str) -> BoxStream<'static, InstanceEvent> {
            self.calls.lock().unwrap().push("watch".into());
            Box::pin(futures::stream::empty())
        }
        async fn usage(&self, _: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
            self.answer("usage").map(|()| Vec::new())
        }
        async fn logs(&self, _: &str, _: &str) -> Vec<String> {
            vec!["last line".into()]
        }
        async fn remove_scheduler(&self, _: &str) -> Result<(), RuntimeError> {
            self.answer("remove_scheduler")
        }
    }

    fn scheduler() -> Scheduler {
        let config = serde_json::from_value(serde_json::json!({
            "name": "s", "game": "g", "roomsReplicas": 0,
            "spec": {"terminationGracePeriod": "5s", "containers": [{
                "name": "game", "image": "i", "command": ["/bin/true"]}]}
        }))
        .expect("a scheduler");
        Scheduler {
            config,
            version: "v1".into(),
            state: Default::default(),
            created_at: chrono::Utc::now(),
        }
    }

    fn metered(
        answers: Vec<Result<(), RuntimeError>>,
    ) -> (MeteredRuntime, Arc<FakeRuntime>, Arc<Metrics>) {
        let fake = Arc::new(FakeRuntime {
            answers: Mutex::new(answers),
            calls: Mutex::default(),
        });
        let metrics = Arc::new(Metrics::new(Duration::from_secs(60)));
        (
            MeteredRuntime::new(fake.clone(), metrics.clone()),
            fake,
            metrics,
        )
    }

    #[tokio::test]
    async fn counts_each_call_by_outcome_and_passes_answers_through() {
        let (runtime, fake, metrics) = metered(vec![
            Ok(()),
            Err(RuntimeError::Unavailable("down".into())),
            Err(RuntimeError::Rejected("no".into())),
            Err(RuntimeError::PortsExhausted("s".into())),
        ]);
        let s = scheduler();
        let created = runtime.create_instance(&s, "r1", &[]).await;
        assert_eq!(created.map(|i| i.room), Ok("r1".to_string()));
        assert_eq!(
            runtime.create_instance(&s, "r2", &[]).await,
            Err(RuntimeError::Unavailable("down".into()))
        );
        assert_eq!(
            runtime.delete_instance(&s, "r1").await,
            Err(RuntimeError::Rejected("no".into()))
        );
        assert!(runtime.instances("s").await.is_err());
        assert_eq!(runtime.usage("s").await, Ok(Vec::new()));
        assert_eq!(runtime.remove_scheduler("s").await, Ok(()));
        assert_eq!(metrics.runtime_calls("create_instance", "ok"), 1);
        assert_eq!(metrics.runtime_calls("create_instance", "unavailable"), 1);
        assert_eq!(metrics.runtime_calls("delete_instance", "rejected"), 1);
        assert_eq!(metrics.runtime_calls("instances", "ports_exhausted"), 1);
        assert_eq!(metrics.runtime_calls("usage", "ok"), 1);
        assert_eq!(metrics.runtime_calls("remove_scheduler", "ok"), 1);
        assert_eq!(metrics.runtime_calls("delete_instance", "ok"), 0);
        assert_eq!(fake.calls.lock().unwrap().len(), 6);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"baton_runtime_calls_total{call="create_instance",outcome="unavailable"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"baton_runtime_call_duration_seconds_count{call="create_instance"} 2"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn forwards_watch_and_logs_without_counting_them() {
        let (runtime, fake, metrics) = metered(Vec::new());
        assert_eq!(runtime.logs("s", "r").await, vec!["last line".to_string()]);
        let _ = runtime.watch("s");
        assert_eq!(*fake.calls.lock().unwrap(), vec!["watch".to_string()]);
        assert!(!metrics.render().contains("baton_runtime_calls_total{"));
    }
}
