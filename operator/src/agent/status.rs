//! An Agent's phase and `Available` condition, worked out from what the reconcile observed.

use agentry_crds::{AgentPhase, ConditionStatus};
use k8s_openapi::api::apps::v1::Deployment;

/// What the Deployment reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Pods that exist.
    pub replicas: i32,
    /// Pods ready to answer (old template or new).
    pub ready: i32,
    /// Whether the Deployment controller has seen the latest template and every pod runs it,
    /// so `ready` counts runners with the current config.
    pub rolled_out: bool,
}

impl Rollout {
    /// Reads a Deployment's status.
    pub fn of(deployment: &Deployment) -> Self {
        let status = deployment.status.as_ref();
        let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let seen = status.and_then(|s| s.observed_generation) >= deployment.metadata.generation;
        let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
        let replicas = status.and_then(|s| s.replicas).unwrap_or(0);
        Self {
            replicas,
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            // Old pods linger during a rolling update; the rollout is done when all are updated.
            rolled_out: seen && updated >= desired && replicas <= desired,
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
        (true, Some(r)) if r.ready >= desired && r.rolled_out => AgentPhase::Ready,
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
        Some(r) if r.ready >= desired && r.rolled_out => (
            ConditionStatus::True,
            "MinimumReplicasAvailable",
            format!("{}/{desired} runners ready", r.ready),
        ),
        Some(r) if r.ready >= desired => (
            ConditionStatus::False,
            "RolloutInProgress",
            format!("{}/{desired} runners ready; not all run the current config yet", r.ready),
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
        Some(Rollout { replicas: 2, ready, rolled_out: true })
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
        // Old pods ready, new ones not: not Ready yet.
        let rolling = Some(Rollout { replicas: 3, ready: 2, rolled_out: false });
        assert_eq!(phase(false, true, rolling, 2), AgentPhase::Degraded);
        assert_eq!(available(false, rolling, 2).1, "RolloutInProgress");
    }

    #[test]
    fn availability() {
        assert_eq!(available(true, rollout(2), 2).0, ConditionStatus::False);
        assert_eq!(available(false, None, 2).1, "NoDeployment");
        assert_eq!(available(false, rollout(1), 2).1, "ReplicasUnavailable");
        assert_eq!(available(false, rollout(2), 2).0, ConditionStatus::True);
    }
}
