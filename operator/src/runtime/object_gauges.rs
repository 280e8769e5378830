//! The object gauges, refreshed from the shared caches:
//! `agentry_operator_managed_objects{namespace,kind,phase}` counts every kind, and each Agent has
//! `agentry_operator_agent_phase{namespace,agent,phase}` (1 for its current phase) and
//! `agentry_operator_agent_ready_replicas{namespace,agent}`. Deleted objects drop out at the next
//! refresh: the gauges are rebuilt each time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Agent, Condition, ConditionStatus};
use kube::ResourceExt;

use crate::runtime::metrics::OperatorMetrics;
use crate::runtime::shared_caches::SharedCaches;

/// How often the gauges are recomputed.
const REFRESH: Duration = Duration::from_secs(10);

/// Objects counted by namespace, kind and phase.
type Counts = BTreeMap<(String, &'static str, String), i64>;

fn ready_label(conditions: Option<&[Condition]>) -> &'static str {
    match conditions.and_then(|c| c.iter().find(|c| c.type_ == "Ready")).map(|c| c.status) {
        Some(ConditionStatus::True) => "Ready",
        Some(ConditionStatus::False) => "NotReady",
        _ => "Unknown",
    }
}

fn agent_phase(agent: &Agent) -> String {
    agent.status.as_ref().and_then(|s| s.phase).map_or("Unknown".to_string(), |p| format!("{p:?}"))
}

/// Sets the per-Agent gauges and counts the Agents into `counts`.
fn agents(metrics: &OperatorMetrics, agents: &[Arc<Agent>], counts: &mut Counts) {
    metrics.agent_phase.reset();
    metrics.agent_ready_replicas.reset();
    for agent in agents {
        let (namespace, name, phase) =
            (agent.namespace().unwrap_or_default(), agent.name_any(), agent_phase(agent));
        metrics.agent_phase.with_label_values(&[&namespace, &name, &phase]).set(1);
        let ready = agent.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
        metrics.agent_ready_replicas.with_label_values(&[&namespace, &name]).set(i64::from(ready));
        *counts.entry((namespace, "Agent", phase)).or_default() += 1;
    }
}

/// Counts objects of a kind whose phase is their Ready condition.
fn by_ready<K: ResourceExt>(
    kind: &'static str,
    objects: &[Arc<K>],
    conditions: impl Fn(&K) -> Option<&[Condition]>,
    counts: &mut Counts,
) {
    for object in objects {
        let label = ready_label(conditions(object));
        *counts.entry((object.namespace().unwrap_or_default(), kind, label.to_string())).or_default() += 1;
    }
}

/// Recomputes every object gauge from the cached objects.
pub fn refresh(metrics: &OperatorMetrics, caches: &SharedCaches) {
    let mut counts = Counts::new();
    agents(metrics, &caches.agents.store.state(), &mut counts);
    let models = caches.models.store.state();
    by_ready("Model", &models, |m| m.status.as_ref().map(|s| s.conditions.as_slice()), &mut counts);
    let tools = caches.tools.store.state();
    by_ready("Tool", &tools, |t| t.status.as_ref().map(|s| s.conditions.as_slice()), &mut counts);
    let stores = caches.memory_stores.store.state();
    by_ready("MemoryStore", &stores, |m| m.status.as_ref().map(|s| s.conditions.as_slice()), &mut counts);
    set_counts(metrics, counts);
}

fn set_counts(metrics: &OperatorMetrics, counts: Counts) {
    metrics.objects.reset();
    for ((namespace, kind, phase), count) in counts {
        metrics.objects.with_label_values(&[&namespace, kind, &phase]).set(count);
    }
}

/// Refreshes the gauges every few seconds, forever.
pub async fn run(metrics: Arc<OperatorMetrics>, caches: Arc<SharedCaches>) {
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tick.tick().await;
        refresh(&metrics, &caches);
    }
}

#[cfg(test)]
mod tests {
    use agentry_crds::{AgentPhase, AgentStatus};
    use agentry_tests::metrics_text::metric_value;

    use super::*;

    fn agent(namespace: &str, name: &str, phase: AgentPhase, ready: i32) -> Arc<Agent> {
        let mut agent: Agent = serde_json::from_value(serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"role": "worker", "systemPrompt": "p", "modelRef": "m"}
        }))
        .expect("an agent");
        agent.status =
            Some(AgentStatus { phase: Some(phase), ready_replicas: Some(ready), ..Default::default() });
        Arc::new(agent)
    }

    #[test]
    fn agents_are_counted_per_namespace_and_each_has_its_phase_and_ready_replicas() {
        let metrics = OperatorMetrics::new().expect("metrics");
        let mut counts = Counts::new();
        let fleet = [
            agent("fleet", "planner", AgentPhase::Ready, 2),
            agent("fleet", "writer", AgentPhase::Ready, 1),
            agent("lab", "planner", AgentPhase::Failed, 0),
        ];
        agents(&metrics, &fleet, &mut counts);
        set_counts(&metrics, counts);
        let text = metrics.encode().expect("encodes");
        let objects = "agentry_operator_managed_objects";
        let ready = [("namespace", "fleet"), ("kind", "Agent"), ("phase", "Ready")];
        assert_eq!(metric_value(&text, objects, &ready), Some(2.0), "{text}");
        let failed = [("namespace", "lab"), ("kind", "Agent"), ("phase", "Failed")];
        assert_eq!(metric_value(&text, objects, &failed), Some(1.0), "{text}");
        let lab = [("namespace", "lab"), ("agent", "planner"), ("phase", "Failed")];
        assert_eq!(metric_value(&text, "agentry_operator_agent_phase", &lab), Some(1.0), "{text}");
        let planner = [("namespace", "fleet"), ("agent", "planner")];
        assert_eq!(
            metric_value(&text, "agentry_operator_agent_ready_replicas", &planner),
            Some(2.0),
            "{text}"
        );

        // The lab agent is deleted: its series go at the next refresh.
        let mut counts = Counts::new();
        agents(&metrics, &fleet[..2], &mut counts);
        set_counts(&metrics, counts);
        let text = metrics.encode().expect("encodes");
        assert!(!text.contains(r#"namespace="lab""#), "{text}");
    }
}
