//! Every runtime Baton drives, each tagged with its region; one is the default (the runtime of
//! rooms stored before regions, and of schedulers that list no region).

use std::sync::Arc;

use app::domain::region::{DEFAULT_REGION, room_region};
use app::domain::room::GameRoom;
use app::ports::{Machines, Runtime};

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
