//! Finalizers and garbage collection, checked against kube-apiserver and the garbage collector
//! (https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/,
//! https://kubernetes.io/docs/concepts/architecture/garbage-collection/).

mod common;

use std::time::Duration;

use agentry_devcluster::DevCluster;
use common::eventually;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::response::Status;
use serde_json::{Value, json};

fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn create(api: &Api<ConfigMap>, name: &str, metadata: Value) -> ConfigMap {
    let mut meta = metadata;
    meta["name"] = json!(name);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": meta})).expect("cm");
    api.create(&PostParams::default(), &cm).await.expect("created")
}

fn owner(parent: &ConfigMap) -> Value {
    json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": parent.metadata.name, "uid": parent.metadata.uid, "blockOwnerDeletion": true}])
}

async fn gone(api: &Api<ConfigMap>, name: &str) {
    eventually(&format!("{name} to be deleted"), Duration::from_secs(10), || async {
        matches!(api.get(name).await, Err(kube::Error::Api(s)) if s.code == 404).then_some(())
    })
    .await;
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    create(&api, "held", json!({"finalizers": ["example.dev/cleanup"]})).await;

    // Deleting an object with finalizers only sets deletionTimestamp; it stays readable.
    api.delete("held", &DeleteParams::default()).await.expect("delete accepted");
    let held = api.get("held").await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());

    // No finalizer may be added once deletion started.
    let add = json!({"metadata": {"finalizers": ["example.dev/cleanup", "example.dev/other"]}});
    let status = refused(api.patch("held", &PatchParams::default(), &Patch::Merge(add)).await);
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        status.message
    );

    // Removing the last finalizer deletes it.
    let clear: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "example.dev/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]))
    .expect("patch");
    api.patch("held", &PatchParams::default(), &Patch::<()>::Json(clear)).await.expect("finalizer removed");
    gone(&api, "held").await;
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let parent = create(&api, "parent", json!({})).await;
    create(&api, "child", json!({"ownerReferences": owner(&parent)})).await;
    let child = api.get("child").await.expect("child");
    create(&api, "grandchild", json!({"ownerReferences": owner(&child)})).await;

    // Background (the default): the owner goes at once, the collector then deletes dependents
    // whose owners are all gone, transitively.
    api.delete("parent", &DeleteParams::background()).await.expect("deleted");
    gone(&api, "parent").await;
    gone(&api, "child").await;
    gone(&api, "grandchild").await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let parent = create(&api, "parent", json!({})).await;
    create(&api, "child", json!({"ownerReferences": owner(&parent), "finalizers": ["example.dev/hold"]}))
        .await;

    // Foreground: the owner gets deletionTimestamp and the foregroundDeletion finalizer and stays
    // until its blocking dependents are gone; the dependents are being deleted meanwhile.
    api.delete("parent", &DeleteParams::foreground()).await.expect("deleting");
    let waiting = api.get("parent").await.expect("owner kept");
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(waiting.metadata.finalizers.unwrap_or_default().contains(&"foregroundDeletion".to_owned()));
    let child = api.get("child").await.expect("child held by its finalizer");
    assert!(child.metadata.deletion_timestamp.is_some());

    api.patch("child", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("child finalizer removed");
    gone(&api, "child").await;
    gone(&api, "parent").await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let parent = create(&api, "parent", json!({})).await;
    create(&api, "child", json!({"ownerReferences": owner(&parent)})).await;

    // Orphan: dependents lose their owner reference and stay.
    api.delete("parent", &DeleteParams::orphan()).await.expect("deleting");
    gone(&api, "parent").await;
    let child = api.get("child").await.expect("child kept");
    assert!(child.metadata.owner_references.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn dependents_written_after_their_owner_went_are_collected() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let parent = create(&api, "parent", json!({})).await;
    api.delete("parent", &DeleteParams::default()).await.expect("parent deleted");

    // A controller reconciling from a stale cache writes a child owned by the deleted parent:
    // the garbage collector deletes it, as it deletes dependents whose owners are all absent.
    create(&api, "late-child", json!({"ownerReferences": owner(&parent)})).await;
    gone(&api, "late-child").await;

    // An owner of the same name but another uid (the parent re-created) is not the owner named.
    let again = create(&api, "parent", json!({})).await;
    assert_ne!(again.metadata.uid, parent.metadata.uid);
    create(&api, "stale-child", json!({"ownerReferences": owner(&parent)})).await;
    gone(&api, "stale-child").await;

    // Control: a child of the live owner stays.
    create(&api, "child", json!({"ownerReferences": owner(&again)})).await;
    let child = api.get("child").await.expect("a child of a live owner stays");
    assert_eq!(
        child.metadata.owner_references.unwrap_or_default()[0].uid,
        again.metadata.uid.unwrap_or_default()
    );
}
