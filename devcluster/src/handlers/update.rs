//! `update` (PUT): replace an object, with optimistic concurrency.

use axum::http::StatusCode;
use axum::response::Response;

use super::resource_request::ResourceRequest;
use super::response::json_response;
use crate::api_error::ApiResult;

/// Serve `PUT` on an object (or its `/status`).
pub(crate) fn update(request: &ResourceRequest<'_>, name: &str) -> ApiResult<Response> {
    let object = request.parse_body()?;
    request.check_shape(&object)?;
    let opts = request.write_options();
    request.check_unknown_fields(&object)?;
    let updated = request.server.lock().update(request.desc, request.namespace, name, object, &opts)?;
    Ok(json_response(StatusCode::OK, updated))
}
