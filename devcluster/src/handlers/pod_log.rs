//! The `pods/<name>/log` subresource (`kubectl logs`): the output of a simulated pod's process,
//! with `previous`, `tailLines` and `follow`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::api_error::ApiResult;
use crate::api_server::ApiServer;
use crate::pod_logs::PodLogs;
use crate::request::Query;
use crate::resources::ResourceDesc;

/// How often a followed log is checked for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// Serve `GET` on `pods/<name>/log`; the pod must exist.
pub(crate) fn pod_log(
    server: &ApiServer,
    desc: &ResourceDesc,
    namespace: Option<&str>,
    name: &str,
    query: &Query,
) -> ApiResult<Response> {
    server.lock().get(desc, namespace, name)?;
    let namespace = namespace.unwrap_or_default();
    let previous = query.get("previous").is_some_and(|p| p == "true");
    let tail_lines = query.get("tailLines").and_then(|t| t.parse::<usize>().ok());
    let text = server.pod_logs.text(namespace, name, previous, tail_lines);
    if query.get("follow").is_none_or(|f| f != "true") {
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response());
    }
    Ok(follow(&server.pod_logs, namespace, name, text))
}

/// With `follow=true`, output is streamed as it comes until the process restarts or the pod goes
/// (as a container's log stream ends).
fn follow(logs: &PodLogs, namespace: &str, pod: &str, text: String) -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    let (logs, namespace, pod) = (logs.clone(), namespace.to_owned(), pod.to_owned());
    let mut seen = logs.current_len(&namespace, &pod);
    tokio::spawn(async move {
        if sender.send(Bytes::from(text)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = sender.closed() => return,
                _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            }
            let Some(chunk) = logs.output_since(&namespace, &pod, seen) else { return };
            seen += chunk.len();
            if !chunk.is_empty() && sender.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(receiver, |mut rx| async move {
        rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    }));
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
