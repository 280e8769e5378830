//! Keeps the operator's `apiserver` readiness gate open while the Kubernetes API server answers,
//! so a replica cut off from it stops getting HTTP API traffic.

use std::time::Duration;

use agentry_process::ReadinessGate;
use kube::Client;

/// How often the API server is asked for its version.
const PERIOD: Duration = Duration::from_secs(10);
/// How long one ask may take before the server counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the API server for its version every [`PERIOD`] and sets `gate` from the answer; runs
/// until dropped.
pub async fn run(client: Client, gate: ReadinessGate) {
    let mut first = true;
    loop {
        let answered = tokio::time::timeout(TIMEOUT, client.apiserver_version()).await;
        let reachable = matches!(answered, Ok(Ok(_)));
        if first || reachable != gate.is_open() {
            match &answered {
                Ok(Ok(_)) => tracing::info!("the Kubernetes API server answers"),
                Ok(Err(err)) => tracing::warn!(error = %err, "the Kubernetes API server does not answer"),
                Err(_) => {
                    tracing::warn!(timeout = ?TIMEOUT, "the Kubernetes API server did not answer in time")
                }
            }
        }
        gate.set(reachable);
        first = false;
        tokio::time::sleep(PERIOD).await;
    }
}
