//! Every runtime Baton drives, each tagged with its region; one is the default (the runtime of
//! rooms stored before regions, and of schedulers that list no region).

use std::sync::Arc;

use app::domain::region::{DEFAULT_REGION, room_region};
use app::domain::room::GameRoom;
use app::domain::room_timeline::hide_secrets;
use app::ports::{Machines, RoomLogs, Runtime};
use async_trait::async_trait;

use crate::room_tokens::RoomTokens;

/// One runtime and the region it serves.
#[derive(Clone)]
pub struct RegionRuntime {
    pub name: String,
    pub region: String,
    pub runtime: Arc<dyn Runtime>,
}

/// The machines of one runtime's region (this host for a local runtime, the nodes of a
/// Kubernetes cluster).
#[derive(Clone)]
pub struct RegionMachines {
    /// The runtime's name.
    pub name: String,
    pub region: String,
    pub machines: Arc<dyn Machines>,
}

#[derive(Clone)]
pub struct Runtimes {
    all: Vec<RegionRuntime>,
    default: usize,
    machines: Vec<RegionMachines>,
}

impl Runtimes {
    /// `all` must hold one runtime per region (the configuration checks it) and `default` be
    /// one of its indexes (else the first is the default).
    pub fn new(all: Vec<RegionRuntime>, default: usize) -> Self {
        assert!(!all.is_empty(), "at least one runtime");
        let default = if default < all.len() { default } else { 0 };
        Self {
            all,
            default,
            machines: Vec::new(),
        }
    }

    /// The same runtimes, with the machines of their regions.
    pub fn with_machines(mut self, machines: Vec<RegionMachines>) -> Self {
        self.machines = machines;
        self
    }

    /// The machines of every runtime that knows its machines (none unless given).
    pub fn machines(&self) -> &[RegionMachines] {
        &self.machines
    }

    /// One runtime, the default, in region [`DEFAULT_REGION`].
    pub fn single(runtime: Arc<dyn Runtime>) -> Self {
        Self::new(
            vec![RegionRuntime {
                name: DEFAULT_REGION.to_string(),
                region: DEFAULT_REGION.to_string(),
                runtime,
            }],
            0,
        )
    }

    pub fn all(&self) -> &[RegionRuntime] {
        &self.all
    }

    pub fn default_region(&self) -> &str {
        &self.all[self.default].region
    }

    /// The regions served, the default first.
    pub fn regions(&self) -> Vec<String> {
        let mut regions = vec![self.default_region().to_string()];
        regions.extend(
            self.all
                .iter()
                .map(|r| r.region.clone())
                .filter(|r| r != self.default_region()),
        );
        regions
    }

    /// The runtime of `region`, if one serves it.
    pub fn get(&self, region: &str) -> Option<&Arc<dyn Runtime>> {
        self.all
            .iter()
            .find(|r| r.region == region)
            .map(|r| &r.runtime)
    }

    /// The runtime the room runs on (the default one for rooms stored before regions).
    pub fn of_room(&self, room: &GameRoom) -> Option<&Arc<dyn Runtime>> {
        self.get(room_region(room, self.default_region()))
    }
}

/// What rooms printed, from the runtime each runs on, with the room's token hidden: the room
/// page's output.
pub struct RuntimeRoomLogs {
    pub runtimes: Arc<Runtimes>,
    pub tokens: Arc<RoomTokens>,
}

#[async_trait]
impl RoomLogs for RuntimeRoomLogs {
    async fn room_logs(&self, scheduler: &str, room: &str, region: &str) -> Vec<String> {
        let region = if region.is_empty() {
            self.runtimes.default_region()
        } else {
            region
        };
        let Some(runtime) = self.runtimes.get(region) else {
            return Vec::new();
        };
        let lines = runtime.logs(scheduler, room).await;
        hide_secrets(lines, &[&self.tokens.issue(scheduler, room)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use app::domain::room_timeline::HIDDEN;
    use app::domain::scheduler::{EnvironmentVariable, Scheduler};
    use app::ports::{InstanceEvent, InstanceUsage, RoomInstance, RuntimeError};
    use futures::stream::BoxStream;

    /// A runtime whose rooms print their token.
    struct Chatty(String);

    #[async_trait]
    impl Runtime for Chatty {
        async fn create_instance(
            &self,
            _: &Scheduler,
            _: &str,
            _: &[EnvironmentVariable],
        ) -> Result<RoomInstance, RuntimeError> {
            Err(RuntimeError::Rejected("not here".into()))
        }
        async fn delete_instance(&self, _: &Scheduler, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn instances(&self, _: &str) -> Result<Vec<RoomInstance>, RuntimeError> {
            Ok(Vec::new())
        }
        fn watch(&self, _: &str) -> BoxStream<'static, InstanceEvent> {
            Box::pin(futures::stream::empty())
        }
        async fn usage(&self, _: &str) -> Result<Vec<InstanceUsage>, RuntimeError> {
            Ok(Vec::new())
        }
        async fn logs(&self, scheduler: &str, room: &str) -> Vec<String> {
            vec![format!("{} {scheduler}/{room} token={}", self.0, self.0)]
        }
        async fn remove_scheduler(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn logs_come_from_the_room_region_with_the_token_hidden() {
        let tokens = Arc::new(RoomTokens::new("secret"));
        let token = tokens.issue("s", "r1");
        let runtime = |name: &str, said: &str| RegionRuntime {
            name: name.to_string(),
            region: name.to_string(),
            runtime: Arc::new(Chatty(said.to_string())) as Arc<dyn Runtime>,
        };
        let logs = RuntimeRoomLogs {
            runtimes: Arc::new(Runtimes::new(
                vec![runtime("eu", &token), runtime("us", "us-said")],
                0,
            )),
            tokens,
        };
        assert_eq!(
            logs.room_logs("s", "r1", "").await,
            [format!("{HIDDEN} s/r1 token={HIDDEN}")]
        );
        assert_eq!(
            logs.room_logs("s", "r1", "us").await,
            ["us-said s/r1 token=us-said"]
        );
        assert!(logs.room_logs("s", "r1", "mars").await.is_empty());
    }
}
