//! CustomResourceDefinitions: a written CRD serves its resources at once (its schema compiled for
//! admission), with status `NamesAccepted` and `Established` True as the apiextensions controllers
//! set them; a deleted CRD stops serving and its objects are removed.

use serde_json::{Value, json};

use super::cluster_state::ClusterState;
use super::store::Change;
use crate::resources::{ResourceDesc, StorageKey};

/// Serve the CRD's resources and set its conditions.
pub(crate) fn register(state: &mut ClusterState, crd: &Value) {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let descs: Vec<ResourceDesc> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() != Some(false))
        .filter_map(|v| crate::resources::crd_resources::describe(crd, v))
        .collect();
    state.registry.set_crd(&name, descs);

    let mut updated = crd.clone();
    let now = crate::time::now();
    let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let stored_versions: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    let mut names = crd["spec"]["names"].clone();
    if names["singular"].is_null() {
        names["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if names["listKind"].is_null() {
        names["listKind"] = json!(format!("{}List", names["kind"].as_str().unwrap_or_default()));
    }
    let previous = &crd["status"];
    let keep_time = |type_: &str, fresh: Value| {
        let old =
            previous["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == type_)).cloned();
        match old {
            Some(old) if old["status"] == "True" => old,
            _ => fresh,
        }
    };
    updated["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            keep_time("NamesAccepted", condition("NamesAccepted", "NoConflicts", "no conflicts found")),
            keep_time("Established", condition("Established", "InitialNamesAccepted", "the initial names have been accepted")),
        ],
        "storedVersions": stored_versions,
    });
    if updated["status"] != crd["status"] {
        let key =
            StorageKey { group: "apiextensions.k8s.io".into(), plural: "customresourcedefinitions".into() };
        state.store.put(&key, updated, Change::Modified);
    }
}

/// Stop serving the CRD's resources and remove their objects.
pub(crate) fn unregister(state: &mut ClusterState, crd: &Value) {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    state.registry.remove_crd(name);
    let key = StorageKey {
        group: crd["spec"]["group"].as_str().unwrap_or_default().to_owned(),
        plural: crd["spec"]["names"]["plural"].as_str().unwrap_or_default().to_owned(),
    };
    let objects: Vec<(String, String)> = state.store.list(&key, None).map(super::store::object_key).collect();
    for (ns, name) in objects {
        state.store.remove(&key, &ns, &name);
    }
}
