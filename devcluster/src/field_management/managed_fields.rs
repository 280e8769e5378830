//! `metadata.managedFields`: which manager owns which fields. Updates (create, update, patch)
//! give their manager the fields they changed, taking them from other managers; server-side
//! apply keeps one `Apply` entry per manager (see `server_side_apply`).

use serde_json::{Value, json};

use super::field_set::{FieldSet, Scope, fields_of, from_fields_v1, to_fields_v1, value_at};
use crate::resources::ResourceDesc;

/// One `managedFields` entry.
#[derive(Clone, Debug)]
pub(crate) struct ManagedEntry {
    /// `manager`.
    pub(crate) manager: String,
    /// `Apply` or `Update`.
    pub(crate) operation: String,
    /// `apiVersion` the manager wrote with.
    pub(crate) api_version: String,
    /// `time`.
    pub(crate) time: String,
    /// `subresource`: `status` for writes to `/status`.
    pub(crate) subresource: Option<String>,
    /// The fields owned.
    pub(crate) fields: FieldSet,
}

impl ManagedEntry {
    /// Whether the entry is for writes within `scope`.
    pub(crate) fn in_scope(&self, scope: Scope) -> bool {
        (scope == Scope::Status) == (self.subresource.as_deref() == Some("status"))
    }
}

/// The entries of an object.
pub(crate) fn read(object: &Value) -> Vec<ManagedEntry> {
    let Some(entries) = object["metadata"]["managedFields"].as_array() else { return Vec::new() };
    entries
        .iter()
        .map(|e| ManagedEntry {
            manager: e["manager"].as_str().unwrap_or_default().to_owned(),
            operation: e["operation"].as_str().unwrap_or("Update").to_owned(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
            time: e["time"].as_str().unwrap_or_default().to_owned(),
            subresource: e["subresource"].as_str().map(str::to_owned),
            fields: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

/// Write `entries` into the object's metadata (entries owning nothing are dropped).
pub(crate) fn write(object: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut entry = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(sub) = &e.subresource {
                entry["subresource"] = json!(sub);
            }
            entry
        })
        .collect();
    if list.is_empty() {
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
    } else {
        object["metadata"]["managedFields"] = Value::Array(list);
    }
}

/// Record a non-apply write by `manager` that turned `old` (none for a create) into `new`:
/// the manager owns what it set or changed; others lose what changed or went.
pub(crate) fn record_update(
    desc: &ResourceDesc,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    scope: Scope,
) {
    let mut entries = old.map(read).unwrap_or_default();
    let new_fields = fields_of(desc, new, scope);
    let old_fields = old.map(|o| fields_of(desc, o, scope)).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        write(new, &entries);
        return;
    }
    for entry in entries.iter_mut().filter(|e| e.in_scope(scope)) {
        entry.fields.retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let subresource = (scope == Scope::Status).then(|| "status".to_owned());
    let position = entries
        .iter()
        .position(|e| e.manager == manager && e.operation == "Update" && e.subresource == subresource);
    let entry = match position {
        Some(i) => &mut entries[i],
        None => {
            entries.push(ManagedEntry {
                manager: manager.to_owned(),
                operation: "Update".into(),
                api_version: desc.api_version(),
                time: String::new(),
                subresource,
                fields: FieldSet::new(),
            });
            let last = entries.len() - 1;
            &mut entries[last]
        }
    };
    entry.fields.extend(changed);
    entry.time = crate::time::now();
    entry.api_version = desc.api_version();
    write(new, &entries);
}
