//! The autoscaling form of a scheduler: trigger lists (add, remove, reorder), min, max,
//! cooldowns, or a target policy, with a live preview of the rooms it would keep over a day,
//! computed in the browser by the server's own policy code. Saving stores a new version.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::autoscaling_preview::AutoscalingPreview;
use crate::components::common::ErrorBox;
use crate::domain::autoscaling::{
    Autoscaling, DEFAULT_DOWN_THRESHOLD, MetricsTrigger, PolicyConfig, RoomOccupancyParameters,
    ScalingDirection, UnreservedRoomsParameters, trigger_types,
};
use crate::domain::scheduler::{Container, Resources};
use crate::domain::validation::FieldError;
use modes::{MODES, POLICY_MODES, mode_of, output, trigger, working_copy};

mod modes;

/// What the autoscaling form needs of a scheduler: not the whole configuration, whose reader
/// would weigh on the page's bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoscalingEdit {
    pub name: String,
    pub rooms_replicas: i64,
    /// The room's containers, which resource triggers are checked against.
    pub containers: Vec<Container>,
    pub autoscaling: Option<Autoscaling>,
}

/// The active autoscaling of a scheduler, for its form (editors of its game only).
#[server(endpoint = "autoscaling_for_edit", output = crate::codec::JsonText)]
pub async fn autoscaling_for_edit(name: String) -> Result<AutoscalingEdit, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};

    let user = require_user().await?;
    let config = dashboard()?
        .schedulers
        .for_edit(&user, &name)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(AutoscalingEdit {
        name: config.name,
        rooms_replicas: config.rooms_replicas,
        containers: config.spec.containers,
        autoscaling: config.autoscaling,
    })
}

/// Stores the scheduler with this autoscaling (none: off) as its next version; answers the
/// active version. Checked here again, whatever the browser said.
#[server(endpoint = "save_autoscaling", input = crate::codec::JsonText, output = crate::codec::JsonText)]
pub async fn save_autoscaling(
    name: String,
    autoscaling: Option<Autoscaling>,
) -> Result<String, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};
    use crate::pages::scheduler_edit::SETTLE_TIMEOUT;

    let user = require_user().await?;
    let schedulers = dashboard()?.schedulers;
    let change = schedulers
        .set_autoscaling(&user, &name, autoscaling)
        .await
        .map_err(|e| reject(e.into()))?;
    let settled = schedulers
        .settle(&user, change, SETTLE_TIMEOUT)
        .await
        .map_err(|e| reject(e.into()))?;
    Ok(settled.scheduler.version)
}

#[derive(Clone, Copy)]
struct Form {
    work: RwSignal<Autoscaling>,
    errors: Memo<Vec<FieldError>>,
    /// Bumped when a trigger list changes shape, to render its rows again.
    revision: RwSignal<u32>,
}

impl Form {
    fn messages(&self, path: &str) -> Vec<String> {
        self.errors.with(|errors| {
            errors
                .iter()
                .filter(|e| e.field == path)
                .map(|e| e.message.clone())
                .collect()
        })
    }
}

/// A number input; `set` receives the parsed value (or `None` when empty) and says whether it
/// took it.
fn number_field(
    form: Form,
    label: &'static str,
    path: String,
    value: String,
    set: impl Fn(&mut Autoscaling, Option<f64>) + Copy + Send + Sync + 'static,
) -> AnyView {
    let messages = {
        let path = path.clone();
        move || form.messages(&path)
    };
    let invalid = {
        let messages = messages.clone();
        move || !messages().is_empty()
    };
    view! {
        <label class="field" class:invalid=invalid>
            <span>{label}</span>
            <input
                type="number"
                step="any"
                name=path
                value=value
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    let parsed = text.trim().parse::<f64>().ok();
                    if parsed.is_some() || text.trim().is_empty() {
                        form.work.update(|a| set(a, parsed));
                    }
                }
            />
            {move || {
                messages()
                    .into_iter()
                    .map(|m| view! { <span class="field-error">{m}</span> })
                    .collect_view()
            }}
        </label>
    }
    .into_any()
}

fn whole(v: Option<f64>) -> i64 {
    v.map_or(0, |v| v.round() as i64)
}

fn unreserved(a: &mut Autoscaling) -> &mut UnreservedRoomsParameters {
    a.policy
        .get_or_insert_with(PolicyConfig::default)
        .parameters
        .unreserved_rooms
        .get_or_insert_with(Default::default)
}

fn occupancy(a: &mut Autoscaling) -> &mut RoomOccupancyParameters {
    a.policy
        .get_or_insert_with(PolicyConfig::default)
        .parameters
        .room_occupancy
        .get_or_insert_with(RoomOccupancyParameters::default)
}

