//! Writing children and status with server-side apply as field manager `agentry-operator`; a
//! status is written only when it says something new.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::reconciler::error::ReconcileError;
use crate::runtime::settings::FIELD_MANAGER;

/// Applies a child object.
pub async fn apply_object<K>(api: &Api<K>, name: &str, object: &K) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object)).await?;
    Ok(())
}

/// Applies `new` to the object's `/status` unless it says the same as `old`; returns whether it
/// wrote. Writing an unchanged status would only wake every watcher of the kind.
pub async fn apply_status_if_changed<K, S>(
    api: &Api<K>,
    name: &str,
    old: Option<&S>,
    new: &S,
) -> Result<bool, ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let new =
        serde_json::to_value(new).map_err(|source| ReconcileError::Serialize { what: "status", source })?;
    let old = old.map(serde_json::to_value).transpose().ok().flatten();
    if old.is_some_and(|old| same_status(&old, &new)) {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(true)
}

/// Whether two statuses say the same: equal once each condition's `lastTransitionTime` is set
/// aside (it records when a status flipped, not what the object is).
pub fn same_status(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    without_transition_times(a) == without_transition_times(b)
}

fn without_transition_times(status: &serde_json::Value) -> serde_json::Value {
    let mut status = status.clone();
    if let Some(conditions) = status.get_mut("conditions").and_then(|c| c.as_array_mut()) {
        for condition in conditions.iter_mut().filter_map(|c| c.as_object_mut()) {
            condition.remove("lastTransitionTime");
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transition_times_alone_are_no_change() {
        let a = json!({"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let b = json!({"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-02-01T00:00:00Z"}]});
        assert!(same_status(&a, &b));
    }

    #[test]
    fn any_other_field_is_a_change() {
        let a =
            json!({"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "message": "a"}]});
        let message =
            json!({"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "message": "b"}]});
        let phase =
            json!({"phase": "Degraded", "conditions": [{"type": "Ready", "status": "True", "message": "a"}]});
        let absent = json!({"phase": "Ready"});
        assert!(!same_status(&a, &message));
        assert!(!same_status(&a, &phase));
        assert!(!same_status(&a, &absent));
    }
}
