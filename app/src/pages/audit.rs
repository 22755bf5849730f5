//! The audit log: who changed what and when, newest first, with each change field by field.
//! Filters by game and scheduler; the rules of who reads what live in `services::audit`
//! (shared with `GET /audit`).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::auth::AppError;
use crate::components::common::ErrorBox;

/// One field that changed, as text (the JSON values stay on the server).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangedField {
    pub path: String,
    /// The value before, as JSON; empty when the field did not exist.
    pub before: String,
    pub after: String,
}

/// One entry of the log as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    /// RFC 3339, UTC, to the second.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub game: Option<String>,
    pub scheduler: Option<String>,
    pub summary: String,
    pub changes: Vec<ChangedField>,
}

/// One page of the log: `limit` entries older than entry `before` (empty: the newest).
#[server(endpoint = "list_audit", output = crate::codec::JsonText)]
pub async fn list_audit(
    game: String,
    scheduler: String,
    before: String,
) -> Result<Vec<AuditRow>, AppError> {
    use crate::auth::server::{dashboard, reject, require_user};
    use crate::services::audit::AuditQuery;

    let user = require_user().await?;
    let query = AuditQuery::parse(Some(&game), Some(&scheduler), None, Some(&before))
        .map_err(|e| reject(e.into()))?;
    let entries = dashboard()?
        .schedulers
        .audit
        .list(&user, &query)
        .await
        .map_err(|e| reject(e.into()))?;
    let text = |value: Option<serde_json::Value>| value.map(|v| v.to_string()).unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|entry| AuditRow {
            changes: entry
                .changes()
                .into_iter()
                .map(|change| ChangedField {
                    path: change.path.to_string(),
                    before: text(change.before),
                    after: text(change.after),
                })
                .collect(),
            id: entry.id,
            at: entry.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: entry.actor,
            action: entry.action.as_str().replace('_', " "),
            game: entry.game,
            scheduler: entry.scheduler,
            summary: entry.summary,
        })
        .collect())
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name).unwrap_or_default());
    let entries = Resource::new(
        move || (param("game"), param("scheduler"), param("before")),
        |(game, scheduler, before)| list_audit(game, scheduler, before),
    );
    view! {
        <h1>"Audit log"</h1>
        <section class="card">
            <form method="get" action="/ui/audit" class="filters">
                <label>
                    <span>"Game"</span>
                    <input type="text" name="game" value=move || param("game")/>
                </label>
                <label>
                    <span>"Scheduler"</span>
                    <input type="text" name="scheduler" value=move || param("scheduler")/>
                </label>
                <button type="submit" class="button">
                    "Filter"
                </button>
            </form>
        </section>
        <section class="card">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    entries
                        .get()
                        .map(|result| match result {
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                            Ok(rows) if rows.is_empty() => {
                                view! { <p class="muted">"No changes recorded."</p> }.into_any()
                            }
                            Ok(rows) => {
                                let older = rows.last().map(|row| older_link(row.id, &param));
                                view! {
                                    <table class="grid audit">
                                        <thead>
                                            <tr>
                                                <th>"When"</th>
                                                <th>"Who"</th>
                                                <th>"What"</th>
                                                <th>"Changes"</th>
                                            </tr>
                                        </thead>
                                        <tbody>{rows.into_iter().map(entry_row).collect_view()}</tbody>
                                    </table>
                                    <a class="button small" href=older>
                                        "Older"
                                    </a>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

/// The link to the page of entries older than entry `id`, with the same filters.
fn older_link(id: i64, param: &impl Fn(&str) -> String) -> String {
    let mut link = format!("/ui/audit?before={id}");
    for name in ["game", "scheduler"] {
        let value = param(name);
        if !value.is_empty() {
            link.push_str(&format!("&{name}={}", encode(&value)));
        }
    }
    link
}

/// Percent-encodes what a game or scheduler name may hold beyond `[A-Za-z0-9._-]`.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn entry_row(row: AuditRow) -> impl IntoView {
    let place = match (&row.game, &row.scheduler) {
        (Some(game), Some(scheduler)) => format!("{game} / {scheduler}"),
        _ => String::new(),
    };
    view! {
        <tr data-audit=row.id>
            <td class="when">{row.at}</td>
            <td>{row.actor}</td>
            <td>
                <span class="badge">{row.action}</span>
                " "
                {row.summary}
                <div class="muted">{place}</div>
            </td>
            <td>
                <ul class="changes">
                    {row
                        .changes
                        .into_iter()
                        .map(|change| {
                            view! {
                                <li>
                                    <code>{change.path}</code>
                                    ": "
                                    <del>{change.before}</del>
                                    " → "
                                    <ins>{change.after}</ins>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_older_link_keeps_the_filters_encoded() {
        let param = |name: &str| match name {
            "game" => "my game".to_string(),
            "scheduler" => "demo".to_string(),
            _ => String::new(),
        };
        assert_eq!(
            older_link(42, &param),
            "/ui/audit?before=42&game=my%20game&scheduler=demo"
        );
        assert_eq!(
            older_link(7, &|_: &str| String::new()),
            "/ui/audit?before=7"
        );
    }
}
