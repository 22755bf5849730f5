use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::autoscaling::{Autoscaling, PolicyConfig, PolicyParameters};
use crate::domain::scheduler::{Container, EnvironmentVariable};

fn paths(changes: &[FieldChange]) -> Vec<String> {
    changes.iter().map(|c| c.path.to_string()).collect()
}

#[test]
fn nested_fields_and_array_members_have_dotted_paths() {
    let before = json!({
        "autoscaling": {"min": 1, "max": 5},
        "spec": {"containers": [{"image": "game:1", "name": "c"}]},
        "name": "s"
    });
    let after = json!({
        "autoscaling": {"min": 2, "max": 5},
        "spec": {"containers": [{"image": "game:2", "name": "c"}, {"image": "side:1"}]},
        "name": "s"
    });
    let found = changes(&before, &after);
    assert_eq!(
        paths(&found),
        [
            "autoscaling.min",
            "spec.containers[0].image",
            "spec.containers[1]"
        ]
    );
    assert_eq!(found[0].before, Some(json!(1)));
    assert_eq!(found[0].after, Some(json!(2)));
    assert_eq!(found[2].before, None);
    assert_eq!(found[2].after, Some(json!({"image": "side:1"})));
}

#[test]
fn a_create_and_a_delete_are_one_change_of_the_whole_document() {
    let doc = json!({"a": 1});
    let created = changes_of(None, Some(&doc));
    assert_eq!(paths(&created), [""]);
    assert_eq!(created[0].after, Some(doc.clone()));
    let deleted = changes_of(Some(&doc), None);
    assert_eq!(deleted[0].before, Some(doc));
    assert_eq!(deleted[0].after, None);
}

#[test]
fn values_of_another_kind_change_as_a_whole() {
    let found = changes(&json!({"a": [1]}), &json!({"a": {"0": 1}}));
    assert_eq!(paths(&found), ["a"]);
    let null_is_not_absent = changes(&json!({"a": null}), &json!({}));
    assert_eq!(null_is_not_absent[0].before, Some(Value::Null));
    assert_eq!(null_is_not_absent[0].after, None);
}

#[test]
fn actions_round_trip_their_names() {
    for action in AuditAction::ALL {
        assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        assert_eq!(
            serde_json::to_value(action).unwrap(),
            json!(action.as_str())
        );
    }
    assert_eq!(AuditAction::parse("nope"), None);
}

fn config_with_env(variables: Vec<EnvironmentVariable>) -> SchedulerConfig {
    let mut config = SchedulerConfig {
        name: "s".into(),
        game: "g".into(),
        ..SchedulerConfig::default()
    };
    config.spec.containers.push(Container {
        name: "c".into(),
        environment: variables,
        ..Container::default()
    });
    config
}

#[test]
fn snapshots_never_hold_secret_values_but_show_that_they_changed() {
    let before = config_with_env(vec![
        EnvironmentVariable::plain("PLAIN", "one"),
        EnvironmentVariable::secret("KEY", "old-secret"),
        EnvironmentVariable::secret("SAME", "kept-secret"),
    ]);
    let after = config_with_env(vec![
        EnvironmentVariable::plain("PLAIN", "two"),
        EnvironmentVariable::secret("KEY", "new-secret"),
        EnvironmentVariable::secret("SAME", "kept-secret"),
    ]);
    let (b, a) = snapshots(&before, &after);
    let text = format!("{b}{a}");
    for secret in ["old-secret", "new-secret", "kept-secret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let found = changes(&b, &a);
    assert_eq!(
        paths(&found),
        [
            "spec.containers[0].environment[0].value",
            "spec.containers[0].environment[1].value"
        ]
    );
    assert_eq!(found[1].before, Some(json!(HIDDEN_VALUE)));
    assert_eq!(found[1].after, Some(json!(HIDDEN_CHANGED)));
    assert!(!snapshot(&after).to_string().contains("new-secret"));
}

#[test]
fn autoscaling_alone_is_told_apart_from_other_changes() {
    let before = config_with_env(vec![]);
    let mut after = before.clone();
    after.autoscaling = Some(Autoscaling {
        enabled: true,
        min: 2,
        max: 5,
        cooldown: 0,
        policy: Some(PolicyConfig {
            r#type: "fixedBuffer".into(),
            parameters: PolicyParameters::fixed_buffer(1),
        }),
        up: None,
        down: None,
        enable_panic_scale: false,
        requests: None,
    });
    assert!(only_autoscaling_changed(&before, &after));
    after.max_surge = "50%".into();
    assert!(!only_autoscaling_changed(&before, &after));
    assert!(!only_autoscaling_changed(&before, &before));
}

/// Small JSON documents whose keys often coincide, so that diffs recurse.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        "[ab]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-c.\\[]{1,2}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn a_document_does_not_differ_from_itself(doc in json_value()) {
        prop_assert!(changes(&doc, &doc).is_empty());
    }

    #[test]
    fn applying_the_changes_to_before_gives_after(before in json_value(), after in json_value()) {
        let found = changes(&before, &after);
        prop_assert_eq!(apply(Some(before.clone()), &found), Some(Some(after.clone())));
        // Each change is a real one, and changes are empty only between equal documents.
        prop_assert!(found.iter().all(|c| c.before != c.after));
        prop_assert_eq!(found.is_empty(), before == after);
    }

    #[test]
    fn absent_documents_apply_too(doc in json_value()) {
        prop_assert_eq!(apply(None, &changes_of(None, Some(&doc))), Some(Some(doc.clone())));
        prop_assert_eq!(apply(Some(doc.clone()), &changes_of(Some(&doc), None)), Some(None));
    }
}
