//! What every controller does around its reconcile: a tracing span naming the object, metrics
//! for each run, and an Event when an object's `Ready` condition changes.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use agentry_crds::{Condition, ConditionStatus};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use crate::reconciler::error::ReconcileError;
use crate::runtime::metrics::OperatorMetrics;

/// Longest one reconcile may take.
pub const RECONCILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `reconcile` for `object` inside a span with the controller, namespace and name, and
/// counts it (duration, errors) in the operator metrics.
pub fn instrumented<K: Resource, F>(
    controller: &'static str,
    object: &K,
    metrics: Arc<OperatorMetrics>,
    reconcile: F,
) -> impl Future<Output = Result<Action, ReconcileError>> + use<K, F>
where
    F: Future<Output = Result<Action, ReconcileError>>,
{
    let span = tracing::info_span!(
        "reconcile",
        controller,
        namespace = object.namespace().unwrap_or_default(),
        name = %object.name_any()
    );
    async move {
        let started = Instant::now();
        // A request the API server never answers must not hold the object forever: the error
        // policy requeues it.
        let result = tokio::time::timeout(RECONCILE_TIMEOUT, reconcile)
            .await
            .unwrap_or(Err(ReconcileError::Timeout(RECONCILE_TIMEOUT)));
        metrics.observe(
            controller,
            started.elapsed(),
            result.as_ref().err().map(ReconcileError::metric_label),
        );
        result
    }
    .instrument(span)
}

/// Publishes an Event when the `Ready` condition's status or reason differs from `before`:
/// Normal when it holds, Warning when it does not. Failing to publish is logged, not fatal.
pub async fn announce_ready_change<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    object: &K,
    before: &[Condition],
    after: (ConditionStatus, &str, &str),
    action: &str,
) {
    let (status, reason, message) = after;
    let was = before.iter().find(|c| c.type_ == "Ready").map(|c| (c.status, c.reason.as_str()));
    if was == Some((status, reason)) {
        return;
    }
    let type_ = if status == ConditionStatus::True { EventType::Normal } else { EventType::Warning };
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(message.into()),
        action: action.into(),
        secondary: None,
    };
    if let Err(err) = recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(error = %err, "event not published");
    }
}
