//! The handles a running operator shares with its HTTP endpoint: metrics, and the gates behind
//! `/readyz` (this replica serves) and `/leader` (this replica runs the controllers).

use std::sync::Arc;

use agentry_process::{BuildInfo, ProcessMetrics, Readiness, ReadinessGate};

use crate::runtime::leader_election::RunError;
use crate::runtime::metrics::OperatorMetrics;

/// A running operator's shared handles, for the HTTP endpoint.
pub struct Handles {
    /// Operator metrics.
    pub metrics: Arc<OperatorMetrics>,
    /// The process figures and build info every binary exports.
    pub process: Arc<ProcessMetrics>,
    /// What `/readyz` reports: ready while [`Handles::serving`] and [`Handles::apiserver`] are
    /// open, leader or not, since every replica serves the HTTP API.
    pub readiness: Readiness,
    /// Open once the HTTP API and the admin endpoint listen.
    pub serving: ReadinessGate,
    /// Open while the Kubernetes API server answers.
    pub apiserver: ReadinessGate,
    /// What `/leader` reports: open while [`Handles::leading`] is.
    pub leadership: Readiness,
    /// Open while this replica's controllers run (it is the leader, or there is no election).
    pub leading: ReadinessGate,
}

impl Handles {
    /// Fresh handles: not serving, not connected, not leading.
    pub fn new() -> Result<Self, RunError> {
        let readiness = Readiness::new();
        let serving = readiness.gate(false);
        let apiserver = readiness.gate(false);
        let leadership = Readiness::new();
        let leading = leadership.gate(false);
        let build = BuildInfo { binary: "agentry-operator", version: env!("CARGO_PKG_VERSION") };
        let process = Arc::new(ProcessMetrics::new(build)?);
        let metrics = Arc::new(OperatorMetrics::new()?);
        Ok(Self { metrics, process, readiness, serving, apiserver, leadership, leading })
    }
}
