//! Sets of fields as server-side apply tracks them in `managedFields` (`FieldsV1`): paths of
//! `f:<field>`, `k:<key json>` (an item of a map list), `v:<value json>` (an item of a set list).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::list_types::{ListType, list_type};
use crate::resources::ResourceDesc;

/// One path: elements like `f:spec`, `k:{"name":"app"}`, `v:"x"`.
pub(crate) type FieldPath = Vec<String>;

/// A set of paths. A path that is a prefix of another is an item or map that is itself owned.
pub(crate) type FieldSet = BTreeSet<FieldPath>;

/// Which part of an object a write manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource: everything but status when status is a subresource.
    Main,
    /// The `/status` subresource: status only.
    Status,
}

/// Metadata fields the server owns, never part of a manager's set.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// The fields set in `object` within `scope`.
pub(crate) fn fields_of(desc: &ResourceDesc, object: &Value, scope: Scope) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(map) = object.as_object() else { return set };
    for (key, value) in map {
        let included = match scope {
            Scope::Status => key == "status",
            Scope::Main => {
                !(matches!(key.as_str(), "apiVersion" | "kind") || key == "status" && desc.status_subresource)
            }
        };
        if !included {
            continue;
        }
        if key == "metadata" {
            let Some(meta) = value.as_object() else { continue };
            for (field, v) in meta.iter().filter(|(f, _)| !SERVER_METADATA.contains(&f.as_str())) {
                let path = vec!["f:metadata".to_owned(), format!("f:{field}")];
                walk(desc, v, &["metadata", field], path, &mut set);
            }
            continue;
        }
        walk(desc, value, &[key], vec![format!("f:{key}")], &mut set);
    }
    set
}

fn walk(desc: &ResourceDesc, value: &Value, names: &[&str], path: FieldPath, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let mut child = path.clone();
                child.push(format!("f:{key}"));
                let mut child_names = names.to_vec();
                child_names.push(key);
                walk(desc, v, &child_names, child, set);
            }
        }
        Value::Array(items) if !items.is_empty() => match list_type(desc, names) {
            ListType::Atomic => {
                set.insert(path);
            }
            ListType::Set => {
                for item in items {
                    let mut child = path.clone();
                    child.push(format!("v:{item}"));
                    set.insert(child);
                }
            }
            ListType::Map(keys) => {
                for item in items {
                    let mut child = path.clone();
                    child.push(item_key(item, &keys));
                    set.insert(child.clone());
                    if let Some(map) = item.as_object() {
                        for (key, v) in map {
                            let mut grandchild = child.clone();
                            grandchild.push(format!("f:{key}"));
                            let mut child_names = names.to_vec();
                            child_names.push(key);
                            walk(desc, v, &child_names, grandchild, set);
                        }
                    }
                }
            }
        },
        _ => {
            set.insert(path);
        }
    }
}

/// The `k:` element naming a map-list item by its key fields.
pub(crate) fn item_key(item: &Value, keys: &[String]) -> String {
    let mut key = Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            key.insert(k.clone(), v.clone());
        }
    }
    format!("k:{}", Value::Object(key))
}

/// The set as `FieldsV1` JSON: nested objects, `.` marking an owned non-leaf.
pub(crate) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = json!({});
    for path in set {
        let mut node = &mut root;
        for element in path {
            match node {
                Value::Object(map) => node = map.entry(element.clone()).or_insert_with(|| json!({})),
                _ => break,
            }
        }
    }
    // A node that got children after being inserted as a leaf is owned itself too.
    mark_owned_parents(&mut root, set, &mut Vec::new());
    root
}

fn mark_owned_parents(node: &mut Value, set: &FieldSet, path: &mut FieldPath) {
    let Some(map) = node.as_object_mut() else { return };
    if !path.is_empty() && set.contains(path) && map.keys().any(|k| k != ".") {
        map.insert(".".into(), json!({}));
    }
    for (key, child) in map.iter_mut().filter(|(k, _)| *k != ".") {
        path.push(key.clone());
        mark_owned_parents(child, set, path);
        path.pop();
    }
}

/// Parse `FieldsV1` JSON into a set.
pub(crate) fn from_fields_v1(fields: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    collect(fields, &mut Vec::new(), &mut set);
    set
}

fn collect(node: &Value, path: &mut FieldPath, set: &mut FieldSet) {
    let Some(map) = node.as_object() else { return };
    if !path.is_empty() && (map.is_empty() || map.contains_key(".")) {
        set.insert(path.clone());
    }
    for (key, child) in map.iter().filter(|(k, _)| *k != ".") {
        path.push(key.clone());
        collect(child, path, set);
        path.pop();
    }
}

/// The value at `path` in `object`.
pub(crate) fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = object;
    for element in path {
        node = step(node, element)?;
    }
    Some(node)
}

fn step<'a>(node: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(field) = element.strip_prefix("f:") {
        return node.get(field);
    }
    let items = node.as_array()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items.iter().find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(value) = element.strip_prefix("v:") {
        let value: Value = serde_json::from_str(value).ok()?;
        return items.iter().find(|item| **item == value);
    }
    None
}

/// Remove what `path` names from `object` (a field, or a list item).
pub(crate) fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = object;
    for element in parents {
        let next = match element.strip_prefix("f:") {
            Some(field) => node.get_mut(field),
            None => {
                let index = value_at_index(node, element);
                match (index, node.as_array_mut()) {
                    (Some(i), Some(items)) => items.get_mut(i),
                    _ => None,
                }
            }
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = node.as_object_mut() {
            map.remove(field);
        }
    } else if let Some(i) = value_at_index(node, last)
        && let Some(items) = node.as_array_mut()
    {
        items.remove(i);
    }
}

fn value_at_index(node: &Value, element: &str) -> Option<usize> {
    let found = step(node, element)?;
    node.as_array()?.iter().position(|item| std::ptr::eq(item, found))
}

/// Paths of `set` that are leaves (no other path of the set below them).
pub(crate) fn leaves(set: &FieldSet) -> impl Iterator<Item = &FieldPath> {
    set.iter().filter(move |p| !set.range((*p).clone()..).nth(1).is_some_and(|next| next.starts_with(p)))
}

/// A path as conflict messages print it: `.spec.replicas`, `.spec.containers[name="app"].image`.
pub(crate) fn display(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(field) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = element.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_v1_round_trips_with_map_list_items() {
        let desc = crate::resources::builtin_kinds::all()
            .into_iter()
            .find(|d| d.plural == "deployments")
            .expect("deployments");
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "x"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"replicas": 1}});
        let set = fields_of(&desc, &object, Scope::Main);
        let fields = to_fields_v1(&set);
        assert_eq!(
            fields,
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        assert_eq!(from_fields_v1(&fields), set);
        let image = vec![
            "f:spec".into(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"c\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(value_at(&object, &image), Some(&json!("i")));
        assert_eq!(display(&image), ".spec.template.spec.containers[name=\"c\"].image");
    }
}
