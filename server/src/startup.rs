//! The composition root: picks adapters from configuration, builds the router and serves it.
//! The only place that knows every adapter.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use app::auth::server::Dashboard;
use app::domain::access::HostCommands;
use app::domain::scheduler::SchedulerConfig;
use app::domain::throttle::Throttle;
use app::domain::user::{Role, User};
use app::ports::{
    AttemptCounter, AutoscalerStore, Leases, MachineDecisionStore, Machines, OperationStore,
    RoomStore, Runtime, SchedulerCache, SchedulerStore, StoreError, UserStore, Wake,
};
use app::services::active::{ActiveSchedulers, CachedSchedulerStore};
use app::services::room_detail::RoomService;
use app::services::{SchedulerService, UserService};
use axum::Router;
use leptos::config::LeptosOptions;
use rand::distr::{Alphanumeric, SampleString};
use tokio::task::JoinHandle;

use app::domain::forwarding::ForwarderKind;
use app::domain::scheduler::Forwarder as ForwarderConfig;
use app::ports::{ForwardError, Forwarder};

use crate::adapters::forwarder::{GrpcForwarder, HttpForwarder};
use crate::adapters::runtime::kubernetes::KubernetesRuntime;
use crate::adapters::runtime::local::{LocalRuntime, RoomsDir, RoomsDirError};
use crate::adapters::storage::memory::MemoryRoomStore;
use crate::adapters::storage::memory_attempts::MemoryAttemptCounter;
use crate::adapters::storage::memory_autoscaler::MemoryAutoscalerStore;
use crate::adapters::storage::memory_machine_decisions::MemoryMachineDecisionStore;
use crate::adapters::storage::redis::RedisRoomStore;
use crate::adapters::storage::redis_attempts::RedisAttemptCounter;
use crate::adapters::storage::redis_autoscaler::RedisAutoscalerStore;
use crate::adapters::storage::redis_changes::RedisSchedulerChanges;
use crate::adapters::storage::redis_machine_decisions::RedisMachineDecisionStore;
use crate::adapters::storage::sql::SqlStore;
use crate::api::{self, AppState, auth};
use crate::config::{Config, RuntimeSpec, RuntimesConfig, RuntimesFileError, sqlite_folder};
use crate::dashboard;
use crate::observability::Observability;
use crate::room_tokens::{RoomTokens, TokenlessSchedulers};
use crate::runtimes::{RegionMachines, RegionRuntime, RuntimeRoomLogs, Runtimes};
use crate::scheduler_changes::PublishChanges;
use crate::workers::forwarding::{ForwarderFactory, Forwarding, ForwardingRoomStore, deadline};
use crate::{browser_pages, same_origin};

