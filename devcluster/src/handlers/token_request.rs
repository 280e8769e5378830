//! `serviceaccounts/<name>/token`: create a TokenRequest (a new ServiceAccount token).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

use super::resource_request::parse_body;
use super::response::json_response;
use crate::api_error::ApiResult;
use crate::api_server::ApiServer;
use crate::resources::ResourceDesc;

/// Serve `POST` on `serviceaccounts/<name>/token` in `namespace` (`sa_desc`: ServiceAccounts).
pub(crate) fn create(
    server: &Arc<ApiServer>,
    sa_desc: &ResourceDesc,
    namespace: &str,
    name: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let request = parse_body(body)?;
    let mut state = server.lock();
    let answer = crate::authentication::token_request(&mut state, sa_desc, namespace, name, &request)?;
    Ok(json_response(StatusCode::CREATED, answer))
}
