//! An Agent's life: config changes roll the runners, missing references resolve by themselves,
//! pausing scales to zero, deletion cleans up.

use agentry_crds::{Agent, AgentPhase, Model};
use agentry_tests::scripted_model::Step;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use crate::harness::{CONVERGE, POLL, World, apply, condition};
use crate::samples::ask;

fn merge(value: serde_json::Value) -> Patch<serde_json::Value> {
    Patch::Merge(value)
}

/// Names of the running pods of `agent`.
async fn pods(world: &World, agent: &str) -> Vec<String> {
    let api: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    let list =
        api.list(&ListParams::default().labels(&format!("agentry.dev/agent={agent}"))).await.expect("pods");
    let mut names: Vec<String> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .map(|p| p.name_any())
        .collect();
    names.sort();
    names
}

/// Polls `check` with the convergence deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_system_prompt_or_secret_rolls_the_runners() {
    let world = World::start("roll").await;
    let _operator = world.start_operator(None).await;
    world.apply_samples().await;
    let agents: Api<Agent> = Api::namespaced(world.client.clone(), &world.ns);
    let before = world.wait_agent("finance-officer", AgentPhase::Ready).await;
    let old_hash = before.status.as_ref().and_then(|s| s.config_hash.clone()).expect("hash");
    let old_pods = pods(&world, "finance-officer").await;
    assert_eq!(old_pods.len(), 1);

    agents
        .patch(
            "finance-officer",
            &PatchParams::default(),
            &merge(serde_json::json!({"spec": {"systemPrompt": "You are the NEW finance officer."}})),
        )
        .await
        .expect("patched");
    let after = world
        .wait_agent_where("finance-officer", "a new config hash, Ready", |a| {
            let s = a.status.as_ref();
            s.and_then(|s| s.config_hash.as_deref()).is_some_and(|h| h != old_hash)
                && s.and_then(|s| s.phase) == Some(AgentPhase::Ready)
        })
        .await;
    eventually("the old runner is replaced", || async {
        let now = pods(&world, "finance-officer").await;
        now.len() == 1 && now != old_pods
    })
    .await;
    world.model.push(Step::Echo);
    let reply = ask(&world, &after, "Who are you?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    let sent = world.model.requests().last().cloned().expect("the model was called");
    assert_eq!(sent["messages"][0]["content"], "You are the NEW finance officer.");

    // A new API key in the Model's Secret rolls every Agent using that Model.
    let hash_of = |a: &Agent| a.status.as_ref().and_then(|s| s.config_hash.clone());
    let sales_before = hash_of(&world.wait_agent("sales-agent", AgentPhase::Ready).await);
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    secrets
        .patch(
            "openai-credentials",
            &PatchParams::default(),
            &merge(serde_json::json!({"stringData": {"api-key": "sk-rotated"}})),
        )
        .await
        .expect("secret patched");
    world
        .wait_agent_where("sales-agent", "a new config hash after the key rotation", |a| {
            hash_of(a) != sales_before
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_leaves_the_agent_pending_until_it_appears() {
    let world = World::start("missing").await;
    let _operator = world.start_operator(None).await;
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "lonely", "namespace": world.ns},
        "spec": {"role": "worker", "modelRef": "ghost"}
    });
    apply(&world.client, &agent).await;
    let pending = world
        .wait_agent_where("lonely", "Pending with ModelNotFound", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.phase == Some(AgentPhase::Pending)
                    && s.conditions.iter().any(|c| c.type_ == "ModelResolved" && c.reason == "ModelNotFound")
            })
        })
        .await;
    let resolved = condition(pending, "ModelResolved");
    assert!(resolved.message.contains("ghost"), "{}", resolved.message);
    assert!(
        Api::<Deployment>::namespaced(world.client.clone(), &world.ns)
            .get_opt("lonely")
            .await
            .expect("get")
            .is_none()
    );

    let model = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "ghost", "namespace": world.ns},
        "spec": {"provider": "openai-compatible", "model": "ghost-1", "baseUrl": world.model.base_url()}
    });
    apply(&world.client, &model).await;
    world.wait_agent("lonely", AgentPhase::Ready).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_scales_to_zero_and_deleting_cleans_up() {
    let world = World::start("pause").await;
    let _operator = world.start_operator(None).await;
    world.apply_samples().await;
    let agents: Api<Agent> = Api::namespaced(world.client.clone(), &world.ns);
    world.wait_agent("sales-agent", AgentPhase::Ready).await;

    agents
        .patch("sales-agent", &PatchParams::default(), &merge(serde_json::json!({"spec": {"paused": true}})))
        .await
        .expect("paused");
    world.wait_agent("sales-agent", AgentPhase::Paused).await;
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
    assert_eq!(
        deployments.get("sales-agent").await.expect("deployment").spec.and_then(|s| s.replicas),
        Some(0)
    );
    eventually("no sales-agent runner left", || async { pods(&world, "sales-agent").await.is_empty() }).await;

    agents
        .patch("sales-agent", &PatchParams::default(), &merge(serde_json::json!({"spec": {"paused": false}})))
        .await
        .expect("unpaused");
    world.wait_agent("sales-agent", AgentPhase::Ready).await;

    // Deleting a Model in use degrades its Agents (their runners keep the last good config).
    world.wait_agent("finance-officer", AgentPhase::Ready).await;
    Api::<Model>::namespaced(world.client.clone(), &world.ns)
        .delete("llama-local", &DeleteParams::default())
        .await
        .expect("model deleted");
    let degraded = world.wait_agent("finance-officer", AgentPhase::Degraded).await;
    let resolved = condition(degraded, "ModelResolved");
    assert_eq!(resolved.reason, "ModelNotFound");
    assert!(resolved.message.contains("llama-local"));

    // A child deleted by hand is written again.
    Api::<ConfigMap>::namespaced(world.client.clone(), &world.ns)
        .delete("sales-agent-runner", &DeleteParams::default())
        .await
        .expect("configmap deleted");
    Api::<NetworkPolicy>::namespaced(world.client.clone(), &world.ns)
        .delete("sales-agent", &DeleteParams::default())
        .await
        .expect("networkpolicy deleted");
    eventually("sales-agent's ConfigMap and NetworkPolicy are back", || async {
        let ns = &world.ns;
        let c = &world.client;
        Api::<ConfigMap>::namespaced(c.clone(), ns)
            .get_opt("sales-agent-runner")
            .await
            .ok()
            .flatten()
            .is_some()
            && Api::<NetworkPolicy>::namespaced(c.clone(), ns)
                .get_opt("sales-agent")
                .await
                .ok()
                .flatten()
                .is_some()
    })
    .await;

    // Deleting an Agent garbage-collects its children.
    agents.delete("sales-agent", &DeleteParams::default()).await.expect("agent deleted");
    eventually("sales-agent's children are gone", || async {
        let ns = &world.ns;
        let c = &world.client;
        Api::<Deployment>::namespaced(c.clone(), ns).get_opt("sales-agent").await.ok().flatten().is_none()
            && Api::<ConfigMap>::namespaced(c.clone(), ns)
                .get_opt("sales-agent-runner")
                .await
                .ok()
                .flatten()
                .is_none()
            && Api::<Service>::namespaced(c.clone(), ns).get_opt("sales-agent").await.ok().flatten().is_none()
            && Api::<NetworkPolicy>::namespaced(c.clone(), ns)
                .get_opt("sales-agent")
                .await
                .ok()
                .flatten()
                .is_none()
    })
    .await;
    eventually("sales-agent's runners stop", || async { pods(&world, "sales-agent").await.is_empty() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_the_api_server_refuses_fails_the_agent_with_its_message_until_fixed() {
    let world = World::start("refused").await;
    let _operator = world.start_operator(None).await;
    let model = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "local", "namespace": world.ns},
        "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": world.model.base_url()}
    });
    apply(&world.client, &model).await;
    let agent = |operator: &str| {
        serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "tolerant", "namespace": world.ns},
            "spec": {"role": "worker", "modelRef": "local",
                     "podTemplate": {"tolerations": [{"key": "gpu", "operator": operator, "effect": "NoSchedule"}]}}
        })
    };
    // The Agent schema takes any string here (it is the Kubernetes Toleration type); the
    // Deployment it becomes is what the API server refuses.
    apply(&world.client, &agent("Maybe")).await;
    let failed = world.wait_agent("tolerant", AgentPhase::Failed).await;
    let available = condition(failed, "Available");
    assert_eq!(available.reason, "ApplyRefused");
    assert!(
        available.message.contains("spec.template.spec.tolerations[0].operator"),
        "{}",
        available.message
    );

    apply(&world.client, &agent("Exists")).await;
    world.wait_agent("tolerant", AgentPhase::Ready).await;
}
