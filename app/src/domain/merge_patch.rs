//! JSON merge patch (RFC 7386), what `PATCH /schedulers/{name}` applies to the active version.

use serde_json::{Map, Value};

/// Applies `patch` to `target` as RFC 7386 defines it: a patch object merges key by key into
/// an object (a target that is not an object first becomes `{}`), `null` removes a key, and any
/// other patch value replaces the target whole. Nulls never survive into the result, however
/// deep: a patch object for a key the target lacks is applied to `{}`.
pub fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(&key);
        } else {
            merge_patch(target.entry(key).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_examples_of_rfc_7386() {
        // Appendix A: (original, patch, result).
        let table = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (original, patch, result) in table {
            let mut target = original.clone();
            merge_patch(&mut target, patch.clone());
            assert_eq!(target, result, "{original} patched with {patch}");
        }
    }

    #[test]
    fn nested_nulls_never_survive() {
        // A key whose value is not an object becomes one, and the patch's nulls remove.
        let mut target = json!({"spec": "text", "kept": 1});
        merge_patch(&mut target, json!({"spec": {"x": null, "y": {"z": null}}}));
        assert_eq!(target, json!({"spec": {"y": {}}, "kept": 1}));
    }
}
