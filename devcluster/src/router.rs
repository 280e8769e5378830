//! The HTTP router: one axum fallback handler that parses the Kubernetes API path and dispatches
//! to the service proxy, discovery, OpenAPI or the resource verbs.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::api_error::ApiError;
use crate::api_server::ApiServer;
use crate::authorization::Caller;
use crate::discovery::{api_groups, openapi_documents, server_version};
use crate::handlers::{self, response::json_response};
use crate::request::Query;
use crate::request::path::{self as api_path, ApiPath};
use crate::request::protobuf::{self, ProtobufError};

/// The router serving the whole API.
pub(crate) fn router(server: Arc<ApiServer>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

async fn handle(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    if server.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
        return ApiError::unavailable().into_response();
    }
    let (parts, body) = request.into_parts();
    let query: Query =
        axum::extract::Query::<Query>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let access = crate::authorization::request_access(
        &server.lock(),
        &parts.method,
        parts.uri.path(),
        &query,
        &parts.headers,
    );
    let caller = match access {
        Ok(caller) => caller,
        Err(refused) => {
            tracing::debug!(method = %parts.method, uri = %parts.uri, status = refused.code, "request refused");
            return refused.into_response();
        }
    };
    if let Some(path) = crate::service_proxy::proxy_path(parts.uri.path()) {
        // The body streams through to the backend, unread.
        let (method, uri) = (parts.method.clone(), parts.uri.clone());
        let response = crate::service_proxy::serve(&server, path, parts, body).await;
        tracing::debug!(%method, %uri, status = response.status().as_u16(), "proxied request");
        return response;
    }
    let (method, uri, headers) = (parts.method.clone(), parts.uri.clone(), parts.headers.clone());
    // Read as the `Bytes` extractor reads (with its size limit), for the API's own handlers.
    let body = match Bytes::from_request(Request::from_parts(parts, body), &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    serve_api(&server, &caller, (method, uri), &query, headers, body).await
}

async fn serve_api(
    server: &Arc<ApiServer>,
    caller: &Caller,
    (method, uri): (Method, Uri),
    query: &Query,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = match api_path::parse(uri.path()) {
        ApiPath::Object(path) => match json_body(headers, body) {
            Ok((headers, body)) => {
                let request = handlers::Request { method: &method, query, headers: &headers, body: &body };
                handlers::serve(server, caller, path, request).await
            }
            Err(err) => Err(err),
        },
        other if method == Method::GET => Ok(serve_meta(server, other, &headers)),
        _ => Err(ApiError::no_route()),
    };
    let response = response.unwrap_or_else(IntoResponse::into_response);
    tracing::debug!(%method, %uri, status = response.status().as_u16(), "request");
    response
}

/// A protobuf body (kubectl's typed clients) decoded into the JSON the handlers read; other
/// bodies as they came. Answers stay JSON: client-go always also accepts `application/json`.
fn json_body(mut headers: HeaderMap, body: Bytes) -> Result<(HeaderMap, Bytes), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with(protobuf::PROTOBUF_MEDIA_TYPE) {
        return Ok((headers, body));
    }
    let object = protobuf::decode_body(&body).map_err(|err| match err {
        ProtobufError::Malformed(_) => ApiError::bad_request(err.to_string()),
        ProtobufError::UnknownKind { .. } | ProtobufError::UnknownField { .. } => {
            ApiError::custom(415, "UnsupportedMediaType", err.to_string(), None)
        }
    })?;
    let json = serde_json::to_vec(&object).map_err(|err| ApiError::internal(err.to_string()))?;
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok((headers, Bytes::from(json)))
}

fn serve_meta(server: &ApiServer, path: ApiPath, headers: &HeaderMap) -> Response {
    let state = server.lock();
    let address = server.address.lock().map(|a| a.clone()).unwrap_or_default();
    match path {
        ApiPath::Version => json_response(StatusCode::OK, server_version::version()),
        ApiPath::Health => (StatusCode::OK, "ok").into_response(),
        ApiPath::CoreVersions => json_response(StatusCode::OK, api_groups::core_versions(&address)),
        ApiPath::Groups => json_response(StatusCode::OK, api_groups::groups(&state.registry)),
        ApiPath::Group(group) => match api_groups::group(&state.registry, &group) {
            Some(g) => json_response(StatusCode::OK, g),
            None => ApiError::no_route().into_response(),
        },
        ApiPath::Resources { group, version } => {
            match api_groups::resources(&state.registry, &group, &version) {
                Some(list) => json_response(StatusCode::OK, list),
                None => ApiError::no_route().into_response(),
            }
        }
        ApiPath::OpenApiV2 => {
            // An empty protobuf message is a valid, empty OpenAPI v2 document: kubectl then finds
            // no client-side schema and relies on the server (fieldValidation) as for CRDs.
            let wants_json =
                headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("json"));
            if wants_json {
                json_response(StatusCode::OK, openapi_documents::v2())
            } else {
                (
                    [(header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")],
                    Bytes::new(),
                )
                    .into_response()
            }
        }
        ApiPath::OpenApiV3Root => json_response(StatusCode::OK, openapi_documents::root(&state.registry)),
        ApiPath::OpenApiV3 { group, version } => {
            match openapi_documents::group_version(&state.registry, &group, &version) {
                Some(doc) => json_response(StatusCode::OK, doc),
                None => ApiError::no_route().into_response(),
            }
        }
        ApiPath::Object(_) | ApiPath::Unknown => ApiError::no_route().into_response(),
    }
}
