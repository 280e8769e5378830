//! The `agentry_operator_managed_objects{kind,phase}` gauge, refreshed from the shared caches.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Condition, ConditionStatus};

use crate::runtime::metrics::OperatorMetrics;
use crate::runtime::shared_caches::SharedCaches;

/// How often the gauge is recomputed.
const REFRESH: Duration = Duration::from_secs(10);

fn ready_label(conditions: Option<&[Condition]>) -> &'static str {
    match conditions.and_then(|c| c.iter().find(|c| c.type_ == "Ready")).map(|c| c.status) {
        Some(ConditionStatus::True) => "Ready",
        Some(ConditionStatus::False) => "NotReady",
        _ => "Unknown",
    }
}

/// Counts the cached objects by kind and phase into the gauge.
pub fn refresh(metrics: &OperatorMetrics, caches: &SharedCaches) {
    let mut counts: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for agent in caches.agents.store.state() {
        let phase =
            agent.status.as_ref().and_then(|s| s.phase).map_or("Unknown".to_string(), |p| format!("{p:?}"));
        *counts.entry(("Agent", phase)).or_default() += 1;
    }
    for model in caches.models.store.state() {
        let label = ready_label(model.status.as_ref().map(|s| s.conditions.as_slice()));
        *counts.entry(("Model", label.to_string())).or_default() += 1;
    }
    for tool in caches.tools.store.state() {
        let label = ready_label(tool.status.as_ref().map(|s| s.conditions.as_slice()));
        *counts.entry(("Tool", label.to_string())).or_default() += 1;
    }
    for store in caches.memory_stores.store.state() {
        let label = ready_label(store.status.as_ref().map(|s| s.conditions.as_slice()));
        *counts.entry(("MemoryStore", label.to_string())).or_default() += 1;
    }
    metrics.objects.reset();
    for ((kind, phase), count) in counts {
        metrics.objects.with_label_values(&[kind, &phase]).set(count);
    }
}

/// Refreshes the gauge every few seconds, forever.
pub async fn run(metrics: Arc<OperatorMetrics>, caches: Arc<SharedCaches>) {
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tick.tick().await;
        refresh(&metrics, &caches);
    }
}
