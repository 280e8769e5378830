//! The fan-out of changes to watches: for each watch, `{"type", "object"}` events from a
//! resourceVersion, with `BOOKMARK`s when allowed, the initial state (and the
//! `k8s.io/initial-events-end` bookmark) for `sendInitialEvents=true`, and an `ERROR` event
//! carrying `410 Gone` when the resourceVersion is older than the kept history.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::cluster_state::{ClusterState, present};
use super::store::{Change, ChangeRecord};
use crate::api_error::{ApiError, ApiResult};
use crate::resources::ResourceDesc;
use crate::selectors::Selector;

/// The parameters of a watch request.
pub(crate) struct WatchRequest {
    /// The resource.
    pub(crate) desc: Arc<ResourceDesc>,
    /// Namespace, or all.
    pub(crate) namespace: Option<String>,
    /// Label and field selectors.
    pub(crate) selector: Selector,
    /// `resourceVersion`: `None` or `0` start from the current state (sent as `ADDED`).
    pub(crate) resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub(crate) bookmarks: bool,
    /// `sendInitialEvents`.
    pub(crate) send_initial_events: bool,
    /// `timeoutSeconds`.
    pub(crate) timeout: Duration,
    /// How often to send bookmarks.
    pub(crate) bookmark_interval: Duration,
    /// Becomes true when the server shuts down.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

/// Start a watch: everything up to now is decided under the lock, then a task sends the events,
/// ending (the receiver closing) when the watch times out, fails with `410 Gone`, or the server
/// closes.
pub(crate) fn start(state: &ClusterState, request: WatchRequest) -> ApiResult<mpsc::Receiver<Value>> {
    let desc = request.desc.clone();
    let key = desc.storage_key();
    let receiver = state.store.subscribe();
    let current = state.store.current_rv();
    let mut initial: Vec<Value> = Vec::new();
    let mut expired = false;
    let from_state = matches!(request.resource_version.as_deref(), None | Some("") | Some("0"))
        || request.send_initial_events;
    if from_state {
        for object in state.list(&desc, request.namespace.as_deref()) {
            if request.selector.matches(&object) {
                initial.push(event("ADDED", object));
            }
        }
        if request.send_initial_events {
            let mut mark = bookmark(&desc, current);
            mark["object"]["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            initial.push(mark);
        }
    } else {
        let rv: u64 = request
            .resource_version
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|_| ApiError::bad_request("resourceVersion must be an integer"))?;
        match state.store.changes_since(&key, rv) {
            Ok(records) => {
                let mut filter = Filter { request: &request };
                initial.extend(records.iter().filter_map(|r| filter.event(r)));
            }
            Err(too_old) => {
                initial.push(gone(&format!("too old resource version: {rv} ({})", too_old.oldest)));
                expired = true;
            }
        }
    }
    let (sender, events) = mpsc::channel::<Value>(256);
    tokio::spawn(stream(request, receiver, current, initial, expired, sender));
    Ok(events)
}

async fn stream(
    mut request: WatchRequest,
    mut receiver: broadcast::Receiver<Arc<ChangeRecord>>,
    mut last_rv: u64,
    initial: Vec<Value>,
    expired: bool,
    sender: mpsc::Sender<Value>,
) {
    for e in initial {
        if sender.send(e).await.is_err() {
            return;
        }
    }
    if expired {
        return;
    }
    let deadline = tokio::time::Instant::now() + request.timeout;
    let mut ticker = tokio::time::interval(request.bookmark_interval);
    ticker.tick().await;
    loop {
        let next = tokio::select! {
            _ = sender.closed() => return,
            _ = request.closing.changed() => return,
            _ = tokio::time::sleep_until(deadline) => return,
            _ = ticker.tick() => {
                if request.bookmarks {
                    Some(bookmark(&request.desc, last_rv))
                } else {
                    None
                }
            }
            received = receiver.recv() => match received {
                Ok(record) if record.change == Change::Expired => {
                    Some(gone(&format!("too old resource version: {last_rv} ({})", record.rv + 1)))
                }
                Ok(record) => {
                    last_rv = last_rv.max(record.rv);
                    Filter { request: &request }.event(&record)
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Some(gone(&format!("too old resource version: {last_rv}")))
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        };
        if let Some(e) = next {
            let ends = e["type"] == "ERROR";
            if sender.send(e).await.is_err() || ends {
                return;
            }
        }
    }
}

struct Filter<'a> {
    request: &'a WatchRequest,
}

impl Filter<'_> {
    /// The event a change makes for this watch, if any: objects entering or leaving the
    /// selection are reported as `ADDED` or `DELETED`.
    fn event(&mut self, record: &ChangeRecord) -> Option<Value> {
        let request = self.request;
        if record.key != request.desc.storage_key() {
            return None;
        }
        if let Some(ns) = &request.namespace
            && request.desc.namespaced
            && record.object["metadata"]["namespace"].as_str() != Some(ns)
        {
            return None;
        }
        let now = request.selector.matches(&record.object);
        let before = record.previous.as_ref().is_some_and(|p| request.selector.matches(p));
        let kind = match (record.change, before, now) {
            (Change::Added, _, true) => "ADDED",
            (Change::Modified, true, true) => "MODIFIED",
            (Change::Modified, false, true) => "ADDED",
            (Change::Modified, true, false) => "DELETED",
            (Change::Deleted, _, true) => "DELETED",
            _ => return None,
        };
        Some(event(kind, present(&request.desc, record.object.clone())))
    }
}

fn event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

fn bookmark(desc: &ResourceDesc, rv: u64) -> Value {
    event(
        "BOOKMARK",
        json!({"kind": desc.kind, "apiVersion": desc.api_version(), "metadata": {"resourceVersion": rv.to_string()}}),
    )
}

fn gone(message: &str) -> Value {
    event("ERROR", ApiError::gone(message).to_status())
}