/// How long whether a scheduler accepts tokenless pings is remembered: the longest a change to
/// `allowTokenlessPings` made outside this process's API takes to apply.
const TOKENLESS_TTL: Duration = Duration::from_secs(5);
/// How long allocation and the health ticks remember a scheduler's active version unless the
/// health supervisor's listing of the heads (every tick) confirms it: the longest a change this
/// process was not told of (a lost change notification) goes unseen here without that listing.
const ACTIVE_SCHEDULER_TTL: Duration = Duration::from_secs(5);
use crate::workers::autoscaler::Autoscaler;
use crate::workers::health::HealthController;
use crate::workers::machines::MachineScaler;
use crate::workers::wakeups::Wakeups;
use app::services::capacity::{CapacityService, MachineSources};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("creating the admin user: {0}")]
    Admin(String),
    #[error("runtime: {0}")]
    Runtime(String),
    #[error("{0}")]
    RoomsDir(#[from] RoomsDirError),
    #[error("{0}")]
    Runtimes(#[from] RuntimesFileError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("observability: {0}")]
    Observability(String),
    #[error("machine provider: {0}")]
    MachineProvider(String),
}

/// Every region's machine source: the runtimes' own (`LocalMachines`, `KubernetesMachines`, one
/// per region), unless the embedding program injects its own
/// (`Config::machine_scaling.injected_machines`, used by tests).
fn machine_sources(config: &Config, runtimes: &Runtimes) -> MachineSources {
    let injected = &config.machine_scaling.injected_machines.0;
    if !injected.is_empty() {
        return MachineSources::new(injected.clone());
    }
    MachineSources::new(
        runtimes
            .machines()
            .iter()
            .map(|m| (m.region.clone(), m.machines.clone()))
            .collect(),
    )
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A server that is up and serving.
pub struct Running {
    pub addr: SocketAddr,
    /// The admin password, when it was generated at this start (print it once).
    pub generated_admin_password: Option<String>,
    pub task: JoinHandle<std::io::Result<()>>,
    /// Where `/metrics` is served when it has a listener of its own (`--metrics-listen`).
    pub metrics_addr: Option<SocketAddr>,
    /// Whether the demo scheduler runs (`--demo-room`).
    pub demo: bool,
}

/// Creates the `admin` user when there are no users yet; returns the password if it was generated.
async fn ensure_admin(
    users: &dyn UserStore,
    password: Option<&str>,
) -> Result<Option<String>, StartError> {
    if users.count().await? > 0 {
        return Ok(None);
    }
    let generated = password
        .is_none()
        .then(|| Alphanumeric.sample_string(&mut rand::rng(), 24));
    let password = password.or(generated.as_deref()).unwrap_or_default();
    let hash = auth::hash_password(password).map_err(|e| StartError::Admin(e.to_string()))?;
    let admin = User {
        username: "admin".to_string(),
        role: Role::Admin,
        games: Vec::new(),
        disabled: false,
    };
    match users.create(&admin, &hash).await {
        // Another instance created it first: fine.
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(generated),
        Err(err) => Err(err.into()),
    }
}

fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    let output_name = std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "baton".to_string());
    LeptosOptions::builder()
        .output_name(output_name)
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// The whole HTTP surface: JSON API first, then the dashboard (pages, server functions, assets),
/// neither changing anything for a page of another site.
fn router(state: AppState, pages: Router) -> Router {
    api::router(state)
        .merge(pages)
        .layer(axum::middleware::from_fn(same_origin::refuse_cross_site))
        .layer(axum::middleware::from_fn(browser_pages::redirect_to_pages))
}

/// The demo scheduler: example rooms on the local runtime that play simulated matches, autoscaled
/// with the seed's best practice (up at 60% occupied, down at 50%), between 3 and 15 rooms. Its
/// capacity section (zeuz's model) makes this host's capacity visible: a room holds a twentieth
/// of a core and 64 MB (15 rooms fit a host of one core and 2 GB after the safety limits of
/// 0.25 cores and 1 GB); machine scaling is off (the host cannot be added to) and records its
/// decisions only.
fn demo_scheduler(room_binary: &str) -> SchedulerConfig {
    let demo = serde_json::json!({
        "name": "demo", "game": "demo", "roomsReplicas": 3, "maxSurge": "50%",
        "portRange": {"start": 30000, "end": 30100},
        "spec": {"terminationGracePeriod": "5s", "containers": [{
            "name": "game", "image": "example-game-room", "command": [room_binary],
            "environment": [
                {"name": "EXAMPLE_MATCH_CHANCE", "value": "0.3"},
                {"name": "EXAMPLE_MATCH_SECONDS", "value": "40"}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]},
        "capacity": {
            "PayloadQuota": {"CpuCores": 0.05, "MemoryMB": 64, "StorageGB": 0},
            "SafetyLimits": {"CpuRemainingCores": 0.25, "MemoryMBFree": 1024, "StorageGBFree": 1},
            "MachineMinSpec": {"OS": "linux", "CoreCount": 1, "MemoryMB": 1024},
            "MaxBareMetalMachines": 1, "MaxCloudMachines": 0,
            "MinFreePayloadCapacity": 3, "MaxFreePayloadCapacity": 1000,
            "EnableScaling": false, "ManagePayloads": false},
        "autoscaling": {"min": 3, "max": 15,
            "up": {"metricsTrigger": [{"type": "room", "usage": 60, "threshold": 80, "time": 30}], "cooldown": 30},
            "down": {"metricsTrigger": [{"type": "room", "usage": 50, "threshold": 80, "time": 60}], "cooldown": 60}}
    });
    serde_json::from_value(demo).expect("the demo scheduler is well-formed")
}

/// Every runtime of the configuration, each tagged with its region.
async fn runtimes(
    config: &Config,
    configured: &RuntimesConfig,
    observability: &Observability,
) -> Result<Runtimes, StartError> {
    let data: Vec<_> = sqlite_folder(&config.database_url).into_iter().collect();
    let mut local = Vec::new();
    for entry in &configured.runtimes {
        if let RuntimeSpec::Local { rooms_dir } = &entry.spec {
            local.push((entry.name.clone(), RoomsDir::prepare(rooms_dir, &data)?));
        }
    }
    let mut all = Vec::new();
    let mut machines = Vec::new();
    for entry in &configured.runtimes {
        let (runtime, machines_of): (Arc<dyn Runtime>, Arc<dyn Machines>) = match &entry.spec {
            RuntimeSpec::Local { .. } => {
                let mut own = None;
                let mut neighbours = Vec::new();
                for (name, dir) in &local {
                    if *name == entry.name {
                        own = Some(dir.clone());
                    } else {
                        neighbours.push(dir.clone());
                    }
                }
                let own = own.ok_or_else(|| StartError::Runtime(entry.name.clone()))?;
                // Local runtimes share this host's ports.
                let local = LocalRuntime::new(own).with_neighbours(neighbours);
                let machines_of = Arc::new(local.machines(&entry.region));
                (Arc::new(local), machines_of)
            }
            RuntimeSpec::Kubernetes {
                context,
                machines,
                api_limits,
            } => {
                let cluster = KubernetesRuntime::from_context(context.as_deref())
                    .await
                    .map_err(|e| StartError::Runtime(format!("{}: {e}", entry.name)))?
                    .with_machine_labels(machines.clone())
                    .with_api_limits(api_limits.limits());
                let machines_of = Arc::new(cluster.machines(&entry.region));
                (Arc::new(cluster), machines_of)
            }
        };
        machines.push(RegionMachines {
            name: entry.name.clone(),
            region: entry.region.clone(),
            machines: machines_of,
        });
        all.push(RegionRuntime {
            name: entry.name.clone(),
            region: entry.region.clone(),
            runtime: observability.meter(runtime),
        });
    }
    Ok(Runtimes::new(all, configured.default).with_machines(machines))
}

/// This process's name in leases and operation histories: host, listen address and pid, unique
/// among the replicas of one deployment.
fn holder_name(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "baton".into());
    format!("{host}/{addr}/{}", std::process::id())
}

/// The adapter of each forwarder type; `secret` signs `http` forwarders without one of their own.
fn forwarder_factory(secret: Option<String>) -> ForwarderFactory {
    Arc::new(move |forwarder: &ForwarderConfig| {
        let timeout = deadline(forwarder);
        let adapter: Arc<dyn Forwarder> = match ForwarderKind::of(forwarder) {
            Some(ForwarderKind::Grpc) => Arc::new(GrpcForwarder::new(&forwarder.address, timeout)?),
            Some(ForwarderKind::Http) => {
                let key = forwarder
                    .options
                    .secret
                    .clone()
                    .or_else(|| secret.clone())
                    .unwrap_or_default();
                Arc::new(HttpForwarder::new(&forwarder.address, &key, timeout)?)
            }
            None => {
                return Err(ForwardError::Refused(format!(
                    "unknown forwarder type {}",
                    forwarder.r#type
                )));
            }
        };
        Ok(adapter)
    })
}

/// Connects storage and the runtime, ensures an admin exists, serves on `config.listen` and
/// starts the health controller.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let store = Arc::new(SqlStore::connect(&config.database_url).await?);
    let observability =
        Observability::for_config(&config, store.clone()).map_err(StartError::Observability)?;
    let generated_admin_password =
        ensure_admin(store.as_ref(), config.admin_password.as_deref()).await?;
    let secret = store
        .setting_or_insert("room_token_secret", || {
            Alphanumeric.sample_string(&mut rand::rng(), 64)
        })
        .await?;
    let users: Arc<dyn UserStore> = store.clone();
    let operations: Arc<dyn OperationStore> = store.clone();
    let leases: Arc<dyn Leases> = store.clone();
    let audit_log: Arc<dyn app::ports::AuditLog> = store.clone();
    let service_audit = Arc::new(app::services::audit::AuditTrail::new(audit_log));
    let sessions = SqlStore::clone(&store);
    let schedulers: Arc<dyn SchedulerStore> = store;
    let (rooms, autoscaling, attempts): (
        Arc<dyn RoomStore>,
        Arc<dyn AutoscalerStore>,
        Arc<dyn AttemptCounter>,
    ) = match &config.redis_url {
        Some(url) => (
            Arc::new(RedisRoomStore::connect(url, &config.redis_prefix).await?),
            Arc::new(RedisAutoscalerStore::connect(url, &config.redis_prefix).await?),
            Arc::new(RedisAttemptCounter::connect(url, &config.redis_prefix).await?),
        ),
        None => (
            Arc::new(MemoryRoomStore::default()),
            Arc::new(MemoryAutoscalerStore::default()),
            Arc::new(MemoryAttemptCounter::default()),
        ),
    };
    let (forwarding, forwarding_task) = Forwarding::start(
        &config.forwarding,
        schedulers.clone(),
        rooms.clone(),
        observability.metrics.clone(),
        forwarder_factory(config.forwarding.forwarder_secret.clone()),
    );
    let rooms = ForwardingRoomStore::wrap(rooms, forwarding.clone());
    let machine_decisions: Arc<dyn MachineDecisionStore> = match &config.redis_url {
        Some(url) => Arc::new(RedisMachineDecisionStore::connect(url, &config.redis_prefix).await?),
        None => Arc::new(MemoryMachineDecisionStore::default()),
    };
    let room_tokens = Arc::new(RoomTokens::new(secret));
    let configured = config.runtimes()?;
    let runtimes = Arc::new(runtimes(&config, &configured, &observability).await?);
    let authenticator = Arc::new(
        auth::Authenticator::new(
            users.clone(),
            attempts,
            Throttle {
                client_limit: config.password_check_limit,
                ..Throttle::default()
            },
        )
        .map_err(|e| StartError::Admin(e.to_string()))?,
    );
    let tokenless = Arc::new(TokenlessSchedulers::new(TOKENLESS_TTL));
    // This process's caches; with Redis, every replica's are told of every change.
    let active = Arc::new(ActiveSchedulers::new(ACTIVE_SCHEDULER_TTL));
    let local_caches = vec![
        tokenless.clone() as Arc<dyn SchedulerCache>,
        active.clone() as Arc<dyn SchedulerCache>,
    ];
    let (caches, changes_task) = match &config.redis_url {
        Some(url) => {
            let changes = RedisSchedulerChanges::connect(url, &config.redis_prefix).await?;
            let task = changes.subscribe(local_caches.clone()).await;
            let publish = Arc::new(PublishChanges::new(Arc::new(changes)));
            let mut caches = local_caches;
            caches.push(publish as Arc<dyn SchedulerCache>);
            (caches, Some(task))
        }
        None => (local_caches, None),
    };
    let wakeups = Arc::new(Wakeups::default());
    let service = Arc::new(SchedulerService {
        schedulers: schedulers.clone(),
        rooms: rooms.clone(),
        autoscaling: autoscaling.clone(),
        // Commands run on this host when any runtime is local.
        host: if configured
            .runtimes
            .iter()
            .any(|r| matches!(r.spec, RuntimeSpec::Local { .. }))
        {
            HostCommands::on_host(config.local_runtime_editor_games.clone())
        } else {
            HostCommands::elsewhere()
        },
        regions: runtimes.regions(),
        operations: operations.clone(),
        caches,
        active: active.clone(),
        wake: Some(wakeups.clone() as Arc<dyn Wake>),
        audit: service_audit.clone(),
    });
    let service_caches = service.caches.clone();
    let machine_sources = Arc::new(machine_sources(&config, &runtimes));
    let (provider, dry_run) = config
        .machine_scaling
        .provider()
        .map_err(StartError::MachineProvider)?;
    let capacity = Arc::new(CapacityService {
        schedulers: service.clone(),
        sources: machine_sources.clone(),
        decisions: machine_decisions.clone(),
    });
    let machine_scaler = Arc::new(MachineScaler::new(
        rooms.clone(),
        machine_sources,
        provider,
        dry_run,
        machine_decisions,
        runtimes.default_region().to_string(),
        config.machine_scaling.period(),
    ));
    let accounts = Arc::new(UserService {
        users: users.clone(),
        passwords: authenticator.clone(),
        audit: service_audit,
    });
    let state = AppState {
        capacity: capacity.clone(),
        users: accounts.clone(),
        schedulers: service.clone(),
        rooms: rooms.clone(),
        auth: authenticator.clone(),
        room_tokens: room_tokens.clone(),
        tokenless,
        forwarding,
    };
    let room_detail = Arc::new(RoomService {
        schedulers: service.clone(),
        logs: Arc::new(RuntimeRoomLogs {
            runtimes: runtimes.clone(),
            tokens: room_tokens.clone(),
        }),
    });
    let dashboard = Dashboard {
        schedulers: service,
        rooms: room_detail,
        capacity,
        users,
        passwords: authenticator,
        accounts,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    if let Some(binary) = &config.demo_room {
        match schedulers.create(&demo_scheduler(binary)).await {
            Ok(_) => tracing::info!("created the demo scheduler"),
            Err(StoreError::Conflict(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let autoscaler = Arc::new(Autoscaler::new(
        autoscaling,
        runtimes.clone(),
        Duration::from_millis(config.autoscaling_period_ms.max(50)),
    ));
    let controller = Arc::new(HealthController {
        // Every tick reads its scheduler's active version: from memory (forgotten on every
        // change this process makes or, with Redis, hears of; otherwise at the supervisor's
        // next listing of the heads, every tick, which also keeps a current one remembered).
        schedulers: Arc::new(CachedSchedulerStore::new(schedulers, active.clone())),
        rooms,
        runtimes,
        autoscaler,
        tokens: room_tokens,
        api_url: config
            .api_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        tick: Duration::from_millis(config.health_tick_ms.max(50)),
        operations,
        leases,
        holder: holder_name(addr),
        // At least three ticks, so that one slow tick does not lose the lease.
        lease_ttl: Duration::from_millis(config.lease_ttl_ms.max(config.health_tick_ms * 3)),
        validation_attempts: config.validation_attempts,
        caches: service_caches,
        wakeups,
        metrics: observability.metrics.clone(),
        machines: Some(machine_scaler),
    });
    let controller_task = controller.spawn();
    let cleanup_task = dashboard::spawn_session_cleanup(sessions.clone());
    let internal = observability
        .listen_internal()
        .await
        .map_err(|(addr, e)| StartError::Listen(addr, e))?;
    let metrics_addr = internal.as_ref().map(|listener| listener.addr);
    let internal_task = internal.map(|listener| listener.task);
    let workers: Vec<JoinHandle<()>> = [
        Some(controller_task),
        Some(cleanup_task),
        Some(forwarding_task),
        changes_task,
        internal_task,
    ]
    .into_iter()
    .flatten()
    .collect();
    let pages = dashboard::router(
        leptos_options(&config, addr),
        dashboard,
        sessions,
        dashboard::SessionSettings {
            secure_cookies: config.secure_cookies,
            idle: Duration::from_secs(config.session_idle_secs),
        },
    );
    let app = observability
        .wrap(router(state.clone(), pages), &state)
        .into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        // The workers stop with the server, also when its task is aborted.
        let _workers = AbortOnDrop(workers);
        axum::serve(listener, app).await
    });
    Ok(Running {
        addr,
        generated_admin_password,
        task,
        metrics_addr,
        demo: config.demo_room.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scheduler_is_valid_and_autoscaled() {
        let demo = demo_scheduler("/bin/true");
        assert_eq!(demo.validate(), Ok(()));
        // Its capacity section fits its 15 rooms on a host of one core and 2 GB.
        let capacity = demo.capacity.as_ref().expect("a capacity section");
        let host = app::domain::capacity::Machine::of_spec(&app::domain::capacity::MachineSpec {
            os: "linux".into(),
            core_count: 1,
            memory_mb: 2048,
            storage_gb: 10,
            ..Default::default()
        });
        assert_eq!(
            app::domain::capacity::payload_capacity(
                &host,
                &capacity.payload_quota,
                &capacity.safety_limits
            ),
            15
        );
        assert!(
            demo.autoscaling
                .is_some_and(|a| a.up.is_some() && a.down.is_some())
        );
    }
}