fn direction_mut(a: &mut Autoscaling, up: bool) -> &mut ScalingDirection {
    let slot = if up { &mut a.up } else { &mut a.down };
    slot.get_or_insert_with(ScalingDirection::default)
}

fn trigger_row(form: Form, up: bool, i: usize, t: MetricsTrigger, count: usize) -> AnyView {
    let list = if up { "up" } else { "down" };
    let path = move |field: &str| format!("autoscaling.{list}.metricsTrigger[{i}].{field}");
    let set = move |a: &mut Autoscaling, change: &dyn Fn(&mut MetricsTrigger)| {
        if let Some(t) = direction_mut(a, up).metrics_trigger.get_mut(i) {
            change(t);
        }
    };
    let move_to = move |to: usize| {
        form.work
            .update(|a| direction_mut(a, up).metrics_trigger.swap(i, to));
        form.revision.update(|r| *r += 1);
    };
    let type_path = path("type");
    let type_messages = move || form.messages(&type_path);
    view! {
        <div class="trigger-row" data-testid=format!("{list}-trigger-{i}")>
            <label class="field">
                <span>"Type"</span>
                <select
                    name=path("type")
                    on:change=move |ev| {
                        let kind = event_target_value(&ev);
                        form.work.update(|a| set(a, &|t| t.r#type = kind.clone()));
                    }
                >
                    {trigger_types()
                        .map(|kind| {
                            view! { <option value=kind selected=t.r#type == kind>{kind}</option> }
                        })
                        .collect_view()}
                </select>
                {move || {
                    type_messages()
                        .into_iter()
                        .map(|m| view! { <span class="field-error">{m}</span> })
                        .collect_view()
                }}
            </label>
            {number_field(form, "Usage %", path("usage"), t.usage.to_string(), move |a, v| {
                set(a, &|t| t.usage = whole(v))
            })}
            {number_field(form, "Threshold %", path("threshold"), t.threshold.to_string(), move |a, v| {
                set(a, &|t| t.threshold = whole(v))
            })}
            {number_field(form, "Time (s)", path("time"), t.time.to_string(), move |a, v| {
                set(a, &|t| t.time = whole(v))
            })}
            {up
                .then(|| {
                    number_field(
                        form,
                        "Limit % (optional)",
                        path("limit"),
                        t.limit.map(|l| l.to_string()).unwrap_or_default(),
                        move |a, v| set(a, &|t| t.limit = v.map(|v| v.round() as i64)),
                    )
                })}
            <div class="row-actions">
                <button type="button" class="button small" title="Move up" disabled={i == 0}
                    on:click=move |_| move_to(i - 1)>"↑"</button>
                <button type="button" class="button small" title="Move down" disabled={i + 1 >= count}
                    on:click=move |_| move_to(i + 1)>"↓"</button>
                <button type="button" class="button small danger" title="Remove"
                    on:click=move |_| {
                        form.work.update(|a| {
                            direction_mut(a, up).metrics_trigger.remove(i);
                        });
                        form.revision.update(|r| *r += 1);
                    }>"✕"</button>
            </div>
        </div>
    }
    .into_any()
}

fn trigger_list(form: Form, up: bool) -> AnyView {
    let (title, list) = if up {
        ("Scale up when", "up")
    } else {
        ("Scale down when", "down")
    };
    let rows = move || {
        form.revision.get();
        let triggers = form
            .work
            .with_untracked(|a| if up { a.up.clone() } else { a.down.clone() })
            .unwrap_or_default()
            .metrics_trigger;
        let count = triggers.len();
        triggers
            .into_iter()
            .enumerate()
            .map(|(i, t)| trigger_row(form, up, i, t, count))
            .collect_view()
    };
    let cooldown = form.work.with_untracked(|a| {
        if up { a.up.as_ref() } else { a.down.as_ref() }.map_or(0, |d| d.cooldown)
    });
    let list_path = format!("autoscaling.{list}.metricsTrigger");
    let list_messages = move || form.messages(&list_path);
    view! {
        <fieldset class="card">
            <legend>{title}</legend>
            <p class="hint">"Checked in order: the first trigger that matches scales."</p>
            {rows}
            {move || {
                list_messages()
                    .into_iter()
                    .map(|m| view! { <span class="field-error">{m}</span> })
                    .collect_view()
            }}
            <div class="row">
                <button
                    type="button"
                    class="button"
                    on:click=move |_| {
                        form.work.update(|a| {
                            direction_mut(a, up).metrics_trigger.push(trigger(if up { 60 } else { 50 }))
                        });
                        form.revision.update(|r| *r += 1);
                    }
                >
                    "Add trigger"
                </button>
                {number_field(
                    form,
                    "Cooldown (s)",
                    format!("autoscaling.{list}.cooldown"),
                    cooldown.to_string(),
                    move |a, v| direction_mut(a, up).cooldown = whole(v),
                )}
            </div>
        </fieldset>
    }
    .into_any()
}

#[component]
fn AutoscalingForm(base: AutoscalingEdit) -> impl IntoView {
    let save = ServerAction::<SaveAutoscaling>::new();
    let initial = base.autoscaling.clone();
    let mode = RwSignal::new(mode_of(&initial).to_string());
    let work = RwSignal::new(working_copy(&initial));
    let result = Memo::new(move |_| work.with(|w| output(&mode.get(), w)));
    let errors = {
        let containers = base.containers.clone();
        Memo::new(move |_| {
            result.with(|a| {
                a.as_ref()
                    .and_then(|a| a.validate(&containers).err())
                    .unwrap_or_default()
            })
        })
    };
    let server_errors = move || match save.value().get() {
        Some(Err(AppError::Invalid(errors))) => errors,
        _ => Vec::new(),
    };
    let all_errors = Memo::new(move |_| {
        let mut all = errors.get();
        all.extend(server_errors());
        all
    });
    let form = Form {
        work,
        errors: all_errors,
        revision: RwSignal::new(0),
    };
    let name = base.name.clone();
    let navigate = use_navigate();
    Effect::new({
        let name = name.clone();
        move |_| {
            if let Some(Ok(_)) = save.value().get() {
                navigate(&format!("/ui/schedulers/{name}"), Default::default());
            }
        }
    });
    let submit = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if !errors.with_untracked(Vec::is_empty) {
                return;
            }
            save.dispatch(SaveAutoscaling {
                name: name.clone(),
                autoscaling: result.get_untracked(),
            });
        }
    };
    let fixed = |get: fn(&Autoscaling) -> String| work.with_untracked(get);
    // The server checks the whole scheduler; what it finds outside autoscaling is listed apart.
    let other_errors = move || {
        server_errors()
            .iter()
            .filter(|e| !e.field.starts_with("autoscaling"))
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
    };
    let rooms_replicas = base.rooms_replicas;
    view! {
        {move || save.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error/> })}
        <div class="autoscaling-layout">
            <form class="scheduler-form autoscaling-form" novalidate on:submit=submit>
                <fieldset class="card">
                    <legend>"Autoscaling"</legend>
                    <label class="field">
                        <span>"Policy"</span>
                        <select name="mode" on:change=move |ev| mode.set(event_target_value(&ev))>
                            {MODES
                                .iter()
                                .map(|(value, label)| {
                                    view! {
                                        <option value=*value selected=mode.get_untracked() == *value>
                                            {*label}
                                        </option>
                                    }
                                })
                                .collect_view()}
                        </select>
                    </label>
                    <div class="row" class:hidden=move || mode.get() == "off">
                        {number_field(form, "Min rooms", "autoscaling.min".into(), fixed(|a| a.min.to_string()), |a, v| a.min = whole(v))}
                        {number_field(form, "Max rooms (0: no limit)", "autoscaling.max".into(), fixed(|a| a.max.to_string()), |a, v| a.max = whole(v))}
                    </div>
                </fieldset>
                <div class:hidden=move || mode.get() != "triggers">
                    {trigger_list(form, true)}
                    {trigger_list(form, false)}
                    <fieldset class="card">
                        <legend>"Resources and panic scale"</legend>
                        <div class="row">
                            <label class="field">
                                <span>"CPU request per room (cpu triggers)"</span>
                                <input type="text" name="autoscaling.requests.cpu"
                                    value=fixed(|a| a.requests.as_ref().map(|r| r.cpu.clone()).unwrap_or_default())
                                    on:input=move |ev| {
                                        let v = event_target_value(&ev);
                                        work.update(|a| a.requests.get_or_insert_with(Resources::default).cpu = v);
                                    }/>
                            </label>
                            <label class="field">
                                <span>"Memory request per room (mem triggers)"</span>
                                <input type="text" name="autoscaling.requests.memory"
                                    value=fixed(|a| a.requests.as_ref().map(|r| r.memory.clone()).unwrap_or_default())
                                    on:input=move |ev| {
                                        let v = event_target_value(&ev);
                                        work.update(|a| a.requests.get_or_insert_with(Resources::default).memory = v);
                                    }/>
                            </label>
                        </div>
                        <label class="check">
                            <input type="checkbox" name="autoscaling.enablePanicScale"
                                checked=work.with_untracked(|a| a.enable_panic_scale)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    work.update(|a| a.enable_panic_scale = on);
                                }/>
                            " Panic scale: scale up at once when occupancy reaches the first up trigger's limit"
                        </label>
                    </fieldset>
                </div>
                <fieldset class="card" class:hidden=move || mode.get() != "roomOccupancy">
                    <legend>"Room occupancy"</legend>
                    <div class="row">
                        {number_field(form, "Ready target (0–1)", "autoscaling.policy.parameters.roomOccupancy.readyTarget".into(),
                            fixed(|a| a.policy.as_ref().and_then(|p| p.parameters.ready_target()).unwrap_or_default().to_string()),
                            |a, v| occupancy(a).ready_target = v)}
                        {number_field(form, "Down threshold (0–1, default 0.99)", "autoscaling.policy.parameters.roomOccupancy.downThreshold".into(),
                            fixed(|a| a.policy.as_ref().and_then(|p| p.parameters.down_threshold()).unwrap_or(DEFAULT_DOWN_THRESHOLD).to_string()),
                            |a, v| occupancy(a).down_threshold = v.unwrap_or(DEFAULT_DOWN_THRESHOLD))}
                    </div>
                </fieldset>
                <fieldset class="card" class:hidden=move || mode.get() != "fixedBuffer">
                    <legend>"Fixed buffer"</legend>
                    {number_field(form, "Ready rooms on top of the occupied ones", "autoscaling.policy.parameters.fixedBuffer.amount".into(),
                        fixed(|a| a.policy.as_ref().and_then(|p| p.parameters.amount()).unwrap_or_default().to_string()),
                        |a, v| a.policy.get_or_insert_with(PolicyConfig::default).parameters.fixed_buffer.get_or_insert_with(Default::default).amount = v.map(|v| v.round() as i64))}
                </fieldset>
                <fieldset class="card" class:hidden=move || mode.get() != "unreservedRooms">
                    <legend>"Free rooms between min and max (zeuz's unreserved payloads)"</legend>
                    <p class="hint">"Rooms that can still take a match: below min the scheduler grows by the shortfall, above max it shrinks by the excess."</p>
                    <div class="row">
                        {number_field(form, "Min free rooms", "autoscaling.policy.parameters.unreservedRooms.min".into(),
                            fixed(|a| a.policy.as_ref().and_then(|p| p.parameters.unreserved_rooms.as_ref()?.min).unwrap_or_default().to_string()),
                            |a, v| unreserved(a).min = v.map(|v| v.round() as i64))}
                        {number_field(form, "Max free rooms", "autoscaling.policy.parameters.unreservedRooms.max".into(),
                            fixed(|a| a.policy.as_ref().and_then(|p| p.parameters.unreserved_rooms.as_ref()?.max).unwrap_or_default().to_string()),
                            |a, v| unreserved(a).max = v.map(|v| v.round() as i64))}
                    </div>
                </fieldset>
                <fieldset class="card" class:hidden=move || !POLICY_MODES.contains(&mode.get().as_str())>
                    {number_field(form, "Cooldown before a downscale (s)", "autoscaling.cooldown".into(),
                        fixed(|a| a.cooldown.to_string()),
                        |a, v| a.cooldown = whole(v))}
                </fieldset>
                {move || {
                    let lines = other_errors();
                    (!lines.is_empty()).then(|| view! {
                        <div class="error-box" role="alert">
                            <p>"Other problems in this scheduler (fix them on its edit page):"</p>
                            <ul>{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                        </div>
                    })
                }}
                <div class="form-actions">
                    <button type="submit" class="button primary"
                        disabled=move || save.pending().get() || !errors.with(Vec::is_empty)>
                        "Save new version"
                    </button>
                </div>
            </form>
            <AutoscalingPreview
                autoscaling=result
                rooms_replicas=Signal::derive(move || rooms_replicas)
                scheduler=base.name.clone()
            />
        </div>
    }
}

#[component]
pub fn SchedulerAutoscalingPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let config = Resource::new(name, autoscaling_for_edit);
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs">
                    <a href="/ui/schedulers">"Schedulers"</a>
                    " / "
                    <a href=move || format!("/ui/schedulers/{}", name())>{name}</a>
                </p>
                <h1>"Autoscaling of " {name}</h1>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                config
                    .get()
                    .map(|result| match result {
                        Ok(base) => view! { <AutoscalingForm base/> }.into_any(),
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
