//! A dependent created after its owner is gone (a controller acting on a stale cache does this)
//! is garbage-collected, as kube-apiserver's garbage collector does; one whose owner lives, or
//! whose owner's kind the server does not serve, stays.

use std::time::{Duration, Instant};

use agentry_devcluster::DevCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

async fn create(api: &Api<ConfigMap>, name: &str, owners: Value) -> ConfigMap {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": owners}})).expect("cm");
    api.create(&PostParams::default(), &cm).await.expect("created")
}

fn reference(kind: &str, api_version: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}])
}

#[tokio::test]
async fn a_dependent_of_a_deleted_owner_is_collected_at_creation() {
    let cluster = DevCluster::start().await.expect("devcluster");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let owner = create(&api, "owner", json!([])).await;
    let uid = owner.metadata.uid.clone().expect("uid");
    api.delete("owner", &DeleteParams::default()).await.expect("owner deleted");

    let late = create(&api, "late", reference("ConfigMap", "v1", "owner", &uid)).await;
    assert!(late.metadata.uid.is_some(), "the create itself succeeds");
    // A recreated owner under the same name is another object: its dependents' uid does not match.
    create(&api, "owner", json!([])).await;
    let stale = create(&api, "stale", reference("ConfigMap", "v1", "owner", &uid)).await;
    assert!(stale.metadata.uid.is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.get_opt("late").await.expect("get").is_some()
        || api.get_opt("stale").await.expect("get").is_some()
    {
        assert!(Instant::now() < deadline, "dependents of a gone owner were never collected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let live_uid = api.get("owner").await.expect("owner").metadata.uid.expect("uid");
    create(&api, "kept", reference("ConfigMap", "v1", "owner", &live_uid)).await;
    create(&api, "unknown-kind", reference("Widget", "example.com/v1", "w", "0000")).await;
    assert!(api.get_opt("kept").await.expect("get").is_some(), "a live owner keeps its dependent");
    assert!(api.get_opt("unknown-kind").await.expect("get").is_some(), "an unresolvable owner is left alone");
}
