//! A kube-rs `Controller` against devcluster: it owns a child ConfigMap written with server-side
//! apply and an owner reference, and writes status; deleting the parent garbage-collects the
//! child; the controller keeps working across a forced `410 Gone`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentry_devcluster::DevCluster;
use common::eventually;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A greeting, rendered into a ConfigMap.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(group = "test.agentry.dev", version = "v1", kind = "Greeting", namespaced, status = "GreetingStatus")]
pub struct GreetingSpec {
    /// What to say.
    pub message: String,
}

/// What the controller did.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct GreetingStatus {
    /// The ConfigMap written.
    pub config_map: String,
    /// The generation reconciled.
    pub observed_generation: i64,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(greeting: Arc<Greeting>, client: Arc<kube::Client>) -> Result<Action, ReconcileError> {
    let ns = greeting.namespace().unwrap_or_default();
    let name = format!("{}-greeting", greeting.name_any());
    let owner = greeting.controller_owner_ref(&()).into_iter().collect::<Vec<_>>();
    let child = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": owner},
        "data": {"message": greeting.spec.message},
    });
    let params = PatchParams::apply("greeting-controller").force();
    Api::<ConfigMap>::namespaced((*client).clone(), &ns).patch(&name, &params, &Patch::Apply(child)).await?;
    let status = json!({
        "apiVersion": "test.agentry.dev/v1", "kind": "Greeting",
        "status": {"config_map": name, "observed_generation": greeting.meta().generation.unwrap_or(0)},
    });
    Api::<Greeting>::namespaced((*client).clone(), &ns)
        .patch_status(&greeting.name_any(), &params, &Patch::Apply(status))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Greeting>, _: &ReconcileError, _: Arc<kube::Client>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_owns_children_and_survives_gone() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let client = cluster.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Greeting::crd()).await.expect("crd created");
    eventually("the CRD to be established", Duration::from_secs(10), || async {
        let conditions = crds.get("greetings.test.agentry.dev").await.ok()?.status?.conditions?;
        conditions.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
    })
    .await;

    let greetings: Api<Greeting> = Api::namespaced(client.clone(), "default");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let controller = Controller::new(greetings.clone(), watcher::Config::default())
        .owns(config_maps.clone(), watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(client.clone()))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(%err, "reconcile failed");
            }
        });
    let controller = tokio::spawn(controller);

    let hello = Greeting::new("hello", GreetingSpec { message: "hi".into() });
    greetings.create(&PostParams::default(), &hello).await.expect("greeting created");
    let message = |cm: &ConfigMap| cm.data.clone().unwrap_or_default().get("message").cloned();
    eventually("the child ConfigMap", Duration::from_secs(20), || async {
        let cm = config_maps.get("hello-greeting").await.ok()?;
        let owner = cm.metadata.owner_references.clone().unwrap_or_default();
        (message(&cm).as_deref() == Some("hi")
            && owner.iter().any(|o| o.kind == "Greeting" && o.controller == Some(true)))
        .then_some(())
    })
    .await;
    eventually("the status", Duration::from_secs(20), || async {
        let status = greetings.get("hello").await.ok()?.status?;
        (status.config_map == "hello-greeting" && status.observed_generation == 1).then_some(())
    })
    .await;

    // A spec change reaches the child.
    greetings
        .patch("hello", &PatchParams::default(), &Patch::Merge(json!({"spec": {"message": "hello again"}})))
        .await
        .expect("patched");
    eventually("the child to follow the spec", Duration::from_secs(20), || async {
        (message(&config_maps.get("hello-greeting").await.ok()?).as_deref() == Some("hello again"))
            .then_some(())
    })
    .await;

    // Every watch ends with 410 Gone; the controller's watchers relist and it carries on.
    cluster.expire_watches();
    let second = Greeting::new("second", GreetingSpec { message: "two".into() });
    greetings.create(&PostParams::default(), &second).await.expect("second created");
    eventually("the second child after the 410", Duration::from_secs(20), || async {
        (message(&config_maps.get("second-greeting").await.ok()?).as_deref() == Some("two")).then_some(())
    })
    .await;

    // Deleting the parent garbage-collects the child (background propagation).
    greetings.delete("hello", &DeleteParams::default()).await.expect("deleted");
    eventually("the child to be collected", Duration::from_secs(20), || async {
        matches!(config_maps.get("hello-greeting").await, Err(kube::Error::Api(s)) if s.code == 404)
            .then_some(())
    })
    .await;
    controller.abort();
    cluster.shutdown().await;
}
