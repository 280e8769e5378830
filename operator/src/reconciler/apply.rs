//! Writing an object's status through the status subresource with server-side apply.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::reconciler::error::ReconcileError;
use crate::runtime::settings::FIELD_MANAGER;

/// Applies `status` to the object's `/status` as field manager `agentry-operator`.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let status = serde_json::to_value(status)
        .map_err(|source| ReconcileError::Serialize { what: "status", source })?;
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// Applies a child object with server-side apply as field manager `agentry-operator`.
pub async fn apply_object<K>(api: &Api<K>, name: &str, object: &K) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object)).await?;
    Ok(())
}

/// Whether two condition lists say the same, ignoring transition times.
pub fn same_conditions(a: &[agentry_crds::Condition], b: &[agentry_crds::Condition]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.type_ == y.type_
                && x.status == y.status
                && x.reason == y.reason
                && x.message == y.message
                && x.observed_generation == y.observed_generation
        })
}
