//! The verbs on resource paths: get, list, watch, create, update, patch, delete, deletecollection.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::api_server::ApiServer;
use crate::field_management::Scope;
use crate::field_management::patch::{self, PatchType};
use crate::garbage_collection::deletion::{Deleted, Propagation};
use crate::request::path::ObjectPath;
use crate::request::query::{Query, is_dry_run, is_true, selector};
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::ClusterState;
use crate::storage::object_lifecycle::WriteOptions;

/// Serve a request on a resource path.
pub async fn serve(
    server: &Arc<ApiServer>,
    method: &Method,
    path: ObjectPath,
    query: &Query,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Response> {
    let desc =
        server.lock().resource(&path.group, &path.version, &path.plural).ok_or_else(ApiError::no_route)?;
    if path.namespace.is_some() && !desc.namespaced {
        return Err(ApiError::no_route());
    }
    let ns = path.namespace.as_deref();
    let name = path.name.as_deref();
    let scope = match path.subresource.as_deref() {
        None => Scope::Main,
        Some("status") if desc.status_subresource => Scope::Status,
        Some("log") if desc.kind == "Pod" && desc.group.is_empty() && *method == Method::GET => {
            let name = name.unwrap_or_default();
            server.lock().get(&desc, ns, name)?;
            return Ok(server.pod_logs.respond(ns.unwrap_or_default(), name, query));
        }
        Some(_) => return Err(ApiError::no_route()),
    };
    if desc.create_only && *method != Method::POST {
        return Err(ApiError::method_not_supported(&desc, &method.as_str().to_lowercase()));
    }
    let table = wants_table(headers);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        // Typed clients (e.g. `kubectl create configmap`) may send protobuf; only JSON and YAML
        // are decoded here. 415 tells client-go which encodings are accepted.
        return Err(ApiError::custom(
            415,
            "UnsupportedMediaType",
            format!(
                "devcluster decodes JSON and YAML request bodies only, not {content_type:?}; \
                 write built-in objects from manifests (kubectl apply/create -f) rather than with \
                 kubectl's generators"
            ),
            None,
        ));
    }
    match (method.clone(), name) {
        (Method::GET, Some(name)) => {
            let object = server.lock().get(&desc, ns, name)?;
            if table {
                return Ok(json_response(StatusCode::OK, crate::table::table(&desc, &[object], None, query)));
            }
            Ok(json_response(StatusCode::OK, object))
        }
        (Method::GET, None) if is_true(query.get("watch")) => {
            let selector = selector(&desc, query)?;
            let request = crate::storage::watch_fan_out::WatchRequest {
                desc: desc.clone(),
                namespace: ns.map(str::to_owned),
                selector,
                resource_version: query.get("resourceVersion").cloned(),
                bookmarks: is_true(query.get("allowWatchBookmarks")),
                send_initial_events: is_true(query.get("sendInitialEvents")),
                // Capped (at a day) so no `timeoutSeconds` can overflow the deadline.
                timeout: Duration::from_secs(
                    query
                        .get("timeoutSeconds")
                        .and_then(|t| t.parse::<u64>().ok())
                        .unwrap_or(1800)
                        .min(86_400),
                ),
                bookmark_interval: server.bookmark_interval,
                closing: server.closing.subscribe(),
            };
            let events = crate::storage::watch_fan_out::start(&server.lock(), request)?;
            Ok(watch_response(events))
        }
        (Method::GET, None) => {
            let state = server.lock();
            let list = list(&state, &desc, ns, query)?;
            if table {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                return Ok(json_response(
                    StatusCode::OK,
                    crate::table::table(&desc, &items, Some(&list["metadata"]), query),
                ));
            }
            Ok(json_response(StatusCode::OK, list))
        }
        (Method::POST, None) => {
            let object = parse_body(body)?;
            if desc.create_only {
                let state = server.lock();
                let answer = match desc.kind.as_str() {
                    "TokenReview" => state.reviews.token_review(object),
                    _ => state.reviews.subject_access_review(object),
                };
                return Ok(json_response(
                    StatusCode::CREATED,
                    crate::storage::cluster_state::present(&desc, answer),
                ));
            }
            if desc.namespaced && ns.is_none() {
                return Err(ApiError::no_route());
            }
            let opts = write_options(query, headers, scope);
            let mut state = server.lock();
            check_unknown_fields(&desc, &object, query)?;
            let created = state.create(&desc, ns, object, &opts)?;
            Ok(json_response(StatusCode::CREATED, created))
        }
        (Method::PUT, Some(name)) => {
            let object = parse_body(body)?;
            let opts = write_options(query, headers, scope);
            check_unknown_fields(&desc, &object, query)?;
            let updated = server.lock().update(&desc, ns, name, object, &opts)?;
            Ok(json_response(StatusCode::OK, updated))
        }
        (Method::PATCH, Some(name)) => patch_object(server, &desc, ns, name, scope, query, headers, body),
        (Method::DELETE, Some(name)) => {
            let options: Value = if body.is_empty() { json!({}) } else { parse_body(body)? };
            let propagation = propagation(&options, query)?;
            let mut state = server.lock();
            if is_dry_run(query) || options["dryRun"].as_array().is_some_and(|d| !d.is_empty()) {
                return Ok(json_response(StatusCode::OK, state.get(&desc, ns, name)?));
            }
            match state.delete(&desc, ns, name, propagation, &options["preconditions"])? {
                Deleted::Pending(object) => Ok(json_response(StatusCode::OK, object)),
                Deleted::Now(object) if desc.custom => Ok(json_response(StatusCode::OK, object)),
                Deleted::Now(object) => {
                    Ok(json_response(StatusCode::OK, success_status(&desc, name, &object)))
                }
            }
        }
        (Method::DELETE, None) => {
            let options: Value = if body.is_empty() { json!({}) } else { parse_body(body)? };
            let propagation = propagation(&options, query)?;
            let mut state = server.lock();
            let selector = selector(&desc, query)?;
            let mut deleted = Vec::new();
            for object in state.list(&desc, ns).into_iter().filter(|o| selector.matches(o)) {
                let (obj_ns, obj_name) = crate::storage::store::object_key(&object);
                let obj_ns = (!obj_ns.is_empty()).then_some(obj_ns.as_str());
                match state.delete(&desc, obj_ns, &obj_name, propagation, &Value::Null)? {
                    Deleted::Now(o) | Deleted::Pending(o) => deleted.push(o),
                }
            }
            let list = json!({"kind": format!("{}List", desc.kind), "apiVersion": desc.api_version(),
                "metadata": {"resourceVersion": state.store.current_rv().to_string()}, "items": deleted});
            Ok(json_response(StatusCode::OK, list))
        }
        _ => Err(ApiError::method_not_supported(&desc, &method.as_str().to_lowercase())),
    }
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    server: &Arc<ApiServer>,
    desc: &Arc<ResourceDesc>,
    ns: Option<&str>,
    name: &str,
    scope: Scope,
    query: &Query,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Response> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let patch_type = PatchType::from_content_type(content_type)?;
    let mut opts = write_options(query, headers, scope);
    let mut state = server.lock();
    if patch_type != PatchType::Apply {
        let current = state.get(desc, ns, name)?;
        let patched = patch::apply(desc, &current, patch_type, body)?;
        check_unknown_fields(desc, &patched, query)?;
        let updated = state.update(desc, ns, name, patched, &opts)?;
        return Ok(json_response(StatusCode::OK, updated));
    }
    let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
        ));
    };
    let mut applied = crate::field_management::server_side_apply::parse_applied(body)?;
    for (field, want) in [("apiVersion", desc.api_version()), ("kind", desc.kind.clone())] {
        match applied[field].as_str() {
            Some(have) if have == want => {}
            Some(have) => {
                return Err(ApiError::bad_request(format!(
                    "the {field} in the applied configuration ({have}) does not match the expected {field} ({want})"
                )));
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "{field} must be set in the applied configuration"
                )));
            }
        }
    }
    if applied["metadata"]["name"].as_str().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            applied["metadata"]["name"].as_str().unwrap_or_default()
        )));
    }
    applied["metadata"]["name"] = json!(name);
    if let Some(ns) = ns {
        applied["metadata"]["namespace"] = json!(ns);
    }
    crate::field_management::server_side_apply::strip_server_fields(&mut applied);
    check_unknown_fields(desc, &applied, query)?;
    let force = is_true(query.get("force"));
    opts.manager = manager.clone();
    opts.managed_precomputed = true;
    let current = match state.get(desc, ns, name) {
        Ok(current) => Some(current),
        Err(err) if err.code == 404 && scope == Scope::Main => None,
        Err(err) => return Err(err),
    };
    let merged = crate::field_management::server_side_apply::apply(
        desc,
        current.as_ref(),
        &applied,
        manager,
        force,
        scope,
    )?;
    if current.is_none() {
        let created = state.create(desc, ns, merged, &opts)?;
        return Ok(json_response(StatusCode::CREATED, created));
    }
    let updated = state.update(desc, ns, name, merged, &opts)?;
    Ok(json_response(StatusCode::OK, updated))
}

