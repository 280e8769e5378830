//! An Agent's status worked out from what the reconcile observed: its phase, the reference
//! conditions, `Available` and `Ready`. Pure, tested on its own.

use agentry_crds::{
    Agent, AgentPhase, AgentStatus, Condition, ConditionStatus, condition_types, reasons, set_condition,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::agent::child_refusal::Refusal;
use crate::agent::readiness;
use crate::agent::resolution::{Resolution, Unresolved};

/// What the Deployment reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Pods that exist.
    pub replicas: i32,
    /// Pods ready to answer (old template or new).
    pub ready: i32,
    /// Pods available to answer (ready for the Deployment's `minReadySeconds`).
    pub available: i32,
    /// The Deployment's `spec.replicas`.
    pub desired: i32,
    /// How many of `desired` may be unavailable during a rolling update.
    pub max_unavailable: i32,
    /// Whether the Deployment controller has seen the latest template and every pod runs it,
    /// so `ready` counts runners with the current config.
    pub rolled_out: bool,
}

impl Rollout {
    /// Reads a Deployment's status.
    pub fn of(deployment: &Deployment) -> Self {
        let status = deployment.status.as_ref();
        let spec = deployment.spec.as_ref();
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let seen = status.and_then(|s| s.observed_generation) >= deployment.metadata.generation;
        let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
        let replicas = status.and_then(|s| s.replicas).unwrap_or(0);
        let rolling = spec.and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
        Self {
            replicas,
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
            desired,
            max_unavailable: max_unavailable(rolling.and_then(|r| r.max_unavailable.as_ref()), desired),
            // Old pods linger during a rolling update; the rollout is done when all are updated.
            rolled_out: seen && updated >= desired && replicas <= desired,
        }
    }
}

/// `maxUnavailable` of `desired` as the Deployment controller reads it: a count, or a
/// percentage rounded down; 25 % when unset.
fn max_unavailable(value: Option<&IntOrString>, desired: i32) -> i32 {
    let percent = match value {
        Some(IntOrString::Int(count)) => return *count,
        Some(IntOrString::String(text)) => text.trim_end_matches('%').parse::<i64>().unwrap_or(25),
        None => 25,
    };
    i32::try_from(i64::from(desired) * percent / 100).unwrap_or(0)
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
            reasons::PAUSED,
            "spec.paused is true; the runners are scaled to zero".into(),
        );
    }
    match rollout {
        None => (
            ConditionStatus::False,
            reasons::NO_DEPLOYMENT,
            "the runner Deployment does not exist yet".into(),
        ),
        Some(r) if r.ready >= desired && r.rolled_out => (
            ConditionStatus::True,
            reasons::MINIMUM_REPLICAS_AVAILABLE,
            format!("{}/{desired} runners ready", r.ready),
        ),
        Some(r) if r.ready >= desired => (
            ConditionStatus::False,
            reasons::ROLLOUT_IN_PROGRESS,
            format!("{}/{desired} runners ready; not all run the current config yet", r.ready),
        ),
        Some(r) => (
            ConditionStatus::False,
            if r.ready == 0 { reasons::NO_REPLICAS_READY } else { reasons::REPLICAS_UNAVAILABLE },
            format!("{}/{desired} runners ready", r.ready),
        ),
    }
}

/// What applying the runner's objects came to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The config hash the runners were last written with.
    pub config_hash: Option<String>,
    /// The API server's refusal of the runner's objects, when it refused them.
    pub refused: Option<Refusal>,
}

fn resolved_condition<T>(
    type_: &str,
    result: &Result<T, Unresolved>,
    ok: &str,
    generation: Option<i64>,
) -> Condition {
    match result {
        Ok(_) => Condition::new(type_, ConditionStatus::True, reasons::RESOLVED, ok, generation),
        Err(u) => Condition::new(type_, ConditionStatus::False, u.reason, &u.message, generation),
    }
}

