//! Strategic merge patch (`application/strategic-merge-patch+json`) for built-in kinds: like a
//! JSON merge patch, except that lists with a merge key (containers, env, volumes, ports, …)
//! merge item by item, and the directives `$patch`, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>` are honoured (kubectl's client-side apply sends them).

use serde_json::{Map, Value};

use super::list_order;
use super::list_types::merge_key;
use crate::api_error::ApiError;
use crate::resources::ResourceDesc;

/// Apply `patch` to `target`.
pub(crate) fn apply(desc: &ResourceDesc, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    merge_value(desc, target, patch, &mut Vec::new())
}

fn merge_value<'a>(
    desc: &ResourceDesc,
    target: &mut Value,
    patch: &'a Value,
    names: &mut Vec<&'a str>,
) -> Result<(), ApiError> {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return Ok(());
    };
    if patch_directive(target, patch, patch_map)? {
        return Ok(());
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(target_map) = target.as_object_mut() else { return Ok(()) };
    for (key, value) in patch_map {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) = (target_map.get_mut(list), value.as_array()) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        names.push(key);
        let order = patch_map.get(&format!("$setElementOrder/{key}")).and_then(Value::as_array);
        merge_field(desc, target_map, key, value, order.map(Vec::as_slice), names)?;
        names.pop();
    }
    reorder_unpatched_lists(desc, target_map, patch_map, names);
    if let Some(Value::Array(retain)) = patch_map.get("$retainKeys") {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        target_map.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

/// `$patch: replace` replaces the target, `$patch: delete` removes it; whether one did.
fn patch_directive(
    target: &mut Value,
    patch: &Value,
    patch_map: &Map<String, Value>,
) -> Result<bool, ApiError> {
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replacement = patch.clone();
            strip_directives(&mut replacement);
            *target = replacement;
            Ok(true)
        }
        Some("delete") => {
            *target = Value::Null;
            Ok(true)
        }
        Some(other) if other != "merge" => Err(ApiError::bad_request(format!("Unknown patch type: {other}"))),
        _ => Ok(false),
    }
}

/// Merge one non-null field of the patch: lists by their merge key, objects field by field
/// (an object deleted by `$patch: delete` goes), anything else replaced.
fn merge_field<'a>(
    desc: &ResourceDesc,
    target_map: &mut Map<String, Value>,
    key: &str,
    value: &'a Value,
    order: Option<&[Value]>,
    names: &mut Vec<&'a str>,
) -> Result<(), ApiError> {
    match value {
        Value::Array(patch_items) => {
            let existing = target_map.entry(key.to_owned()).or_insert(Value::Array(Vec::new()));
            merge_list(desc, existing, patch_items, order, names)?;
        }
        Value::Object(_) => {
            let existing = target_map.entry(key.to_owned()).or_insert(Value::Null);
            merge_value(desc, existing, value, names)?;
            if existing.is_null() {
                target_map.remove(key);
            }
        }
        _ => {
            target_map.insert(key.to_owned(), value.clone());
        }
    }
    Ok(())
}

fn merge_list<'a>(
    desc: &ResourceDesc,
    target: &mut Value,
    patch_items: &'a [Value],
    order: Option<&[Value]>,
    names: &mut Vec<&'a str>,
) -> Result<(), ApiError> {
    let key = merge_key(desc, names);
    let replace_all = patch_items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let (Some(key), false) = (key, replace_all) else {
        let mut items: Vec<Value> =
            patch_items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
        items.iter_mut().for_each(strip_directives);
        *target = Value::Array(items);
        return Ok(());
    };
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Some(target_items) = target.as_array_mut() else { return Ok(()) };
    let live = target_items.clone();
    if key.is_empty() {
        // A primitive list merged by value (e.g. finalizers).
        for item in patch_items {
            if !target_items.contains(item) {
                target_items.push(item.clone());
            }
        }
        let merged = std::mem::take(target_items);
        *target_items = list_order::normalize(merged, order.unwrap_or(patch_items), &live, "");
        return Ok(());
    }
    for item in patch_items {
        let Some(id) = item.get(&key) else {
            return Err(ApiError::bad_request(format!(
                "map: {item} does not contain declared merge key: {key}"
            )));
        };
        let position = target_items.iter().position(|t| t.get(&key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                target_items.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => merge_value(desc, &mut target_items[i], item, names)?,
            (None, false) => {
                let mut new_item = Value::Object(Map::new());
                merge_value(desc, &mut new_item, item, names)?;
                target_items.push(new_item);
            }
        }
    }
    let merged = std::mem::take(target_items);
    *target_items = list_order::normalize(merged, order.unwrap_or(patch_items), &live, &key);
    Ok(())
}

/// A `$setElementOrder/<list>` whose list the patch leaves out still orders the live list.
fn reorder_unpatched_lists<'a>(
    desc: &ResourceDesc,
    target_map: &mut Map<String, Value>,
    patch_map: &'a Map<String, Value>,
    names: &mut Vec<&'a str>,
) {
    for (directive, order) in patch_map {
        let Some(list) = directive.strip_prefix("$setElementOrder/") else { continue };
        let (Some(order), false) = (order.as_array(), patch_map.contains_key(list)) else { continue };
        names.push(list);
        let key = merge_key(desc, names);
        names.pop();
        if let (Some(key), Some(Value::Array(items))) = (key, target_map.get_mut(list)) {
            let live = items.clone();
            *items = list_order::normalize(std::mem::take(items), order, &live, &key);
        }
    }
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployments() -> ResourceDesc {
        crate::resources::builtin_kinds::all()
            .into_iter()
            .find(|d| d.plural == "deployments")
            .expect("deployments")
    }

    #[test]
    fn kubectl_apply_directives_are_honoured() {
        let mut target = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "a:1", "args": ["x"]}, {"name": "b", "image": "b:1"}],
        }}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "template": {"spec": {"containers": [{"name": "a", "args": ["y"]}]}},
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null},
        }});
        apply(&deployments(), &mut target, &patch).expect("applies");
        let containers = &target["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0], json!({"name": "a", "image": "a:1", "args": ["y"]}));
        assert_eq!(containers[1]["name"], "b");
        assert_eq!(target["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn replace_and_primitive_list_deletion() {
        let mut target = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {"volumes": [{"name": "v"}]}}}});
        let patch = json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"template": {"spec": {"volumes": [{"name": "w", "emptyDir": {}}, {"$patch": "replace"}]}}},
        });
        apply(&deployments(), &mut target, &patch).expect("applies");
        assert_eq!(target["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(target["spec"]["template"]["spec"]["volumes"], json!([{"name": "w", "emptyDir": {}}]));
    }
}
