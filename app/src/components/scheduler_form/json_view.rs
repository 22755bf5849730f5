//! The whole scheduler as JSON, beside its form: edit the text, validate it in place with the
//! code the server runs, and load it into the form, which saves it the usual way. (JSON only:
//! a YAML reader would cost the browser's bundle more than it is worth.)

use leptos::prelude::*;

use crate::domain::scheduler::SchedulerConfig;
use crate::domain::validation::FieldError;

/// The scheduler `text` describes. When a scheduler is edited, `fixed` holds its name and game,
/// which a new version may not change.
pub(crate) fn read_scheduler(
    text: &str,
    fixed: Option<(&str, &str)>,
) -> Result<SchedulerConfig, Vec<FieldError>> {
    let config: SchedulerConfig = serde_json::from_str(text).map_err(|e| {
        vec![FieldError {
            field: String::new(),
            message: format!("not a scheduler's JSON: {e}"),
        }]
    })?;
    if let Some((name, game)) = fixed {
        let mut errors = Vec::new();
        for (field, found, wanted) in [("name", &config.name, name), ("game", &config.game, game)] {
            if found != wanted {
                errors.push(FieldError {
                    field: field.into(),
                    message: format!("is fixed once created (\"{wanted}\")"),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(config)
}

/// `read_scheduler`, then every problem validation finds, `capacity`'s included (those of
/// `allocation` are found by the server when the scheduler is saved).
pub(crate) fn check_scheduler(
    text: &str,
    fixed: Option<(&str, &str)>,
) -> Result<SchedulerConfig, Vec<FieldError>> {
    let config = read_scheduler(text, fixed)?;
    config.validate()?;
    Ok(config)
}

/// The configuration as the JSON view shows it: as `serde_json::to_string_pretty` writes it,
/// made from the compact JSON the save already writes (a second, pretty serializer of every
/// scheduler type would cost the bundle some 28 KB).
fn pretty(config: &SchedulerConfig) -> String {
    serde_json::to_string(config)
        .map(|compact| indent(&compact))
        .unwrap_or_default()
}

/// Compact JSON, indented by two spaces a level; empty objects and arrays stay `{}` and `[]`.
fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0_usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[derive(Clone)]
enum Outcome {
    Fine(&'static str),
    Problems(Vec<FieldError>),
}

/// The JSON view of `config`; "Apply to form" hands the text's scheduler to `on_apply`.
#[component]
pub fn SchedulerJson(
    config: RwSignal<SchedulerConfig>,
    /// Name and game of the scheduler being edited (a new version keeps them).
    fixed: Option<(String, String)>,
    on_apply: Callback<SchedulerConfig>,
) -> impl IntoView {
    let initial = config.with_untracked(pretty);
    let text = RwSignal::new(initial.clone());
    let outcome = RwSignal::new(None::<Outcome>);
    let fixed = StoredValue::new(fixed);
    let read = move |check: bool| {
        let text = text.get_untracked();
        fixed.with_value(|fixed| {
            let fixed = fixed.as_ref().map(|(n, g)| (n.as_str(), g.as_str()));
            if check {
                check_scheduler(&text, fixed)
            } else {
                read_scheduler(&text, fixed)
            }
        })
    };
    let validate = move |_| {
        outcome.set(Some(match read(true) {
            Ok(_) => Outcome::Fine("No problems found."),
            Err(errors) => Outcome::Problems(errors),
        }))
    };
    let apply = move |_| {
        outcome.set(Some(match read(false) {
            Ok(config) => {
                on_apply.run(config);
                Outcome::Fine("Loaded into the form above: review it there and save.")
            }
            Err(errors) => Outcome::Problems(errors),
        }))
    };
    let refresh = move |_| {
        text.set(config.with_untracked(pretty));
        outcome.set(None);
    };
    let shown = move || {
        outcome.get().map(|outcome| match outcome {
            Outcome::Fine(message) => {
                view! { <p class="json-outcome ok" role="status">{message}</p> }.into_any()
            }
            Outcome::Problems(errors) => view! {
                <div class="error-box json-outcome" role="alert">
                    <p>
                        {format!(
                            "{} problem{} to fix:",
                            errors.len(),
                            if errors.len() == 1 { "" } else { "s" },
                        )}
                    </p>
                    <ul>
                        {errors
                            .into_iter()
                            .map(|e| {
                                let line = if e.field.is_empty() {
                                    e.message
                                } else {
                                    format!("{}: {}", e.field, e.message)
                                };
                                view! { <li>{line}</li> }
                            })
                            .collect_view()}
                    </ul>
                </div>
            }
            .into_any(),
        })
    };
    view! {
        <section class="card json-view">
            <h2>"Scheduler as JSON"</h2>
            <p class="hint">
                "The whole scheduler, allocation and capacity included. Validate checks it as the form does \
                 (allocation is checked when saved); Apply to form loads it into the form above, \
                 which saves it."
            </p>
            <label class="field wide">
                <span>"Scheduler JSON"</span>
                <textarea
                    name="json"
                    rows="24"
                    spellcheck="false"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                >
                    {initial}
                </textarea>
            </label>
            <div class="form-actions">
                <button type="button" class="button" on:click=validate>
                    "Validate"
                </button>
                <button type="button" class="button" on:click=apply>
                    "Apply to form"
                </button>
                <button type="button" class="button link" on:click=refresh>
                    "Copy from form"
                </button>
            </div>
            {shown}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> serde_json::Value {
        serde_json::json!({
            "name": "s1", "game": "g1", "roomsReplicas": 1, "maxSurge": "10%",
            "portRange": {"start": 20000, "end": 21000},
            "spec": {"terminationGracePeriod": "100s", "containers": [{"name": "c",
                "image": "i", "ports": [{"name": "p", "protocol": "udp", "port": 7777}]}]},
            "labels": {"team": "blue"}, "matchAllocation": {"maxMatches": 2}
        })
    }

    #[test]
    fn indenting_compact_json_writes_what_serde_json_pretty_writes() {
        let mut config: SchedulerConfig = serde_json::from_value(seed()).unwrap();
        config.spec.containers[0].command = vec!["a \"quoted\" {arg}, [x]: y\\".into()];
        config.annotations.insert("k".into(), "ünïcode\n\t".into());
        config.forwarders.push(Default::default());
        assert_eq!(
            pretty(&config),
            serde_json::to_string_pretty(&config).unwrap()
        );
        assert_eq!(indent("[]"), "[]");
        assert_eq!(
            indent(r#"{"a":[{}],"b":"}"}"#),
            "{\n  \"a\": [\n    {}\n  ],\n  \"b\": \"}\"\n}"
        );
    }

    #[test]
    fn the_pretty_json_reads_back_to_the_same_scheduler() {
        let config: SchedulerConfig = serde_json::from_value(seed()).unwrap();
        let text = pretty(&config);
        assert!(
            text.contains("\n  \"labels\": {\n    \"team\": \"blue\""),
            "{text}"
        );
        assert_eq!(check_scheduler(&text, Some(("s1", "g1"))), Ok(config));
    }

    #[test]
    fn mistakes_are_named_by_field_path() {
        let mut bad = seed();
        bad["matchAllocation"]["maxMatches"] = 0.into();
        bad["labels"]["bad key"] = "x".into();
        let text = bad.to_string();
        let fields: Vec<String> = check_scheduler(&text, None)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["labels.bad key", "matchAllocation.maxMatches"]);
        // Reading alone (Apply to form) takes it: the form shows the errors at their fields.
        assert!(read_scheduler(&text, None).is_ok());
    }

    #[test]
    fn capacity_mistakes_are_found_in_place_by_field_path() {
        let mut bad = seed();
        bad["capacity"] = serde_json::json!({"PayloadQuota": {"CpuCores": 0, "MemoryMB": 256},
            "minUnreservedPayloads": 4, "maxUnreservedPayloads": 2});
        let errors = check_scheduler(&bad.to_string(), None).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "capacity.payloadQuota.cpuCores",
                "capacity.maxUnreservedPayloads"
            ]
        );
        bad["capacity"]["PayloadQuota"]["CpuCores"] = 0.5.into();
        bad["capacity"]["maxUnreservedPayloads"] = 4.into();
        let config = check_scheduler(&bad.to_string(), None).unwrap();
        assert_eq!(
            config.capacity.map(|c| c.payload_quota.cpu_cores),
            Some(0.5)
        );
    }

    #[test]
    fn text_that_is_no_scheduler_is_refused_with_where() {
        let errors =
            read_scheduler("{\"name\": \"s1\",\n \"roomsReplicas\": \"x\"}", None).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "");
        assert!(errors[0].message.contains("line 2"), "{:?}", errors[0]);
    }

    #[test]
    fn a_new_version_keeps_its_name_and_game() {
        let text = seed().to_string();
        let errors = read_scheduler(&text, Some(("s2", "g2"))).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "game"]);
        assert!(read_scheduler(&text, Some(("s1", "g1"))).is_ok());
    }
}