/// The status the Agent should have: `observed` is its Deployment's rollout (if it exists),
/// `subject` where it answers.
pub fn desired(
    agent: &Agent,
    resolution: &Resolution,
    rollout: Option<Rollout>,
    applied: Applied,
    subject: Option<String>,
) -> AgentStatus {
    let generation = agent.meta().generation;
    let mut conditions = agent.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let models = resolved_condition(
        condition_types::MODEL_RESOLVED,
        &resolution.models,
        "every Model in the chain is ready",
        generation,
    );
    let tools = resolved_condition(
        condition_types::TOOLS_RESOLVED,
        &resolution.tools,
        "every Tool is ready",
        generation,
    );
    let memory_message = match &resolution.memory {
        Ok(Some(store)) => format!("bound to MemoryStore {}", store.name_any()),
        _ => "no long-term memory configured".to_string(),
    };
    let memory =
        resolved_condition(condition_types::MEMORY_BOUND, &resolution.memory, &memory_message, generation);
    for condition in [models, tools, memory] {
        set_condition(&mut conditions, condition);
    }
    let desired_replicas = agent.spec.replicas;
    let ready = readiness::ready(agent.spec.paused, applied.refused.as_ref(), resolution, rollout);
    let (phase, (status, reason, message)) = match applied.refused {
        Some(refusal) => (AgentPhase::Failed, (ConditionStatus::False, refusal.reason, refusal.message)),
        None => (
            phase(agent.spec.paused, resolution.is_complete(), rollout, desired_replicas),
            available(agent.spec.paused, rollout, desired_replicas),
        ),
    };
    set_condition(
        &mut conditions,
        Condition::new(condition_types::AVAILABLE, status, reason, &message, generation),
    );
    let (status, reason, message) = ready;
    set_condition(
        &mut conditions,
        Condition::new(condition_types::READY, status, reason, &message, generation),
    );
    AgentStatus {
        observed_generation: generation,
        phase: Some(phase),
        conditions,
        replicas: rollout.map(|r| r.replicas),
        ready_replicas: rollout.map(|r| r.ready),
        subject,
        config_hash: applied.config_hash,
        usage: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(ready: i32) -> Option<Rollout> {
        Some(Rollout {
            replicas: 2,
            ready,
            available: ready,
            desired: 2,
            max_unavailable: 0,
            rolled_out: true,
        })
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
        let rolling =
            Some(Rollout { replicas: 3, ready: 2, rolled_out: false, ..rollout(2).unwrap_or_default() });
        assert_eq!(phase(false, true, rolling, 2), AgentPhase::Degraded);
        assert_eq!(available(false, rolling, 2).1, "RolloutInProgress");
    }

    #[test]
    fn a_refused_apply_fails_the_agent_with_the_servers_message() {
        let agent: Agent = serde_json::from_value(serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "a", "namespace": "ns", "generation": 3},
            "spec": {"role": "worker", "systemPrompt": "p", "modelRef": "m"}
        }))
        .expect("agent");
        let resolution = Resolution { models: Ok(vec![]), tools: Ok(vec![]), memory: Ok(None) };
        let refusal = Refusal { reason: "ApplyRefused", message: "spec.x: Invalid".into() };
        let refused = Applied { config_hash: Some("old".into()), refused: Some(refusal) };
        let status = desired(&agent, &resolution, rollout(1), refused, None);
        assert_eq!(status.phase, Some(AgentPhase::Failed));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.config_hash.as_deref(), Some("old"));
        let available = status.conditions.iter().find(|c| c.type_ == "Available").expect("Available");
        assert_eq!(
            (available.reason.as_str(), available.message.as_str()),
            ("ApplyRefused", "spec.x: Invalid")
        );
        let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["ModelResolved", "ToolsResolved", "MemoryBound", "Available", "Ready"]);
    }

    #[test]
    fn availability() {
        assert_eq!(available(true, rollout(2), 2).0, ConditionStatus::False);
        assert_eq!(available(false, None, 2).1, "NoDeployment");
        assert_eq!(available(false, rollout(1), 2).1, "ReplicasUnavailable");
        assert_eq!(available(false, rollout(2), 2).0, ConditionStatus::True);
    }
}
