//! How lists merge, per field: atomic (replaced whole), set (merged by value) or map (merged by
//! key fields). Built-in kinds follow their Go types' `patchMergeKey`/`listType` tags; CRDs their
//! schema's `x-kubernetes-list-type` and `x-kubernetes-list-map-keys` (atomic when unset).

use serde_json::Value;

use crate::resources::ResourceDesc;

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Items are unique scalars, merged by value.
    Set,
    /// Items are objects identified by these fields.
    Map(Vec<String>),
}

/// The list type of the field `path` (field names from the object root; list items add no step).
pub(crate) fn list_type(desc: &ResourceDesc, path: &[&str]) -> ListType {
    match path {
        ["metadata", "finalizers"] => return ListType::Set,
        ["metadata", "ownerReferences"] => return ListType::Map(vec!["uid".into()]),
        ["metadata", ..] => return ListType::Atomic,
        _ => {}
    }
    if desc.custom {
        return desc.openapi_schema.as_ref().map_or(ListType::Atomic, |s| crd_list_type(s, path));
    }
    let keys = |k: &[&str]| ListType::Map(k.iter().map(|s| (*s).to_owned()).collect());
    let field = path.last().copied().unwrap_or_default();
    let parent = path.len().checked_sub(2).map(|i| path[i]).unwrap_or_default();
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" | "imagePullSecrets" => {
            keys(&["name"])
        }
        "volumeMounts" => keys(&["mountPath"]),
        "volumeDevices" => keys(&["devicePath"]),
        "ports" if desc.kind == "Service" && parent == "spec" => keys(&["port", "protocol"]),
        "ports" if matches!(parent, "containers" | "initContainers" | "ephemeralContainers") => {
            keys(&["containerPort", "protocol"])
        }
        "conditions" => keys(&["type"]),
        "hostAliases" => keys(&["ip"]),
        "topologySpreadConstraints" => keys(&["topologyKey", "whenUnsatisfiable"]),
        "finalizers" if desc.kind == "Namespace" => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// The strategic-merge-patch key of a built-in list: the first map key, as `patchMergeKey` is
/// one field (`containerPort` for container ports, `port` for service ports).
pub(crate) fn merge_key(desc: &ResourceDesc, path: &[&str]) -> Option<String> {
    match list_type(desc, path) {
        ListType::Map(keys) => keys.into_iter().next(),
        ListType::Set => Some(String::new()),
        ListType::Atomic => None,
    }
}

fn crd_list_type(schema: &Value, path: &[&str]) -> ListType {
    let mut node = schema;
    for field in path {
        while node.get("type").and_then(Value::as_str) == Some("array") {
            node = &node["items"];
        }
        match node.get("properties").and_then(|p| p.get(*field)) {
            Some(next) => node = next,
            None => match node.get("additionalProperties") {
                Some(next) if next.is_object() => node = next,
                _ => return ListType::Atomic,
            },
        }
    }
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListType::Set,
        Some("map") => ListType::Map(
            node.get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        ),
        _ => ListType::Atomic,
    }
}
