//! Key-value lists on the scheduler form (labels, annotations, a forwarder's metadata).
//!
//! The rows are the form's own state: while a key is typed, it may be empty or the same as
//! another row's, which a map cannot hold. Every change writes the rows' map into the
//! configuration; a repeated key or a value without a key is a problem of the form, shown at
//! the row and blocking the submit, as a number that does not parse is.

use std::collections::BTreeMap;
use std::sync::Arc;

use leptos::prelude::*;

use super::Form;
use crate::domain::scheduler::SchedulerConfig;

/// One row: key and value as typed.
pub(crate) type Row = (String, String);

/// The rows of a map, in key order.
pub(crate) fn map_to_rows(map: &BTreeMap<String, String>) -> Vec<Row> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The map the rows stand for, and what is wrong with them: `(key, message)` for each key
/// listed twice and for a value without a key (key `""`). Keys are trimmed; a row with neither
/// key nor value is ignored.
pub(crate) fn rows_to_map(rows: &[Row]) -> (BTreeMap<String, String>, Vec<(String, String)>) {
    let mut map = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, value) in rows {
        let key = key.trim();
        if key.is_empty() {
            if !value.is_empty()
                && !problems
                    .iter()
                    .any(|(k, _): &(String, String)| k.is_empty())
            {
                problems.push((String::new(), "a value needs a key".to_string()));
            }
            continue;
        }
        if map.insert(key.to_string(), value.clone()).is_some()
            && !problems.iter().any(|(k, _)| k == key)
        {
            problems.push((key.to_string(), "is listed twice".to_string()));
        }
    }
    (map, problems)
}

