//! Server-side apply (`application/apply-patch+yaml`): merge a manager's applied configuration
//! into the live object, detect conflicts with fields other managers own, remove fields the
//! manager applied before and no longer applies (unless someone else owns them), and keep the
//! manager's `Apply` entry in `managedFields` equal to what it applied.

use serde_json::{Value, json};

use super::field_set::{FieldSet, Scope, display, fields_of, item_key, leaves, remove_at, value_at};
use super::list_types::{ListType, list_type};
use super::managed_fields::{self, ManagedEntry};
use crate::api_error::ApiError;
use crate::resources::ResourceDesc;

/// Apply `applied` by `manager` to `live` (none when the object does not exist yet). Returns the
/// object to store, with its `managedFields`; `409 Conflict` naming the managers when `applied`
/// would change fields others own and `force` is false.
pub(crate) fn apply(
    desc: &ResourceDesc,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    scope: Scope,
) -> Result<Value, ApiError> {
    let mut entries = live.map(managed_fields::read).unwrap_or_default();
    let applied_set = fields_of(desc, applied, scope);
    let empty = json!({});
    let current = live.unwrap_or(&empty);

    let conflicts = conflicts(&entries, &applied_set, applied, current, manager, scope);
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(desc, applied, &conflicts));
    }
    for (manager, _, path) in &conflicts {
        for entry in entries.iter_mut().filter(|e| &e.manager == manager && e.in_scope(scope)) {
            entry.fields.remove(path);
        }
    }

    let mut merged = current.clone();
    merge(desc, &mut merged, applied, &mut Vec::new());

    drop_unapplied(&mut merged, &entries, &applied_set, manager, scope);

    let subresource = (scope == Scope::Status).then(|| "status".to_owned());
    entries.retain(|e| !(is_own_apply(e, manager) && e.in_scope(scope)));
    entries.push(ManagedEntry {
        manager: manager.to_owned(),
        operation: "Apply".into(),
        api_version: desc.api_version(),
        time: crate::time::now(),
        subresource,
        fields: applied_set,
    });
    managed_fields::write(&mut merged, &entries);
    Ok(merged)
}

/// A field another manager owns, applied with a different value than it has: (manager, its
/// apiVersion, the field).
type Conflict = (String, String, Vec<String>);

/// The conflicts of applying `applied_set` by `manager`.
fn conflicts(
    entries: &[ManagedEntry],
    applied_set: &FieldSet,
    applied: &Value,
    current: &Value,
    manager: &str,
    scope: Scope,
) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    for entry in entries.iter().filter(|e| e.in_scope(scope) && !is_own_apply(e, manager)) {
        for path in leaves(applied_set) {
            if entry.fields.contains(path) && value_at(applied, path) != value_at(current, path) {
                conflicts.push((entry.manager.clone(), entry.api_version.clone(), path.clone()));
            }
        }
    }
    conflicts
}

/// Fields this manager applied before and no longer applies go, unless someone else owns them.
fn drop_unapplied(
    merged: &mut Value,
    entries: &[ManagedEntry],
    applied_set: &FieldSet,
    manager: &str,
    scope: Scope,
) {
    let previous: FieldSet = entries
        .iter()
        .find(|e| is_own_apply(e, manager) && e.in_scope(scope))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<&ManagedEntry> = entries.iter().filter(|e| !is_own_apply(e, manager)).collect();
    let mut dropped: Vec<&Vec<String>> = previous
        .iter()
        .filter(|p| !applied_set.contains(*p))
        .filter(|p| !others.iter().any(|e| e.fields.iter().any(|q| q.starts_with(p))))
        .collect();
    // Deepest first, so removing a list item does not shift the items named after it.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        remove_at(merged, path);
    }
}

fn is_own_apply(entry: &ManagedEntry, manager: &str) -> bool {
    entry.manager == manager && entry.operation == "Apply"
}

/// `Apply failed with 1 conflict: conflict with "m" using v1: .data.a`, as the apiserver words it.
fn conflict_error(desc: &ResourceDesc, applied: &Value, conflicts: &[Conflict]) -> ApiError {
    let name = applied["metadata"]["name"].as_str().unwrap_or_default();
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(manager, api_version, path)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{manager}\" using {api_version}"),
                "field": display(path),
            })
        })
        .collect();
    let message = if let [(manager, api_version, path)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with \"{manager}\" using {api_version}: {}",
            display(path)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(manager, api_version, path)| {
                format!("conflict with \"{manager}\" using {api_version}: {}", display(path))
            })
            .collect();
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    let mut details = json!({"name": name, "kind": desc.plural, "causes": causes});
    if !desc.group.is_empty() {
        details["group"] = json!(desc.group);
    }
    ApiError::custom(409, "Conflict", message, Some(details))
}

/// Merge `applied` into `target` as apply does: objects field by field, map lists item by item
/// (by key), set lists by value, everything else replaced.
fn merge<'a>(desc: &ResourceDesc, target: &mut Value, applied: &'a Value, names: &mut Vec<&'a str>) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(target_map), Some(applied_map)) => {
            for (key, value) in applied_map {
                names.push(key);
                match target_map.get_mut(key) {
                    Some(existing) => merge(desc, existing, value, names),
                    None => {
                        target_map.insert(key.clone(), value.clone());
                    }
                }
                names.pop();
            }
        }
        _ => match (target.as_array_mut(), applied.as_array()) {
            (Some(target_items), Some(applied_items)) => match list_type(desc, names) {
                ListType::Atomic => *target = applied.clone(),
                ListType::Set => {
                    for item in applied_items {
                        if !target_items.contains(item) {
                            target_items.push(item.clone());
                        }
                    }
                }
                ListType::Map(keys) => {
                    for item in applied_items {
                        let key = item_key(item, &keys);
                        match target_items.iter_mut().find(|t| item_key(t, &keys) == key) {
                            Some(existing) => merge(desc, existing, item, names),
                            None => target_items.push(item.clone()),
                        }
                    }
                }
            },
            _ => *target = applied.clone(),
        },
    }
}

/// The applied configuration's identity must match the request's; returns it as JSON.
pub(crate) fn parse_applied(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the applied configuration must be an object"));
    }
    Ok(value)
}

/// Strip what the server owns from an applied configuration before it is merged.
pub(crate) fn strip_server_fields(applied: &mut Value) {
    if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in
            ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"]
        {
            meta.remove(field);
        }
    }
}
