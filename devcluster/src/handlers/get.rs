//! `get`: one object, as JSON or as a Table.

use axum::http::StatusCode;
use axum::response::Response;

use super::resource_request::ResourceRequest;
use super::response::json_response;
use crate::api_error::ApiResult;
use crate::discovery::tables::table;

/// Serve `GET` on an object.
pub(crate) fn get(request: &ResourceRequest<'_>, name: &str) -> ApiResult<Response> {
    let object = request.server.lock().get(request.desc, request.namespace, name)?;
    if request.wants_table() {
        return Ok(json_response(StatusCode::OK, table(request.desc, &[object], None, request.query)));
    }
    Ok(json_response(StatusCode::OK, object))
}
