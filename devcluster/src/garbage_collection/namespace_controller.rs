//! The namespace controller, as kube-controller-manager runs it, in the background: a namespace
//! being deleted stays `Terminating` while it deletes the namespace's contents and reports them in
//! its status conditions; once none remain it takes the `kubernetes` finalizer out of
//! `spec.finalizers` (as `PUT …/finalize` does), and once no finalizer of either kind remains the
//! namespace goes. One step per namespace per tick, so each state can be observed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use super::deletion::Propagation;
use crate::api_server::ApiServer;
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::ClusterState;
use crate::storage::store::Change;
use crate::storage::write_rules::string_list;

/// The finalizer the namespace controller owns, in `spec.finalizers`.
pub(crate) const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Run the controller every `interval` until the server is gone.
pub(crate) fn spawn(server: Weak<ApiServer>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(server) = server.upgrade() else { break };
            server.lock().finalize_namespaces();
        }
    });
}

impl ClusterState {
    /// One step for every terminating namespace.
    pub(crate) fn finalize_namespaces(&mut self) {
        let Some(ns_desc) = self.registry.get("", "v1", "namespaces") else { return };
        let terminating: Vec<Value> = self
            .list(&ns_desc, None)
            .into_iter()
            .filter(|ns| !ns["metadata"]["deletionTimestamp"].is_null())
            .collect();
        for ns in terminating {
            self.finalize_namespace(&ns_desc, ns);
        }
    }

    fn finalize_namespace(&mut self, ns_desc: &Arc<ResourceDesc>, ns: Value) {
        let name = ns["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let contents = self.namespace_contents(&name);
        let spec_finalizers = string_list(&ns["spec"]["finalizers"]);
        let mut next = ns.clone();
        if !contents.is_empty() {
            for (desc, object) in
                contents.iter().filter(|(_, o)| o["metadata"]["deletionTimestamp"].is_null())
            {
                let object_name = object["metadata"]["name"].as_str().unwrap_or_default();
                if let Err(err) =
                    self.delete_one(desc, Some(&name), object_name, Propagation::Background, &Value::Null)
                {
                    tracing::debug!(%err, "namespace content already gone");
                }
            }
            self.collect_garbage();
            next["status"]["conditions"] = json!(conditions(&self.namespace_contents(&name)));
        } else if spec_finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
            next["status"]["conditions"] = json!(conditions(&contents));
            let rest: Vec<&String> = spec_finalizers.iter().filter(|f| *f != KUBERNETES_FINALIZER).collect();
            next["spec"]["finalizers"] = json!(rest);
        } else if spec_finalizers.is_empty() && string_list(&ns["metadata"]["finalizers"]).is_empty() {
            self.remove_now(ns_desc, "", &name);
            return;
        }
        if next != ns {
            self.store.put(&ns_desc.storage_key(), next, Change::Modified);
        }
    }

    /// Every namespaced object in namespace `ns`.
    fn namespace_contents(&self, ns: &str) -> Vec<(Arc<ResourceDesc>, Value)> {
        let mut contents = Vec::new();
        for key in self.store.keys() {
            let Some(desc) = self.registry.by_storage(&key).filter(|d| d.namespaced) else { continue };
            contents.extend(self.store.list(&key, Some(ns)).map(|o| (desc.clone(), o.clone())));
        }
        contents
    }
}

/// The conditions the namespace controller reports while deleting contents.
fn conditions(remaining: &[(Arc<ResourceDesc>, Value)]) -> Vec<Value> {
    let now = crate::time::now();
    let condition = |type_: &str, status: bool, reason: &str, message: String| {
        json!({"type": type_, "status": if status { "True" } else { "False" }, "lastTransitionTime": now,
               "reason": reason, "message": message})
    };
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut finalizers = std::collections::BTreeMap::<String, usize>::new();
    for (desc, object) in remaining {
        *counts.entry(desc.group_resource()).or_default() += 1;
        for finalizer in string_list(&object["metadata"]["finalizers"]) {
            *finalizers.entry(finalizer).or_default() += 1;
        }
    }
    let listed = |map: &std::collections::BTreeMap<String, usize>, what: &str| {
        map.iter().map(|(k, n)| format!("{k} {what} {n} resource instances")).collect::<Vec<_>>().join(", ")
    };
    vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        ),
        if counts.is_empty() {
            condition(
                "NamespaceContentRemaining",
                false,
                "ContentRemoved",
                "All content successfully removed".into(),
            )
        } else {
            condition(
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", listed(&counts, "has")),
            )
        },
        if finalizers.is_empty() {
            condition(
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".into(),
            )
        } else {
            condition(
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    listed(&finalizers, "in")
                ),
            )
        },
    ]
}
