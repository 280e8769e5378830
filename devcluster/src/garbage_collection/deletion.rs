//! Deletes as the apiserver's generic registry performs them: preconditions, finalizers and
//! `deletionTimestamp`, propagation policies (the garbage collector does the rest), namespaces
//! marked `Terminating` (the namespace controller does the rest).

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::{ClusterState, present};
use crate::storage::store::Change;
use crate::storage::write_rules::string_list;

/// `DeleteOptions.propagationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// Delete now; the garbage collector deletes dependents afterwards.
    Background,
    /// Delete dependents first (owner kept with the `foregroundDeletion` finalizer).
    Foreground,
    /// Keep dependents, removing their owner references (the `orphan` finalizer).
    Orphan,
}

/// The outcome of a delete.
pub(crate) enum Deleted {
    /// Gone from the store.
    Now(Value),
    /// Kept until its finalizers are removed; has `deletionTimestamp`.
    Pending(Value),
}

impl ClusterState {
    /// Delete an object: at once if it has no finalizers, else mark it with `deletionTimestamp`.
    pub(crate) fn delete(
        &mut self,
        desc: &ResourceDesc,
        namespace: Option<&str>,
        name: &str,
        propagation: Propagation,
        preconditions: &Value,
    ) -> ApiResult<Deleted> {
        let result = self.delete_one(desc, namespace, name, propagation, preconditions);
        self.collect_garbage();
        result
    }

    /// Delete one object without running the garbage collector (which calls this itself).
    pub(crate) fn delete_one(
        &mut self,
        desc: &ResourceDesc,
        namespace: Option<&str>,
        name: &str,
        propagation: Propagation,
        preconditions: &Value,
    ) -> ApiResult<Deleted> {
        let object = self.get(desc, namespace, name)?;
        check_preconditions(desc, name, &object, preconditions)?;
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        let mut finalizers = string_list(&object["metadata"]["finalizers"]);
        let extra = match propagation {
            Propagation::Foreground => Some("foregroundDeletion"),
            Propagation::Orphan => Some("orphan"),
            Propagation::Background => None,
        };
        if let Some(f) = extra
            && object["metadata"]["deletionTimestamp"].is_null()
            && !finalizers.iter().any(|x| x == f)
        {
            finalizers.push(f.to_owned());
        }
        let is_namespace = desc.group.is_empty() && desc.kind == "Namespace";
        if finalizers.is_empty() && !is_namespace {
            let removed = self.remove_now(desc, &ns, name).unwrap_or(object);
            return Ok(Deleted::Now(present(desc, removed)));
        }
        if !object["metadata"]["deletionTimestamp"].is_null() {
            return Ok(Deleted::Pending(object));
        }
        let marked = marked_for_deletion(&object, &finalizers, is_namespace);
        // A namespace's contents are deleted by the namespace controller, in the background.
        let stored = self.store.put(&desc.storage_key(), marked, Change::Modified);
        Ok(Deleted::Pending(present(desc, stored)))
    }
}

/// `DeleteOptions.preconditions`: the uid and resourceVersion, when given, must be the object's.
fn check_preconditions(
    desc: &ResourceDesc,
    name: &str,
    object: &Value,
    preconditions: &Value,
) -> ApiResult<()> {
    for (field, what) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(expected) = preconditions[field].as_str()
            && Some(expected) != object["metadata"][field].as_str()
        {
            let actual = object["metadata"][field].as_str().unwrap_or_default();
            return Err(ApiError::conflict(
                desc,
                name,
                &format!(
                    "Precondition failed: {what} in precondition: {expected}, {what} in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

/// The object kept until its finalizers are removed: `deletionTimestamp` set, the finalizers
/// (with the propagation policy's), a new generation, a namespace `Terminating`.
fn marked_for_deletion(object: &Value, finalizers: &[String], is_namespace: bool) -> Value {
    let mut marked = object.clone();
    marked["metadata"]["deletionTimestamp"] = json!(crate::time::now());
    marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    marked["metadata"]["finalizers"] = json!(finalizers);
    if finalizers.is_empty() {
        marked["metadata"].as_object_mut().map(|m| m.remove("finalizers"));
    }
    if let Some(generation) = object["metadata"]["generation"].as_i64() {
        marked["metadata"]["generation"] = json!(generation + 1);
    }
    if is_namespace {
        marked["status"]["phase"] = json!("Terminating");
    }
    marked
}
