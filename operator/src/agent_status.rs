//! An Agent's phase and `Available` condition, worked out from what the reconcile observed.

use agentry_crds::{AgentPhase, ConditionStatus};
use k8s_openapi::api::apps::v1::Deployment;

/// What the Deployment reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Pods that exist.
    pub replicas: i32,
    /// Pods ready to answer.
    pub ready: i32,
}

impl Rollout {
    /// Reads a Deployment's status.
    pub fn of(deployment: &Deployment) -> Self {
        let status = deployment.status.as_ref();
        Self {
            replicas: status.and_then(|s| s.replicas).unwrap_or(0),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        }
    }
}

/// Where the Agent stands.
pub fn phase(paused: bool, resolved: bool, rollout: Option<Rollout>, desired: i32) -> AgentPhase {
    if paused {
        return AgentPhase::Paused;
    }
    match (resolved, rollout) {
        // Runners already exist (with their last good config): they keep answering.
        (false, Some(_)) => AgentPhase::Degraded,
        (false, None) | (true, None) => AgentPhase::Pending,
        (true, Some(r)) if r.ready >= desired => AgentPhase::Ready,
        (true, Some(r)) if r.ready == 0 => AgentPhase::Pending,
        (true, Some(_)) => AgentPhase::Degraded,
    }
}

/// The `Available` condition: status, reason, message.
pub fn available(
    paused: bool,
    rollout: Option<Rollout>,
    desired: i32,
) -> (ConditionStatus, &'static str, String) {
    if paused {
        return (
            ConditionStatus::False,
            "Paused",
            "spec.paused is true; the runners are scaled to zero".into(),
        );
    }
    match rollout {
        None => (ConditionStatus::False, "NoDeployment", "the runner Deployment does not exist yet".into()),
        Some(r) if r.ready >= desired => (
            ConditionStatus::True,
            "MinimumReplicasAvailable",
            format!("{}/{desired} runners ready", r.ready),
        ),
        Some(r) => (
            ConditionStatus::False,
            if r.ready == 0 { "NoReplicasReady" } else { "ReplicasUnavailable" },
            format!("{}/{desired} runners ready", r.ready),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(ready: i32) -> Option<Rollout> {
        Some(Rollout { replicas: 2, ready })
    }

    #[test]
    fn phases() {
        assert_eq!(phase(true, false, None, 2), AgentPhase::Paused);
        assert_eq!(phase(false, false, None, 2), AgentPhase::Pending);
        assert_eq!(phase(false, false, rollout(2), 2), AgentPhase::Degraded);
        assert_eq!(phase(false, true, None, 2), AgentPhase::Pending);
        assert_eq!(phase(false, true, rollout(0), 2), AgentPhase::Pending);
        assert_eq!(phase(false, true, rollout(1), 2), AgentPhase::Degraded);
        assert_eq!(phase(false, true, rollout(2), 2), AgentPhase::Ready);
    }

    #[test]
    fn availability() {
        assert_eq!(available(true, rollout(2), 2).0, ConditionStatus::False);
        assert_eq!(available(false, None, 2).1, "NoDeployment");
        assert_eq!(available(false, rollout(1), 2).1, "ReplicasUnavailable");
        assert_eq!(available(false, rollout(2), 2).0, ConditionStatus::True);
    }
}