/// A forwarder's metadata as rows: text values as they are, others as their JSON.
pub(crate) fn metadata_to_rows(metadata: &serde_json::Map<String, serde_json::Value>) -> Vec<Row> {
    metadata
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// Metadata from a map of texts. Values are kept as text: forwarders send every value as text
/// anyway (a number as its JSON), so `7` and `"7"` reach them the same.
pub(crate) fn map_to_metadata(
    map: BTreeMap<String, String>,
) -> serde_json::Map<String, serde_json::Value> {
    map.into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect()
}

/// Writes the rows' map into the configuration.
pub(super) type Write = Arc<dyn Fn(&mut SchedulerConfig, BTreeMap<String, String>) + Send + Sync>;

/// A key-value list at `path` (`labels`, `forwarders[0].options.metadata`): inputs named
/// `{path}[j].key` and `{path}[j].value`; errors at `{path}.{key}`, as validation names them.
pub(super) fn key_value_list(
    form: Form,
    what: &'static str,
    path: String,
    initial: Vec<Row>,
    write: Write,
) -> AnyView {
    let rows = RwSignal::new(initial);
    let count = Memo::new(move |_| rows.with(Vec::len));
    let prefix = format!("{path}.");
    // Made anew (a forwarder removed or added re-renders them all): the rows come from the
    // map, without the repeats an earlier list had.
    if form
        .bad_numbers
        .with_untracked(|bad| bad.keys().any(|field| field.starts_with(&prefix)))
    {
        form.bad_numbers
            .update(|bad| bad.retain(|field, _| !field.starts_with(&prefix)));
    }
    let sync = {
        let prefix = prefix.clone();
        Arc::new(move || {
            let (map, problems) = rows.with_untracked(|r| rows_to_map(r));
            form.set(|c| write(c, map));
            form.bad_numbers.update(|bad| {
                bad.retain(|field, _| !field.starts_with(&prefix));
                for (key, message) in problems {
                    bad.insert(format!("{prefix}{key}"), message);
                }
            });
        })
    };
    let row = {
        let path = path.clone();
        let sync = sync.clone();
        move |j: usize| key_value_row(form, &path, &prefix, rows, j, sync.clone())
    };
    let add = format!("Add {what}");
    view! {
        <div class="key-values" data-list=path>
            {move || (0..count.get()).map(row.clone()).collect_view()}
            <button
                type="button"
                class="button small"
                on:click=move |_| rows.update(|r| r.push((String::new(), String::new())))
            >
                {add}
            </button>
        </div>
    }
    .into_any()
}

fn key_value_row(
    form: Form,
    path: &str,
    prefix: &str,
    rows: RwSignal<Vec<Row>>,
    j: usize,
    sync: Arc<dyn Fn() + Send + Sync>,
) -> AnyView {
    let (key, value) = rows.with_untracked(|r| r.get(j).cloned().unwrap_or_default());
    // The row's messages are those of its current key.
    let prefix = prefix.to_string();
    let field = move || {
        let key = rows.with(|r| r.get(j).map(|r| r.0.trim().to_string()));
        format!("{prefix}{}", key.unwrap_or_default())
    };
    let messages = {
        let field = field.clone();
        move || form.messages(&field())
    };
    let invalid = {
        let messages = messages.clone();
        move || !messages().is_empty()
    };
    let (on_key, on_value, on_remove) = (sync.clone(), sync.clone(), sync);
    let touch_key = {
        let field = field.clone();
        move |_| form.touch(&field())
    };
    let touch_value = move |_| form.touch(&field());
    view! {
        <div class="row item">
            <label class="field" class:invalid=invalid>
                <span>"Key"</span>
                <input
                    type="text"
                    name=format!("{path}[{j}].key")
                    value=key
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        rows.update(|r| {
                            if let Some(row) = r.get_mut(j) {
                                row.0 = text
                            }
                        });
                        on_key();
                    }
                    on:change=touch_key
                />
                {move || {
                    messages()
                        .into_iter()
                        .map(|m| view! { <span class="field-error">{m}</span> })
                        .collect_view()
                }}
            </label>
            <label class="field">
                <span>"Value"</span>
                <input
                    type="text"
                    name=format!("{path}[{j}].value")
                    value=value
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        rows.update(|r| {
                            if let Some(row) = r.get_mut(j) {
                                row.1 = text
                            }
                        });
                        on_value();
                    }
                    on:change=touch_value
                />
            </label>
            <button
                type="button"
                class="button link remove"
                title="Remove entry"
                on:click=move |_| {
                    rows.update(|r| {
                        if j < r.len() {
                            r.remove(j);
                        }
                    });
                    on_remove();
                }
            >
                "Remove"
            </button>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<Row> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_map_round_trips_through_its_rows() {
        let map: BTreeMap<String, String> = [("team", "blue"), ("app.kubernetes.io/name", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let listed = map_to_rows(&map);
        assert_eq!(listed[0].0, "app.kubernetes.io/name");
        assert_eq!(rows_to_map(&listed), (map, vec![]));
    }

    #[test]
    fn repeated_keys_and_values_without_keys_are_problems() {
        let (map, problems) = rows_to_map(&rows(&[
            ("team", "blue"),
            (" team ", "red"),
            ("", ""),
            ("", "orphan"),
            ("", "orphan-too"),
            ("team", "green"),
            ("tier", ""),
        ]));
        assert_eq!(map.len(), 2);
        assert_eq!(map["team"], "green");
        assert_eq!(map["tier"], "");
        assert_eq!(
            problems,
            vec![
                ("team".to_string(), "is listed twice".to_string()),
                (String::new(), "a value needs a key".to_string()),
            ]
        );
        assert_eq!(rows_to_map(&rows(&[("", "")])), (BTreeMap::new(), vec![]));
    }

    #[test]
    fn metadata_values_show_as_text_and_are_written_as_text() {
        let metadata = serde_json::json!({"roomType": "red", "tier": 3, "flags": {"a": true}});
        let listed = metadata_to_rows(metadata.as_object().unwrap());
        assert_eq!(
            listed,
            rows(&[
                ("flags", r#"{"a":true}"#),
                ("roomType", "red"),
                ("tier", "3")
            ])
        );
        let (map, problems) = rows_to_map(&listed);
        assert!(problems.is_empty());
        let written = serde_json::Value::Object(map_to_metadata(map));
        assert_eq!(
            written,
            serde_json::json!({"roomType": "red", "tier": "3", "flags": "{\"a\":true}"})
        );
    }
}
