//! An Agent's life: config changes roll the runners, missing references resolve by themselves,
//! pausing scales to zero, deletion cleans up.

use agentry_crds::{Agent, AgentPhase, Model};
use agentry_tests::scripted_model::Step;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use crate::samples::ask;
use agentry_tests::operator_world::{CONVERGE, World, apply, condition};

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

/// The kinds of `agent`'s children that exist now.
async fn children(world: &World, agent: &str) -> Vec<&'static str> {
    let (c, ns) = (&world.client, &world.ns);
    let config_map = format!("{agent}-runner");
    let mut found = Vec::new();
    if Api::<Deployment>::namespaced(c.clone(), ns).get_opt(agent).await.ok().flatten().is_some() {
        found.push("Deployment");
    }
    if Api::<ConfigMap>::namespaced(c.clone(), ns).get_opt(&config_map).await.ok().flatten().is_some() {
        found.push("ConfigMap");
    }
    if Api::<Service>::namespaced(c.clone(), ns).get_opt(agent).await.ok().flatten().is_some() {
        found.push("Service");
    }
    if Api::<NetworkPolicy>::namespaced(c.clone(), ns).get_opt(agent).await.ok().flatten().is_some() {
        found.push("NetworkPolicy");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_system_prompt_or_secret_rolls_the_runners() {
    let world = World::start("roll").await;
    // Secrets watched in the test's namespace alone, as the generated RBAC allows.
    let mut options = world.operator_options();
    options.extra_args = vec!["--secret-namespaces".into(), world.ns.clone()];
    let _operator = world.start_operator_with(&options).await;
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
    world
        .eventually("the old runner is replaced", || async {
            let now = pods(&world, "finance-officer").await;
            (now.len() == 1 && now != old_pods).then_some(())
        })
        .await;
    world.model.push(Step::Echo);
    let reply = ask(&world, &after, "Who are you?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    let sent = world.model.requests().last().cloned().expect("the model was called");
    assert_eq!(sent["messages"][0]["content"], "You are the NEW finance officer.");

    // A new API key in the Model's Secret rolls every Agent using that Model: its runners are
    // replaced by pods of a new template, and those send the model the new key.
    let hash_of = |a: &Agent| a.status.as_ref().and_then(|s| s.config_hash.clone());
    let sales = world.wait_agent("sales-agent", AgentPhase::Ready).await;
    let before_rotation = "Which key do you use before the rotation?";
    let reply = ask(&world, &sales, before_rotation).await;
    assert_eq!(reply.error, None, "{reply:?}");
    assert_eq!(authorization(&world, before_rotation).as_deref(), Some("Bearer sk-replace-me"));
    let old_pods = pod_templates(&world, "sales-agent").await;
    assert!(!old_pods.is_empty());
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    secrets
        .patch(
            "openai-credentials",
            &PatchParams::default(),
            &merge(serde_json::json!({"stringData": {"api-key": "sk-rotated"}})),
        )
        .await
        .expect("secret patched");
    let rotated = world
        .wait_agent_where("sales-agent", "a new config hash after the key rotation", |a| {
            hash_of(a).is_some() && hash_of(a) != hash_of(&sales)
        })
        .await;
    world
        .eventually_explained(CONVERGE, "only ready sales-agent pods of a new template", || async {
            let now = pod_templates(&world, "sales-agent").await;
            let rolled = !now.is_empty()
                && now.iter().all(|pod| {
                    pod.ready
                        && !old_pods.iter().any(|old| old.name == pod.name || old.template == pod.template)
                });
            rolled.then_some(()).ok_or(format!("pods {now:?}; before the rotation {old_pods:?}"))
        })
        .await;
    let after_rotation = "Which key do you use after the rotation?";
    let reply = ask(&world, &rotated, after_rotation).await;
    assert_eq!(reply.error, None, "{reply:?}");
    assert_eq!(authorization(&world, after_rotation).as_deref(), Some("Bearer sk-rotated"));
}

/// One pod of an Agent, whatever its state.
#[derive(Debug)]
struct PodTemplate {
    name: String,
    /// Its `pod-template-hash` label: which revision of the Deployment's template it runs.
    template: String,
    /// Running and Ready, not being deleted.
    ready: bool,
}

/// Every pod of `agent`, terminating ones included.
async fn pod_templates(world: &World, agent: &str) -> Vec<PodTemplate> {
    let api: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    let list =
        api.list(&ListParams::default().labels(&format!("agentry.dev/agent={agent}"))).await.expect("pods");
    list.items
        .iter()
        .map(|p| PodTemplate {
            name: p.name_any(),
            template: p.labels().get("pod-template-hash").cloned().unwrap_or_default(),
            ready: p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().is_some_and(|s| {
                    s.phase.as_deref() == Some("Running")
                        && s.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
                }),
        })
        .collect()
}

/// The `Authorization` header of the model request that carried the user message `input`.
fn authorization(world: &World, input: &str) -> Option<String> {
    let recorded = world.model.recorded();
    let request = recorded
        .iter()
        .rev()
        .find(|r| {
            r.body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "user" && m["content"] == input))
        })
        .unwrap_or_else(|| panic!("no model request carried {input:?}"));
    request.header("authorization").map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_leaves_the_agent_pending_until_it_appears() {
    let world = World::start("missing").await;
    let _operator = world.start_operator().await;
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
    let _operator = world.start_operator().await;
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
    world
        .eventually("no sales-agent runner left", || async {
            pods(&world, "sales-agent").await.is_empty().then_some(())
        })
        .await;

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
    world
        .eventually_explained(CONVERGE, "sales-agent's ConfigMap and NetworkPolicy are back", || async {
            let left = children(&world, "sales-agent").await;
            (left.contains(&"ConfigMap") && left.contains(&"NetworkPolicy"))
                .then_some(())
                .ok_or(format!("children {left:?}"))
        })
        .await;

    // Deleting an Agent garbage-collects its children.
    agents.delete("sales-agent", &DeleteParams::default()).await.expect("agent deleted");
    world
        .eventually_explained(CONVERGE, "sales-agent's children are gone", || async {
            let left = children(&world, "sales-agent").await;
            left.is_empty().then_some(()).ok_or(format!("children {left:?}"))
        })
        .await;
    world
        .eventually("sales-agent's runners stop", || async {
            pods(&world, "sales-agent").await.is_empty().then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_the_api_server_refuses_fails_the_agent_with_its_message_until_fixed() {
    let world = World::start("refused").await;
    let _operator = world.start_operator().await;
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
    assert!(available.message.contains(r#"Deployment "tolerant""#), "names the child: {}", available.message);
    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually("a Warning Event naming the refused child", || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("ApplyRefused")
                        && e.type_.as_deref() == Some("Warning")
                        && e.note.as_deref().is_some_and(|n| n.contains(r#"Deployment "tolerant""#))
                })
                .then_some(())
        })
        .await;

    apply(&world.client, &agent("Exists")).await;
    world.wait_agent("tolerant", AgentPhase::Ready).await;
}
