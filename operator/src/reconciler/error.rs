//! Why a reconcile failed; the controller requeues with backoff on any of these.

/// A reconcile that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be written as JSON.
    #[error("serializing {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// The object lacks what every stored object has (a namespace, a name).
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    /// NATS is not connected, or the task queue refused or failed a request.
    #[error("NATS: {0}")]
    Nats(String),
    /// A name cannot be used where it must go (a task id, a subject token).
    #[error("{0}")]
    InvalidName(String),
    /// The reconcile did not finish in time (an API request that never got an answer).
    #[error("reconcile did not finish within {0:?}")]
    Timeout(std::time::Duration),
}

impl ReconcileError {
    /// A short label for the `reason` of the error metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(_)) => "api_error",
            Self::Kube(_) => "client_error",
            Self::Serialize { .. } => "serialize",
            Self::MissingMetadata(_) => "missing_metadata",
            Self::Nats(_) => "nats",
            Self::InvalidName(_) => "invalid_name",
            Self::Timeout(_) => "timeout",
        }
    }
}
