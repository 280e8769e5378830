//! More objects than a shared watch buffers: the caches must keep flowing (an idle
//! subscription once stalled the operator at ~280 Agents of 1,000).

use agentry_crds::Model;
use futures::StreamExt;
use kube::Api;
use kube::api::ListParams;

use agentry_tests::operator_world::{CONVERGE, World, apply};

/// Past the 1,024 objects a shared subscription buffers.
const MODELS: usize = 1_200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_objects_than_the_watch_buffer_all_get_reconciled() {
    let world = World::start("buffer").await;
    let _operator = world.start_operator().await;
    futures::stream::iter(0..MODELS)
        .for_each_concurrent(16, |i| {
            let model = serde_json::json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
                "metadata": {"name": format!("m-{i:04}"), "namespace": world.ns},
                "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": "http://127.0.0.1:9/v1"}
            });
            let client = world.client.clone();
            async move { apply(&client, &model).await }
        })
        .await;
    let api: Api<Model> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually_explained(CONVERGE * 2, &format!("all {MODELS} Models Ready"), || async {
            let list = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            let ready = list
                .items
                .iter()
                .filter(|m| {
                    m.status
                        .as_ref()
                        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.is_true()))
                })
                .count();
            (ready == MODELS).then_some(()).ok_or(format!("{ready}/{MODELS} Ready"))
        })
        .await;
}
