//! The state behind the API: the store, the registry of served resources, the tokens and the
//! review policy, guarded by one lock. Writes go through `object_lifecycle` (deletes through
//! `garbage_collection`); this module holds the state and its reads.

use std::sync::Arc;

use serde_json::{Value, json};

use super::store::Store;
use crate::api_error::{ApiError, ApiResult};
use crate::auth_reviews::ReviewPolicy;
use crate::authentication::Tokens;
use crate::resources::{Registry, ResourceDesc};

/// Everything the API serves.
pub(crate) struct ClusterState {
    /// The objects.
    pub(crate) store: Store,
    /// The served resources.
    pub(crate) registry: Registry,
    /// A test's tokens and permissions, for TokenReview and SubjectAccessReview.
    pub(crate) reviews: ReviewPolicy,
    /// The admin token and the ServiceAccount tokens issued.
    pub(crate) tokens: Tokens,
    /// Set while the garbage collector runs, so the writes it makes do not start it again.
    pub(crate) gc_running: bool,
}

impl ClusterState {
    /// A cluster serving the built-in kinds, with no objects yet (see `with_builtin_namespaces`).
    pub(crate) fn empty(history_limit: usize) -> Self {
        Self {
            store: Store::new(history_limit),
            registry: Registry::with_builtins(),
            reviews: ReviewPolicy::default(),
            tokens: Tokens::default(),
            gc_running: false,
        }
    }

    /// The served resource at `group/version/plural`.
    pub(crate) fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDesc>> {
        self.registry.get(group, version, plural)
    }

    /// One object, as `desc`'s version presents it.
    pub(crate) fn get(&self, desc: &ResourceDesc, namespace: Option<&str>, name: &str) -> ApiResult<Value> {
        let ns = if desc.namespaced { namespace.unwrap_or_default() } else { "" };
        self.store
            .get(&desc.storage_key(), ns, name)
            .map(|o| present(desc, o.clone()))
            .ok_or_else(|| ApiError::not_found(desc, name))
    }

    /// The objects of `desc` (in `namespace`, or all), as `desc`'s version presents them.
    pub(crate) fn list(&self, desc: &ResourceDesc, namespace: Option<&str>) -> Vec<Value> {
        let ns = namespace.filter(|_| desc.namespaced);
        self.store.list(&desc.storage_key(), ns).map(|o| present(desc, o.clone())).collect()
    }

    /// Whether every owner `object` names is gone (none exists with the referenced uid), so the
    /// garbage collector deletes it, as kube-controller-manager's does with dependents of
    /// absent owners: an object written with owner references that are all dangling (e.g. by a
    /// controller reconciling from a stale cache just after the owner went) does not stay.
    /// Owners of kinds not served are taken as present.
    pub(crate) fn owners_all_gone(&self, object: &Value) -> bool {
        let Some(refs) = object["metadata"]["ownerReferences"].as_array().filter(|r| !r.is_empty()) else {
            return false;
        };
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        refs.iter().all(|r| {
            let (api_version, kind) =
                (r["apiVersion"].as_str().unwrap_or_default(), r["kind"].as_str().unwrap_or_default());
            let Some(desc) = self.registry.by_kind(api_version, kind) else { return false };
            let ns = if desc.namespaced { namespace } else { "" };
            let owner = self.store.get(&desc.storage_key(), ns, r["name"].as_str().unwrap_or_default());
            owner.is_none_or(|o| o["metadata"]["uid"] != r["uid"])
        })
    }

    /// Whether namespace `name` exists, and whether it is being deleted.
    pub(crate) fn namespace_status(&self, name: &str) -> Option<bool> {
        let key = crate::resources::StorageKey { group: String::new(), plural: "namespaces".into() };
        self.store.get(&key, "", name).map(|ns| !ns["metadata"]["deletionTimestamp"].is_null())
    }
}

/// An object as version `desc.version` of its resource shows it: CRDs with several versions
/// keep one stored form (conversion strategy `None` changes only `apiVersion`).
pub(crate) fn present(desc: &ResourceDesc, mut object: Value) -> Value {
    if desc.is_events_view() {
        object = crate::resources::event_conversion::from_core(object);
    }
    object["apiVersion"] = json!(desc.api_version());
    object["kind"] = json!(desc.kind);
    object
}
