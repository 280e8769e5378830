//! Properties of PATCH handling over generated documents: a merge patch or JSON patch computed
//! from two documents turns the first into the second; a strategic merge patch of a keyed list
//! item changes that item only; and no body, however malformed, makes any patch type (server-side
//! apply included) panic.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::Scope;
use super::patch::{PatchType, apply};
use super::server_side_apply;
use crate::resources::ResourceDesc;

fn builtin(plural: &str) -> ResourceDesc {
    crate::resources::builtin_kinds::all().into_iter().find(|d| d.plural == plural).expect("a built-in kind")
}

/// Keys that include the strategic merge directives and the names of keyed lists, so that
/// generated documents reach those paths too.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,5}",
        1 => prop::sample::select(vec![
            "$patch", "$retainKeys", "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers",
            "containers", "env", "ports", "name", "spec", "template", "metadata", "finalizers", "value",
            "containerPort", "replace", "delete", "merge",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Any JSON document; `nulls` says whether null may appear.
fn document(nulls: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z$/ ]{0,6}".prop_map(Value::from),
        Just(if nulls { Value::Null } else { json!(0) }),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object (what an API object is at its top).
fn object(nulls: bool) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), document(nulls), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// The RFC 7386 merge patch that turns `from` into `to` (which holds no nulls).
fn merge_patch(from: &Value, to: &Value) -> Value {
    let (Some(from), Some(to)) = (from.as_object(), to.as_object()) else { return to.clone() };
    let mut patch = Map::new();
    for key in from.keys().filter(|k| !to.contains_key(*k)) {
        patch.insert(key.clone(), Value::Null);
    }
    for (key, value) in to {
        match from.get(key) {
            Some(old) if old == value => {}
            Some(old) if old.is_object() && value.is_object() => {
                patch.insert(key.clone(), merge_patch(old, value));
            }
            _ => {
                patch.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(patch)
}

/// JSON patch operations, valid or not.
fn json_patch_body() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test", "bogus"]);
    let path = prop::collection::vec(prop_oneof!["[a-z]{1,3}", "[0-9]{1,2}", Just("-".to_owned())], 0..4)
        .prop_map(|parts| parts.iter().map(|p| format!("/{p}")).collect::<String>());
    let operation = (op, path.clone(), path, document(true))
        .prop_map(|(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}));
    prop::collection::vec(operation, 0..5).prop_map(Value::Array)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_merge_patch_computed_from_two_documents_yields_the_second(from in object(true), to in object(false)) {
        let patch = merge_patch(&from, &to);
        let body = serde_json::to_vec(&patch).expect("json");
        let patched = apply(&builtin("configmaps"), &from, PatchType::Merge, &body).expect("a merge patch applies");
        prop_assert_eq!(patched, to);
    }

    #[test]
    fn a_json_patch_computed_from_two_documents_yields_the_second(from in object(true), to in object(true)) {
        let patch = json_patch::diff(&from, &to);
        let body = serde_json::to_vec(&patch).expect("json");
        let patched = apply(&builtin("configmaps"), &from, PatchType::Json, &body).expect("a JSON patch applies");
        prop_assert_eq!(patched, to);
    }

    #[test]
    fn a_strategic_patch_without_lists_or_directives_is_a_merge_patch(
        from in prop::collection::btree_map("[a-z]{1,4}", "[a-z]{0,4}", 0..5),
        to in prop::collection::btree_map("[a-z]{1,4}", "[a-z]{0,4}", 0..5),
    ) {
        let config_map = |data: &std::collections::BTreeMap<String, String>| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": data}, "data": data})
        };
        let (from, to) = (config_map(&from), config_map(&to));
        let body = serde_json::to_vec(&merge_patch(&from, &to)).expect("json");
        let patched = apply(&builtin("configmaps"), &from, PatchType::Strategic, &body).expect("applies");
        prop_assert_eq!(patched, to);
    }

    #[test]
    fn a_strategic_patch_of_one_container_changes_that_container_only(
        names in prop::collection::btree_set("[a-z]{1,4}", 1..5),
        pick in any::<prop::sample::Index>(),
        image in "[a-z]{1,6}",
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let containers: Vec<Value> = names.iter().map(|n| json!({"name": n, "image": format!("{n}:1")})).collect();
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                                "spec": {"template": {"spec": {"containers": containers}}}});
        let chosen = &names[pick.index(names.len())];
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": chosen, "image": image}]}}}});
        let body = serde_json::to_vec(&patch).expect("json");
        let patched = apply(&builtin("deployments"), &deployment, PatchType::Strategic, &body).expect("applies");
        let after = patched["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
        prop_assert_eq!(after.len(), names.len());
        for container in after {
            let name = container["name"].as_str().unwrap_or_default();
            let expected = if name == chosen { image.clone() } else { format!("{name}:1") };
            prop_assert_eq!(container["image"].as_str(), Some(expected.as_str()));
        }
    }

    #[test]
    fn no_patch_body_makes_any_patch_type_panic(
        current in object(true),
        patch in document(true),
        operations in json_patch_body(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        for plural in ["deployments", "pods", "configmaps", "services"] {
            let desc = builtin(plural);
            for body in [serde_json::to_vec(&patch).expect("json"), serde_json::to_vec(&operations).expect("json"), bytes.clone()] {
                for patch_type in [PatchType::Json, PatchType::Merge, PatchType::Strategic] {
                    // Refused or applied, never a panic.
                    let _ = apply(&desc, &current, patch_type, &body);
                }
            }
        }
    }

    #[test]
    fn server_side_apply_of_any_configuration_never_panics(
        mut live in object(true),
        mut applied in object(true),
        force in any::<bool>(),
        live_metadata in object(true),
        applied_metadata in object(true),
    ) {
        // The handlers refuse objects whose metadata is not an object (`check_shape`), and what
        // is stored has passed them: apply is only ever given such objects.
        live["metadata"] = live_metadata;
        applied["metadata"] = applied_metadata;
        for plural in ["deployments", "pods", "configmaps"] {
            let desc = builtin(plural);
            for scope in [Scope::Main, Scope::Status] {
                let _ = server_side_apply::apply(&desc, Some(&live), &applied, "a", force, scope);
                let _ = server_side_apply::apply(&desc, None, &applied, "b", force, scope);
            }
        }
    }
}
