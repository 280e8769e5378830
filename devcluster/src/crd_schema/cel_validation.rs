//! CEL `x-kubernetes-validations`, evaluated node by node as apiextensions' `cel.Validator` does, so
//! that paths, `oldSelf` correlation and update ratcheting follow the apiserver.

use serde_json::Value;

use super::invalid::{FieldCause, FieldPath};
use super::structural::{Additional, ListType, Structural};

/// Failures of every rule in `object`, walking it as the apiserver does: rules see `oldSelf` only
/// where old and new correlate (object fields, map entries, items of `map` lists by key).
pub(crate) fn cel_causes(schema: &Structural, object: &Value, old: Option<&Value>) -> Vec<FieldCause> {
    let mut out = Vec::new();
    let unchanged = old.is_some_and(|o| o == object);
    walk(schema, object, old, &FieldPath::root(), unchanged, &mut out);
    out
}

/// `unchanged`: this node, or its nearest correlated ancestor, equals its old self (ratcheting).
fn walk(
    s: &Structural,
    new: &Value,
    old: Option<&Value>,
    path: &FieldPath,
    unchanged: bool,
    out: &mut Vec<FieldCause>,
) {
    // Rules only judge values that are there; a null is for the parent's rules to judge.
    if new.is_null() {
        return;
    }
    if let Some(rules) = &s.rules {
        rules.evaluate(new, old, path, unchanged, out);
    }
    match new {
        Value::Object(map) => {
            for (k, v) in map {
                let (child, child_path) = match (s.properties.get(k), &s.additional) {
                    (Some(p), _) => (p, path.child(k)),
                    (None, Additional::Schema(a)) => (a.as_ref(), path.key(k)),
                    _ => continue,
                };
                let old_v = old.and_then(|o| o.get(k));
                walk(child, v, old_v, &child_path, old_v.map_or(unchanged, |o| o == v), out);
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.items.as_deref() else {
                return;
            };
            for (i, v) in items.iter().enumerate() {
                let old_v = s.old_item(old, v);
                let item_unchanged = match (old_v, &s.list_type) {
                    (Some(o), _) => o == v,
                    (None, ListType::Set) => old.and_then(Value::as_array).is_some_and(|o| o.contains(v)),
                    (None, _) => unchanged,
                };
                walk(item_schema, v, old_v, &path.index(i), item_unchanged, out);
            }
        }
        _ => {}
    }
}
