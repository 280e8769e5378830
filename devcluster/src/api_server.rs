//! What the HTTP handlers and the pod simulator share: the cluster state behind one lock, the
//! output of simulated pods, and the server's address and shutdown signal.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::pod_logs::PodLogs;
use crate::storage::cluster_state::ClusterState;

/// What the HTTP handlers share.
pub(crate) struct ApiServer {
    state: Mutex<ClusterState>,
    /// Output of simulated pods, for `pods/log`.
    pub(crate) pod_logs: PodLogs,
    /// How often watches that allow bookmarks get one.
    pub(crate) bookmark_interval: Duration,
    /// The address clients reach the server at (for `/api`'s `serverAddressByClientCIDRs`).
    pub(crate) address: Mutex<String>,
    /// Set when the server shuts down, so open watches end and graceful shutdown completes.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    /// Set while a test has cut the API off: every request answers 503, as during an outage.
    pub(crate) unavailable: std::sync::atomic::AtomicBool,
}

impl ApiServer {
    /// A server over `state`.
    pub(crate) fn new(state: ClusterState, bookmark_interval: Duration) -> Self {
        Self {
            state: Mutex::new(state),
            pod_logs: PodLogs::default(),
            bookmark_interval,
            address: Mutex::new(String::new()),
            closing: tokio::sync::watch::channel(false).0,
            unavailable: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The cluster state. Never held across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ClusterState> {
        // A panic while holding the lock leaves the state as it was between writes; go on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
