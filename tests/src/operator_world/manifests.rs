//! Applying manifests as `kubectl apply --server-side` does, whatever their kind.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client};

/// The field manager of everything a test applies.
const FIELD_MANAGER: &str = "e2e-test";

/// Applies one manifest with server-side apply (forcing conflicts, as a person re-applying a
/// file would).
///
/// # Panics
/// When the manifest lacks `apiVersion`, `kind` or `metadata.name`, or the server refuses it: a
/// test cannot go on without the objects it set up.
pub async fn apply(client: &Client, doc: &serde_json::Value) {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let kind = doc["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let name = doc["metadata"]["name"].as_str().expect("name");
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(doc))
        .await
        .unwrap_or_else(|err| panic!("applying {kind} {name}: {err}"));
}
