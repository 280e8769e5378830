//! `watch` (`?watch=1`): the request's parameters read, and the fan-out's events streamed as
//! newline-delimited JSON.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::resource_request::ResourceRequest;
use crate::api_error::ApiResult;
use crate::request::query::{is_true, selector};
use crate::storage::watch_fan_out::{self, WatchRequest};

/// The longest `timeoutSeconds` honoured (a day), so no value can overflow the deadline.
const MAX_TIMEOUT_SECONDS: u64 = 86_400;
/// The watch timeout when the client names none.
const DEFAULT_TIMEOUT_SECONDS: u64 = 1800;

/// Serve `GET ?watch=1` on a collection.
pub(crate) fn watch(request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let query = request.query;
    let watch = WatchRequest {
        desc: request.desc.clone(),
        namespace: request.namespace.map(str::to_owned),
        selector: selector(request.desc, query)?,
        resource_version: query.get("resourceVersion").cloned(),
        bookmarks: is_true(query.get("allowWatchBookmarks")),
        send_initial_events: is_true(query.get("sendInitialEvents")),
        timeout: Duration::from_secs(
            query
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
                .min(MAX_TIMEOUT_SECONDS),
        ),
        bookmark_interval: request.server.bookmark_interval,
        closing: request.server.closing.subscribe(),
    };
    let events = watch_fan_out::start(&request.server.lock(), watch)?;
    Ok(stream_response(events))
}

/// The events as the response body: one JSON document per line.
fn stream_response(events: mpsc::Receiver<Value>) -> Response {
    let body = Body::from_stream(futures::stream::unfold(events, |mut rx| async move {
        let event = rx.recv().await?;
        let mut line = event.to_string();
        line.push('\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), rx))
    }));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
