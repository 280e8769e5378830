//! Events a person sees in `kubectl describe`: one when an object's `Ready` changes, and any
//! other the controllers raise. Failing to publish is logged, never fatal: the status says it too.

use agentry_crds::{Condition, ConditionStatus, condition_types};
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

/// Publishes an Event about `object`; a failure is logged.
pub async fn publish<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    object: &K,
    type_: EventType,
    reason: &str,
    note: String,
    action: &str,
) {
    let event =
        Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
    if let Err(err) = recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(error = %err, reason, "event not published");
    }
}

/// Publishes an Event when the `Ready` condition's status or reason differs from `before`:
/// Normal when it holds, Warning when it does not.
pub async fn announce_ready_change<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    object: &K,
    before: &[Condition],
    after: (ConditionStatus, &str, &str),
    action: &str,
) {
    let (status, reason, message) = after;
    let was =
        before.iter().find(|c| c.type_ == condition_types::READY).map(|c| (c.status, c.reason.as_str()));
    if was == Some((status, reason)) {
        return;
    }
    let type_ = if status == ConditionStatus::True { EventType::Normal } else { EventType::Warning };
    publish(recorder, object, type_, reason, message.into(), action).await;
}
