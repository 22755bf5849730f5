//! Creating a scheduler and saving a new version of one, through the scheduler form.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::auth::AppError;
use crate::components::common::ErrorBox;
use crate::components::layout::use_me;
use crate::components::scheduler_form::{SchedulerForm, SchedulerJson};
use crate::domain::quantity::GracePeriod;
use crate::domain::scheduler::{
    Container, ContainerPort, GameRoomSpec, PortRange, Resources, SchedulerConfig,
};
use crate::domain::user::Role;
use crate::domain::validation::FieldError;

/// The active configuration of a scheduler, for its edit form (editors of its game only).
#[server(endpoint = "scheduler_for_edit", output = crate::codec::JsonText)]
pub async fn scheduler_for_edit(name: String) -> Result<SchedulerConfig, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    dashboard()?
        .schedulers
        .for_edit(&user, &name)
        .await
        .map_err(|e| reject(e.into()))
}

/// Creates the scheduler (`create`) or stores `config` as its next version; answers the active
/// version. The role and the configuration are checked here again, whatever the browser said.
#[server(endpoint = "save_scheduler", input = crate::codec::JsonText, output = crate::codec::JsonText)]
pub async fn save_scheduler(config: SchedulerConfig, create: bool) -> Result<String, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};
    use crate::services::ServiceError;

    let user = require_user().await?;
    let schedulers = dashboard()?.schedulers;
    let name = config.name.clone();
    let change = if create {
        schedulers
            .create(&user, config)
            .await
            .map_err(|e| match e {
                ServiceError::Conflict(_) => {
                    reject(AppError::invalid("name", "is taken by another scheduler"))
                }
                other => reject(other.into()),
            })?
    } else {
        schedulers
            .save_version(&user, &name, config)
            .await
            .map_err(|e| reject(e.into()))?
    };
    let settled = schedulers
        .settle(&user, change, SETTLE_TIMEOUT)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(settled.scheduler.version)
}

/// How long a dashboard change waits for its operation before it answers (a new major version
/// waits for its validation room; the page shows the operation if it takes longer).
#[cfg(feature = "ssr")]
pub const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What a new scheduler starts from: the seed's shape, one container, one port.
fn blank() -> SchedulerConfig {
    SchedulerConfig {
        rooms_replicas: 1,
        port_range: Some(PortRange {
            start: 20000,
            end: 21000,
        }),
        max_surge: "10%".into(),
        spec: GameRoomSpec {
            termination_grace_period: GracePeriod("100s".into()),
            containers: vec![Container {
                name: "game".into(),
                image_pull_policy: "IfNotPresent".into(),
                requests: Some(Resources {
                    memory: "100Mi".into(),
                    cpu: "100m".into(),
                }),
                limits: Some(Resources {
                    memory: "200Mi".into(),
                    cpu: "200m".into(),
                }),
                ports: vec![ContainerPort {
                    name: "game".into(),
                    protocol: "udp".into(),
                    port: 7777,
                    host_port: None,
                    host_port_range: None,
                }],
                ..Container::default()
            }],
            ..GameRoomSpec::default()
        },
        ..SchedulerConfig::default()
    }
}

/// The form with its save action: on success, on to the scheduler's page. When editing, the
/// scheduler's JSON view is beside it; what it applies replaces the form (saved the same way).
#[component]
fn SaveForm(initial: SchedulerConfig, editing: bool) -> impl IntoView {
    let save = ServerAction::<SaveScheduler>::new();
    let name = RwSignal::new(initial.name.clone());
    let fixed = editing.then(|| (initial.name.clone(), initial.game.clone()));
    let config = RwSignal::new(initial);
    // The form's inputs start from `config` when it is made: applying JSON makes it anew.
    let generation = RwSignal::new(0_u32);
    let on_apply = Callback::new(move |applied: SchedulerConfig| {
        config.set(applied);
        generation.update(|g| *g += 1);
    });
    let server_errors = Signal::derive(move || match save.value().get() {
        Some(Err(AppError::Invalid(errors))) => errors,
        _ => Vec::<FieldError>::new(),
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            navigate(
                &format!("/ui/schedulers/{}", name.get_untracked()),
                Default::default(),
            );
        }
    });
    let on_submit = Callback::new(move |config: SchedulerConfig| {
        name.set(config.name.clone());
        save.dispatch(SaveScheduler {
            config,
            create: !editing,
        });
    });
    view! {
        {move || save.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error/> })}
        {move || {
            generation.track();
            view! { <SchedulerForm config editing server_errors pending=save.pending() on_submit/> }
        }}
        {editing.then(|| view! { <SchedulerJson config fixed=fixed.clone() on_apply/> })}
    }
}

#[component]
pub fn NewSchedulerPage() -> impl IntoView {
    let viewer = move || use_me().is_some_and(|u| u.role == Role::Viewer);
    view! {
        <div class="page-head">
            <h1>"New scheduler"</h1>
        </div>
        <Transition fallback=|| ()>
            {move || {
                if viewer() {
                    view! {
                        <ErrorBox error=AppError::Forbidden(
                            "Viewers may not create schedulers.".into(),
                        )/>
                    }
                        .into_any()
                } else {
                    view! { <SaveForm initial=blank() editing=false/> }.into_any()
                }
            }}
        </Transition>
    }
}

#[component]
pub fn EditSchedulerPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let config = Resource::new(name, scheduler_for_edit);
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    <a href=move || format!("/ui/schedulers/{}", name())>{name}</a>
                </p>
                <h1>"Edit " {name}</h1>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                config
                    .get()
                    .map(|result| match result {
                        Ok(initial) => view! { <SaveForm initial editing=true/> }.into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
