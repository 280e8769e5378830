//! What kube-apiserver does to a custom resource before validating it: drop fields the schema does
//! not know (apiextensions `pruning.Prune`), drop `null`s that may not be null and have no default
//! (`PruneNonNullableNullsWithoutDefaults`), then apply `default`s (`defaulting.Default`).

use serde_json::Value;

use super::invalid::FieldPath;
use super::structural::{Additional, Structural};

/// Kept at the root and in embedded resources: ObjectMeta/TypeMeta are not the schema's business.
const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Prune `object` (a whole resource) in place; returns the paths of the dropped fields, which a
/// server reports for `fieldValidation=Strict|Warn` as `unknown field "spec.foo"`.
pub(crate) fn prune_unknown(object: &mut Value, schema: &Structural) -> Vec<String> {
    let mut pruned = Vec::new();
    prune(object, Some(schema), true, &FieldPath::root(), &mut pruned);
    pruned
}

fn prune(x: &mut Value, s: Option<&Structural>, root: bool, path: &FieldPath, pruned: &mut Vec<String>) {
    if let Some(s) = s.filter(|s| s.preserve_unknown_fields) {
        keep_unknown(x, s, root, path, pruned);
        return;
    }
    match x {
        Value::Object(map) => {
            let keep_meta = root || s.is_some_and(|s| s.embedded_resource);
            map.retain(|k, v| {
                if keep_meta && META_FIELDS.contains(&k.as_str()) {
                    return true;
                }
                let child = path.child(k);
                let known = match s {
                    Some(s) => match (s.properties.get(k), &s.additional) {
                        (Some(p), _) => Some(Some(p)),
                        (None, Additional::Schema(a)) => Some(Some(a.as_ref())),
                        (None, Additional::Any) => Some(None),
                        (None, Additional::Absent) => None,
                    },
                    None => None,
                };
                match known {
                    Some(schema) => {
                        prune(v, schema, false, &child, pruned);
                        true
                    }
                    None => {
                        pruned.push(child.to_string());
                        false
                    }
                }
            });
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                prune(v, item_schema, false, &path.index(i), pruned);
            }
        }
        _ => {}
    }
}

/// Under `x-kubernetes-preserve-unknown-fields` unknown fields stay, but known ones are still pruned.
fn keep_unknown(x: &mut Value, s: &Structural, root: bool, path: &FieldPath, pruned: &mut Vec<String>) {
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if (root || s.embedded_resource) && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                match (s.properties.get(k), &s.additional) {
                    (Some(p), _) => prune(v, Some(p), false, &path.child(k), pruned),
                    (None, Additional::Schema(a)) => prune(v, Some(a), false, &path.child(k), pruned),
                    (None, Additional::Any) => prune(v, None, false, &path.child(k), pruned),
                    (None, Additional::Absent) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    keep_unknown(v, item_schema, false, &path.index(i), pruned);
                }
            }
        }
        _ => {}
    }
}

/// Remove `null`s the schema does not allow and cannot default, so they read as absent.
pub(crate) fn prune_nulls(x: &mut Value, s: Option<&Structural>) {
    match x {
        Value::Object(map) => map.retain(|k, v| {
            let child = s.and_then(|s| s.field(k));
            if v.is_null() && child.is_some_and(|c| !c.nullable && c.default.is_none()) {
                return false;
            }
            prune_nulls(v, child);
            true
        }),
        Value::Array(items) => {
            for v in items {
                prune_nulls(v, s.and_then(|s| s.items.as_deref()));
            }
        }
        _ => {}
    }
}

/// Apply `default`s: to absent fields and to `null`s that may not be null. A default is itself
/// defaulted further down, since the walk continues into the value just set.
pub(crate) fn apply_defaults(x: &mut Value, s: &Structural) {
    match x {
        Value::Object(map) => {
            for (k, prop) in &s.properties {
                if let Some(default) = &prop.default {
                    let missing = map.get(k).is_none_or(|v| v.is_null() && !prop.nullable);
                    if missing {
                        map.insert(k.clone(), default.clone());
                    }
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    apply_defaults(v, prop);
                } else if let Additional::Schema(values) = &s.additional {
                    default_element(v, values);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for v in items {
                    default_element(v, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// A list item or map value: a forbidden `null` becomes the default (or stays `null` without one).
fn default_element(v: &mut Value, s: &Structural) {
    if v.is_null() && !s.nullable {
        *v = s.default.clone().unwrap_or(Value::Null);
    }
    apply_defaults(v, s);
}
