//! The garbage collector and namespace lifecycle, run after every delete (the apiserver runs them
//! as controllers; here they run synchronously to a fixed point, so tests see their effect at once):
//! dependents whose owners are all gone are deleted (background propagation); owners deleted in the
//! foreground wait, with the `foregroundDeletion` finalizer, until their dependents are gone;
//! `orphan` deletion strips the owner reference from dependents. Terminating namespaces are the
//! namespace controller's (`namespace_controller`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::deletion::Propagation;
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::ClusterState;
use crate::storage::object_lifecycle::WriteOptions;
use crate::storage::write_rules::string_list;

impl ClusterState {
    /// Run the garbage collector until nothing more is collected.
    pub(crate) fn collect_garbage(&mut self) {
        if self.gc_running {
            return;
        }
        self.gc_running = true;
        for _ in 0..1000 {
            if !self.gc_pass() {
                break;
            }
        }
        self.gc_running = false;
    }

    fn all_objects(&self) -> Vec<(Arc<ResourceDesc>, Value)> {
        let mut all = Vec::new();
        for key in self.store.keys() {
            if let Some(desc) = self.registry.by_storage(&key) {
                all.extend(self.store.list(&key, None).map(|o| (desc.clone(), o.clone())));
            }
        }
        all
    }

    /// One pass over a snapshot of every object; whether it changed anything.
    fn gc_pass(&mut self) -> bool {
        let all = self.all_objects();
        let dependents_changed = self.collect_dependents(&all);
        let deletions_changed = self.finish_deletions(&all);
        dependents_changed || deletions_changed
    }

    /// Delete dependents whose owners are all gone (or are deleted in the foreground), and strip
    /// the references to owners deleted with the `orphan` policy.
    fn collect_dependents(&mut self, all: &[(Arc<ResourceDesc>, Value)]) -> bool {
        let by_uid: HashMap<&str, &Value> =
            all.iter().filter_map(|(_, o)| Some((o["metadata"]["uid"].as_str()?, o))).collect();
        let mut changed = false;
        for (desc, object) in all {
            // `ownerReferences: []` names no owner: the object is nobody's dependent.
            let Some(refs) = object["metadata"]["ownerReferences"].as_array().filter(|r| !r.is_empty())
            else {
                continue;
            };
            let (ns, name) = crate::storage::store::object_key(object);
            let ns = (!ns.is_empty()).then_some(ns.as_str());
            let owners: Vec<Option<&&Value>> =
                refs.iter().map(|r| by_uid.get(r["uid"].as_str().unwrap_or_default())).collect();
            let alive = owners.iter().flatten().count();
            let foreground_owner =
                owners.iter().flatten().any(|o| deleting(o) && has_finalizer(o, "foregroundDeletion"));
            if (alive == 0 || foreground_owner) && !deleting(object) {
                let policy = if foreground_owner { Propagation::Foreground } else { Propagation::Background };
                tracing::debug!(kind = %desc.kind, %name, "garbage-collecting a dependent");
                changed |= self.delete_one(desc, ns, &name, policy, &Value::Null).is_ok();
                continue;
            }
            let kept: Vec<Value> = refs
                .iter()
                .zip(&owners)
                .filter(|(_, owner)| !owner.is_some_and(|o| deleting(o) && has_finalizer(o, "orphan")))
                .map(|(r, _)| r.clone())
                .collect();
            if kept.len() != refs.len() {
                let mut orphaned = object.clone();
                orphaned["metadata"]["ownerReferences"] = json!(kept);
                if kept.is_empty() {
                    orphaned["metadata"].as_object_mut().map(|m| m.remove("ownerReferences"));
                }
                changed |= self.update(desc, ns, &name, orphaned, &gc_writer()).is_ok();
            }
        }
        changed
    }

    /// Remove the `foregroundDeletion` and `orphan` finalizers of owners no object depends on any
    /// more.
    fn finish_deletions(&mut self, all: &[(Arc<ResourceDesc>, Value)]) -> bool {
        let owned: HashSet<&str> = all
            .iter()
            .flat_map(|(_, o)| o["metadata"]["ownerReferences"].as_array().into_iter().flatten())
            .filter_map(|r| r["uid"].as_str())
            .collect();
        let mut changed = false;
        for (desc, object) in all.iter().filter(|(_, o)| deleting(o)) {
            let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
            let (ns, name) = crate::storage::store::object_key(object);
            let ns = (!ns.is_empty()).then_some(ns.as_str());
            let finalizers = string_list(&object["metadata"]["finalizers"]);
            let done: Vec<&str> = ["foregroundDeletion", "orphan"]
                .into_iter()
                .filter(|f| finalizers.iter().any(|x| x == f) && !owned.contains(uid))
                .collect();
            if !done.is_empty() {
                let mut finished = object.clone();
                let rest: Vec<&String> = finalizers.iter().filter(|f| !done.contains(&f.as_str())).collect();
                finished["metadata"]["finalizers"] = json!(rest);
                changed |= self.update(desc, ns, &name, finished, &gc_writer()).is_ok();
            }
        }
        changed
    }
}

fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    string_list(&object["metadata"]["finalizers"]).iter().any(|x| x == finalizer)
}

fn deleting(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
}

fn gc_writer() -> WriteOptions {
    WriteOptions { manager: "generic-garbage-collector".into(), ..WriteOptions::system() }
}
