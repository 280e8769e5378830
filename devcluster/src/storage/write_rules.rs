//! The rules every write follows on an object's own fields, as the generic registry applies
//! them: the body must match the resource, the namespace is the request's, the server owns
//! identity and timestamps in `metadata`, a status subresource splits status from the rest, and
//! an object being deleted takes no new finalizers.

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, FieldCause, Invalid};
use crate::field_management::Scope;
use crate::resources::ResourceDesc;
use crate::resources::event_conversion::to_core;

/// Metadata the server keeps from the stored object on every update.
const SERVER_METADATA: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
];

/// The body of a create or update must be an object of the resource's `apiVersion` and `kind`.
pub(crate) fn check_body(desc: &ResourceDesc, object: &Value) -> ApiResult<()> {
    if !object.is_object() {
        return Err(ApiError::bad_request("the body of the request must be an object"));
    }
    check_type(desc, object)
}

/// A new object as stored: Events in their core/v1 form, `apiVersion` and `kind` set, a metadata object.
pub(crate) fn stored_form(desc: &ResourceDesc, mut object: Value) -> Value {
    if desc.is_events_view() {
        object = to_core(object);
    }
    object["apiVersion"] = json!(desc.api_version());
    object["kind"] = json!(desc.kind);
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object
}

/// Put a new object in the request's namespace (`default` when none): a different namespace in
/// the body is refused; cluster-scoped objects have none. Returns the namespace.
pub(crate) fn place_in_namespace(
    desc: &ResourceDesc,
    namespace: Option<&str>,
    object: &mut Value,
) -> ApiResult<Option<String>> {
    if !desc.namespaced {
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
        return Ok(None);
    }
    let ns = namespace.unwrap_or("default");
    if let Some(body_ns) = object["metadata"]["namespace"].as_str()
        && !body_ns.is_empty()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    object["metadata"]["namespace"] = json!(ns);
    Ok(Some(ns.to_owned()))
}

/// `generateName`: a nameless object gets the prefix and a random suffix.
pub(crate) fn generate_name(object: &mut Value) {
    if object["metadata"]["name"].as_str().is_none_or(str::is_empty)
        && let Some(prefix) = object["metadata"]["generateName"].as_str()
    {
        object["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix()));
    }
}

/// What a client may not set on create: identity, versions, timestamps.
pub(crate) fn clear_server_metadata(object: &mut Value) {
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in
            ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation", "selfLink"]
        {
            meta.remove(field);
        }
        meta.remove("deletionGracePeriodSeconds");
    }
}

/// A created object's uid, creation time and first generation.
pub(crate) fn stamp_created(desc: &ResourceDesc, object: &mut Value) {
    object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    object["metadata"]["creationTimestamp"] = json!(crate::time::now());
    if desc.generation {
        object["metadata"]["generation"] = json!(1);
    }
}

/// An update names the object of its URL, and a `resourceVersion` it gives must be the current one.
pub(crate) fn check_identity(desc: &ResourceDesc, name: &str, old: &Value, new: &Value) -> ApiResult<()> {
    if let Some(body_name) = new["metadata"]["name"].as_str()
        && !body_name.is_empty()
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    match new["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() => {
            Err(ApiError::stale(desc, name))
        }
        _ => Ok(()),
    }
}

/// A write to `/status` changes only status; with a status subresource, a main write keeps it.
pub(crate) fn keep_status(desc: &ResourceDesc, scope: Scope, old: &Value, new: &mut Value) {
    let kept = if scope == Scope::Status {
        let status = new.get("status").cloned();
        *new = old.clone();
        status
    } else if desc.status_subresource {
        old.get("status").cloned()
    } else {
        return;
    };
    match kept {
        Some(s) => new["status"] = s,
        None => {
            new.as_object_mut().map(|o| o.remove("status"));
        }
    }
}

/// The metadata the server owns stays as stored.
pub(crate) fn keep_server_metadata(old: &Value, new: &mut Value) {
    for field in SERVER_METADATA {
        match old["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                new["metadata"].as_object_mut().map(|m| m.remove(field));
            }
        }
    }
}

/// An object being deleted may lose finalizers but not gain them.
pub(crate) fn check_no_new_finalizers(
    desc: &ResourceDesc,
    name: &str,
    old: &Value,
    new: &Value,
) -> ApiResult<()> {
    if old["metadata"]["deletionTimestamp"].is_null() {
        return Ok(());
    }
    let old_finalizers = string_list(&old["metadata"]["finalizers"]);
    if string_list(&new["metadata"]["finalizers"]).iter().any(|f| !old_finalizers.contains(f)) {
        let cause = FieldCause {
            field: "metadata.finalizers".into(),
            reason: CauseReason::FieldValueForbidden,
            message: "Forbidden: no new finalizers can be added if the object is being deleted".into(),
        };
        return Err(ApiError::invalid(desc, name, &Invalid { causes: vec![cause] }));
    }
    Ok(())
}

/// The body must name the resource's `apiVersion` and `kind`, if it names any.
fn check_type(desc: &ResourceDesc, object: &Value) -> ApiResult<()> {
    if let Some(api_version) = object["apiVersion"].as_str()
        && api_version != desc.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            desc.api_version()
        )));
    }
    if let Some(kind) = object["kind"].as_str()
        && kind != desc.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            desc.kind
        )));
    }
    Ok(())
}

/// The strings of a JSON list (absent → empty).
pub(crate) fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether anything outside `metadata` and `status` changed: what bumps `metadata.generation`.
pub(crate) fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            o.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// A write that changes nothing but managedFields timestamps is not stored (no new resourceVersion).
pub(crate) fn unchanged(old: &Value, new: &Value) -> bool {
    let normalize = |v: &Value| {
        let mut v = v.clone();
        if let Some(entries) = v["metadata"]["managedFields"].as_array_mut() {
            for entry in entries {
                entry.as_object_mut().map(|e| e.remove("time"));
            }
        }
        v
    };
    normalize(old) == normalize(new)
}

/// Five characters from the alphabet the apiserver's `generateName` uses.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes.iter().take(5).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}
