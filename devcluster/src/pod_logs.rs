//! The output of simulated pods' processes, served as the `pods/log` subresource (`kubectl logs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::request::Query;

/// Keep at most this much output per container (older output is dropped, as log rotation would).
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// One container's output, current run and previous run.
#[derive(Default)]
struct ContainerLog {
    current: Vec<u8>,
    previous: Vec<u8>,
}

/// Logs by (namespace, pod).
#[derive(Clone, Default)]
pub struct PodLogs {
    logs: Arc<Mutex<HashMap<(String, String), ContainerLog>>>,
}

impl PodLogs {
    /// Append output of the pod's process.
    pub fn append(&self, namespace: &str, pod: &str, bytes: &[u8]) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs.entry((namespace.to_owned(), pod.to_owned())).or_default();
        log.current.extend_from_slice(bytes);
        if log.current.len() > MAX_BYTES {
            let excess = log.current.len() - MAX_BYTES;
            log.current.drain(..excess);
        }
    }

    /// The process restarted: its output so far becomes the `previous` log.
    pub fn restarted(&self, namespace: &str, pod: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs.entry((namespace.to_owned(), pod.to_owned())).or_default();
        log.previous = std::mem::take(&mut log.current);
    }

    /// Forget a deleted pod's output.
    pub fn remove(&self, namespace: &str, pod: &str) {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).remove(&(namespace.to_owned(), pod.to_owned()));
    }

    /// The log text, honouring `previous` and `tailLines`.
    pub fn text(&self, namespace: &str, pod: &str, query: &Query) -> String {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(log) = logs.get(&(namespace.to_owned(), pod.to_owned())) else { return String::new() };
        let previous = query.get("previous").is_some_and(|p| p == "true");
        let bytes = if previous { &log.previous } else { &log.current };
        let text = String::from_utf8_lossy(bytes).into_owned();
        match query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let start = lines.len().saturating_sub(n);
                lines[start..].iter().map(|l| format!("{l}\n")).collect()
            }
            None => text,
        }
    }

    /// The `pods/<name>/log` response; with `follow=true`, output is streamed as it comes until
    /// the process restarts or the pod goes (as a container's log stream ends).
    pub fn respond(&self, namespace: &str, pod: &str, query: &Query) -> Response {
        let text = self.text(namespace, pod, query);
        if query.get("follow").is_none_or(|f| f != "true") {
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response();
        }
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
        let (logs, key) = (self.clone(), (namespace.to_owned(), pod.to_owned()));
        let mut seen = self.current_len(&key);
        tokio::spawn(async move {
            if sender.send(Bytes::from(text)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    _ = sender.closed() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                }
                let chunk = {
                    let all = logs.logs.lock().unwrap_or_else(|p| p.into_inner());
                    match all.get(&key) {
                        Some(log) if log.current.len() >= seen => {
                            let chunk = log.current[seen..].to_vec();
                            seen = log.current.len();
                            chunk
                        }
                        _ => return,
                    }
                };
                if !chunk.is_empty() && sender.send(Bytes::from(chunk)).await.is_err() {
                    return;
                }
            }
        });
        let body = Body::from_stream(futures::stream::unfold(receiver, |mut rx| async move {
            rx.recv().await.map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), rx))
        }));
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
    }

    fn current_len(&self, key: &(String, String)) -> usize {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).get(key).map_or(0, |l| l.current.len())
    }
}
