//! `delete` and `deletecollection`, with preconditions, propagation policies and dry run.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::resource_request::{ResourceRequest, parse_body};
use super::response::json_response;
use crate::api_error::{ApiError, ApiResult};
use crate::garbage_collection::deletion::{Deleted, Propagation};
use crate::request::Query;
use crate::request::query::{is_dry_run, selector};
use crate::resources::ResourceDesc;
use crate::storage::store::object_key;

/// Serve `DELETE` on an object.
pub(crate) fn delete(request: &ResourceRequest<'_>, name: &str) -> ApiResult<Response> {
    let (desc, ns) = (request.desc, request.namespace);
    let options = delete_options(request)?;
    let propagation = propagation(&options, request.query)?;
    let mut state = request.server.lock();
    if is_dry_run(request.query) || options["dryRun"].as_array().is_some_and(|d| !d.is_empty()) {
        return Ok(json_response(StatusCode::OK, state.get(desc, ns, name)?));
    }
    match state.delete(desc, ns, name, propagation, &options["preconditions"])? {
        Deleted::Pending(object) => Ok(json_response(StatusCode::OK, object)),
        Deleted::Now(object) if desc.custom => Ok(json_response(StatusCode::OK, object)),
        Deleted::Now(object) => Ok(json_response(StatusCode::OK, success_status(desc, name, &object))),
    }
}

/// Serve `DELETE` on a collection: every selected object, answered as the list of them.
pub(crate) fn delete_collection(request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let desc = request.desc;
    let options = delete_options(request)?;
    let propagation = propagation(&options, request.query)?;
    let mut state = request.server.lock();
    let selector = selector(desc, request.query)?;
    let mut deleted = Vec::new();
    for object in state.list(desc, request.namespace).into_iter().filter(|o| selector.matches(o)) {
        let (obj_ns, obj_name) = object_key(&object);
        let obj_ns = (!obj_ns.is_empty()).then_some(obj_ns.as_str());
        match state.delete(desc, obj_ns, &obj_name, propagation, &Value::Null)? {
            Deleted::Now(o) | Deleted::Pending(o) => deleted.push(o),
        }
    }
    let list = json!({"kind": format!("{}List", desc.kind), "apiVersion": desc.api_version(),
        "metadata": {"resourceVersion": state.store.current_rv().to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, list))
}

/// The `DeleteOptions` body, empty when none was sent.
fn delete_options(request: &ResourceRequest<'_>) -> ApiResult<Value> {
    if request.body.is_empty() { Ok(json!({})) } else { parse_body(request.body) }
}

fn propagation(options: &Value, query: &Query) -> ApiResult<Propagation> {
    let policy =
        query.get("propagationPolicy").map(String::as_str).or_else(|| options["propagationPolicy"].as_str());
    match policy {
        None if options["orphanDependents"].as_bool() == Some(true) => Ok(Propagation::Orphan),
        None | Some("Background") => Ok(Propagation::Background),
        Some("Foreground") => Ok(Propagation::Foreground),
        Some("Orphan") => Ok(Propagation::Orphan),
        Some(other) => Err(ApiError::bad_request(format!("unsupported propagationPolicy {other:?}"))),
    }
}

/// Built-in kinds answer an immediate delete with a `Success` Status, custom resources with the object.
fn success_status(desc: &ResourceDesc, name: &str, object: &Value) -> Value {
    let mut details = json!({"name": name, "kind": desc.plural, "uid": object["metadata"]["uid"]});
    if !desc.group.is_empty() {
        details["group"] = json!(desc.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
