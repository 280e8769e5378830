//! `patch`: JSON, merge and strategic merge patches applied to the live object, and server-side
//! apply, which may create the object.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::resource_request::ResourceRequest;
use super::response::json_response;
use crate::api_error::{ApiError, ApiResult};
use crate::field_management::Scope;
use crate::field_management::patch::{self, PatchType};
use crate::field_management::server_side_apply;
use crate::request::query::is_true;

/// Serve `PATCH` on an object (or its `/status`).
pub(crate) fn patch(request: &ResourceRequest<'_>, name: &str) -> ApiResult<Response> {
    let patch_type = PatchType::from_content_type(request.content_type())?;
    if patch_type == PatchType::Apply {
        return apply(request, name);
    }
    let (desc, ns) = (request.desc, request.namespace);
    let opts = request.write_options();
    let mut state = request.server.lock();
    let current = state.get(desc, ns, name)?;
    let patched = patch::apply(desc, &current, patch_type, request.body)?;
    request.check_shape(&patched)?;
    request.check_unknown_fields(&patched)?;
    let updated = state.update(desc, ns, name, patched, &opts)?;
    Ok(json_response(StatusCode::OK, updated))
}

/// Server-side apply (`application/apply-patch+yaml`): merge the manager's configuration,
/// creating the object when it does not exist.
fn apply(request: &ResourceRequest<'_>, name: &str) -> ApiResult<Response> {
    let (desc, ns, query) = (request.desc, request.namespace, request.query);
    let mut opts = request.write_options();
    let mut state = request.server.lock();
    let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
        ));
    };
    let applied = applied_configuration(request, name)?;
    request.check_unknown_fields(&applied)?;
    let force = is_true(query.get("force"));
    opts.manager = manager.clone();
    opts.managed_precomputed = true;
    let current = match state.get(desc, ns, name) {
        Ok(current) => Some(current),
        Err(err) if err.code == 404 && request.scope == Scope::Main => None,
        Err(err) => return Err(err),
    };
    let merged = server_side_apply::apply(desc, current.as_ref(), &applied, manager, force, request.scope)?;
    if current.is_none() {
        let resource = (desc.group.as_str(), desc.plural.as_str());
        let namespace = ns.unwrap_or_default();
        crate::authorization::authorize_create_on_update(&state, request.caller, resource, namespace, name)?;
        let created = state.create(desc, ns, merged, &opts)?;
        return Ok(json_response(StatusCode::CREATED, created));
    }
    let updated = state.update(desc, ns, name, merged, &opts)?;
    Ok(json_response(StatusCode::OK, updated))
}

/// The applied configuration, whose identity must match the request's, named by the URL and
/// without the fields the server owns.
fn applied_configuration(request: &ResourceRequest<'_>, name: &str) -> ApiResult<Value> {
    let desc = request.desc;
    let mut applied = server_side_apply::parse_applied(request.body)?;
    request.check_shape(&applied)?;
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
    if let Some(ns) = request.namespace {
        applied["metadata"]["namespace"] = json!(ns);
    }
    server_side_apply::strip_server_fields(&mut applied);
    Ok(applied)
}
