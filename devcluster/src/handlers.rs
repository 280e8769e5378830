//! The verbs on resource paths, one module each as kube-apiserver's endpoint handlers are: get,
//! list, watch, create, update, patch, delete and deletecollection, and the `pods/log` and
//! `serviceaccounts/token` subresources. This module resolves the resource and dispatches.

mod create;
mod delete;
mod get;
mod list;
mod patch;
mod pod_log;
mod resource_request;
pub(crate) mod response;
mod scale;
mod token_request;
mod update;
mod watch;

use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;

use crate::api_error::{ApiError, ApiResult};
use crate::api_server::ApiServer;
use crate::authorization::Caller;
use crate::field_management::Scope;
use crate::request::Query;
use crate::request::path::ObjectPath;
use crate::request::query::is_true;
use resource_request::ResourceRequest;

/// What a request on a resource path brings besides the path.
pub(crate) struct Request<'a> {
    /// The method.
    pub(crate) method: &'a Method,
    /// Query parameters.
    pub(crate) query: &'a Query,
    /// Request headers.
    pub(crate) headers: &'a HeaderMap,
    /// Request body.
    pub(crate) body: &'a Bytes,
}

/// Serve a request on a resource path for `caller`, whom the router has authorized.
pub(crate) async fn serve(
    server: &Arc<ApiServer>,
    caller: &Caller,
    path: ObjectPath,
    request: Request<'_>,
) -> ApiResult<Response> {
    let Request { method, query, headers, body } = request;
    let desc =
        server.lock().resource(&path.group, &path.version, &path.plural).ok_or_else(ApiError::no_route)?;
    if path.namespace.is_some() && !desc.namespaced {
        return Err(ApiError::no_route());
    }
    let namespace = path.namespace.as_deref();
    let name = path.name.as_deref();
    let scope = match path.subresource.as_deref() {
        None => Scope::Main,
        Some("status") if desc.status_subresource => Scope::Status,
        Some("log") if desc.kind == "Pod" && desc.group.is_empty() && *method == Method::GET => {
            return pod_log::pod_log(server, &desc, namespace, name.unwrap_or_default(), query);
        }
        Some("token")
            if desc.kind == "ServiceAccount" && desc.group.is_empty() && *method == Method::POST =>
        {
            refuse_binary_encodings(content_type(headers))?;
            return token_request::create(
                server,
                &desc,
                namespace.unwrap_or_default(),
                name.unwrap_or_default(),
                body,
            );
        }
        Some("scale") if desc.scale.is_some() => {
            let request = ResourceRequest {
                server,
                caller,
                desc: &desc,
                namespace,
                scope: Scope::Main,
                query,
                headers,
                body,
            };
            return scale::serve(&request, method, name.unwrap_or_default());
        }
        Some(_) => return Err(ApiError::no_route()),
    };
    let not_supported = || ApiError::method_not_supported(&desc, &method.as_str().to_lowercase());
    if desc.create_only && *method != Method::POST {
        return Err(not_supported());
    }
    let request = ResourceRequest { server, caller, desc: &desc, namespace, scope, query, headers, body };
    refuse_binary_encodings(request.content_type())?;
    match (method.clone(), name) {
        (Method::GET, Some(name)) => get::get(&request, name),
        (Method::GET, None) if is_true(query.get("watch")) => watch::watch(&request),
        (Method::GET, None) => list::list(&request),
        (Method::POST, None) => create::create(&request),
        (Method::PUT, Some(name)) => update::update(&request, name),
        (Method::PATCH, Some(name)) => patch::patch(&request, name),
        (Method::DELETE, Some(name)) => delete::delete(&request, name),
        (Method::DELETE, None) => delete::delete_collection(&request),
        _ => Err(not_supported()),
    }
}

/// The `Content-Type` header, empty when absent.
fn content_type(headers: &HeaderMap) -> &str {
    headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Protobuf bodies were decoded into JSON by the router (for the kinds it knows); CBOR and any
/// protobuf left are refused. 415 tells client-go which encodings are accepted.
fn refuse_binary_encodings(content_type: &str) -> ApiResult<()> {
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        return Err(ApiError::custom(
            415,
            "UnsupportedMediaType",
            format!(
                "devcluster decodes JSON and YAML request bodies, and protobuf for the built-in \
                 kinds kubectl's generators send, not {content_type:?}"
            ),
            None,
        ));
    }
    Ok(())
}
