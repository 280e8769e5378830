//! `create`: a new object, or the answer to a TokenReview or (Self)SubjectAccessReview.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::resource_request::ResourceRequest;
use super::response::json_response;
use crate::api_error::{ApiError, ApiResult};
use crate::storage::cluster_state::present;

/// Serve `POST` on a collection.
pub(crate) fn create(request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let object = request.parse_body()?;
    let desc = request.desc;
    if desc.create_only {
        return review(request, object);
    }
    request.check_shape(&object)?;
    if desc.namespaced && request.namespace.is_none() {
        return Err(ApiError::no_route());
    }
    let opts = request.write_options();
    let mut state = request.server.lock();
    request.check_unknown_fields(&object)?;
    let created = state.create(desc, request.namespace, object, &opts)?;
    Ok(json_response(StatusCode::CREATED, created))
}

/// TokenReviews and SubjectAccessReviews are answered, not stored.
fn review(request: &ResourceRequest<'_>, object: Value) -> ApiResult<Response> {
    let state = request.server.lock();
    let answer = match request.desc.kind.as_str() {
        "TokenReview" => crate::authentication::token_review(&state, object)?,
        "SelfSubjectAccessReview" => {
            crate::authorization::self_subject_access_review(&state, request.bearer_token(), object)?
        }
        _ => crate::authorization::subject_access_review(&state, object)?,
    };
    Ok(json_response(StatusCode::CREATED, present(request.desc, answer)))
}