/// A list response, with `limit`/`continue` paging (continue tokens name the last key returned).
fn list(state: &ClusterState, desc: &ResourceDesc, ns: Option<&str>, query: &Query) -> ApiResult<Value> {
    let selector = selector(desc, query)?;
    let limit: usize =
        query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let after = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token)?),
        None => None,
    };
    let rv = state.store.current_rv().to_string();
    let mut matching = state
        .list(desc, ns)
        .into_iter()
        .filter(|o| after.as_ref().is_none_or(|a| crate::storage::store::object_key(o) > *a))
        .filter(|o| selector.matches(o));
    let items: Vec<Value> = matching.by_ref().take(limit).collect();
    let remaining = matching.count();
    let mut metadata = json!({"resourceVersion": rv});
    if remaining > 0
        && let Some(last) = items.last()
    {
        let (last_ns, last_name) = crate::storage::store::object_key(last);
        metadata["continue"] = json!(format!("{last_ns}/{last_name}"));
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(json!({
        "kind": format!("{}List", desc.kind),
        "apiVersion": desc.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    token
        .split_once('/')
        .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
        .ok_or_else(|| ApiError::bad_request("continue key is not valid: malformed token"))
}

fn write_options(query: &Query, headers: &HeaderMap, scope: Scope) -> WriteOptions {
    let manager = query.get("fieldManager").filter(|m| !m.is_empty()).cloned().unwrap_or_else(|| {
        let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        agent.split('/').next().unwrap_or(agent).to_owned()
    });
    WriteOptions { manager, scope, dry_run: is_dry_run(query), managed_precomputed: false }
}

/// `fieldValidation=Strict` refuses unknown fields of custom resources (`Warn` and `Ignore` prune them).
fn check_unknown_fields(desc: &ResourceDesc, object: &Value, query: &Query) -> ApiResult<()> {
    let (Some(schema), Some("Strict")) = (&desc.schema, query.get("fieldValidation").map(String::as_str))
    else {
        return Ok(());
    };
    let unknown = schema.unknown_fields(object);
    if unknown.is_empty() {
        return Ok(());
    }
    let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    Err(ApiError::bad_request(format!("strict decoding error: {}", fields.join(", "))))
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

fn success_status(desc: &ResourceDesc, name: &str, object: &Value) -> Value {
    let mut details = json!({"name": name, "kind": desc.plural, "uid": object["metadata"]["uid"]});
    if !desc.group.is_empty() {
        details["group"] = json!(desc.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

fn parse_body(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded: {e}")))
}

/// Whether the client asked for a `meta.k8s.io` Table (kubectl get).
fn wants_table(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
}

/// A watch's events as the response body: one JSON document per line.
fn watch_response(events: tokio::sync::mpsc::Receiver<Value>) -> Response {
    let body = axum::body::Body::from_stream(futures::stream::unfold(events, |mut rx| async move {
        let event = rx.recv().await?;
        let mut line = event.to_string();
        line.push('\n');
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(line)), rx))
    }));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
