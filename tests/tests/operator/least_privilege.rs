//! The chart's operator under RBAC that devcluster enforces on its ServiceAccount token: a role
//! with a permission taken away makes the operator surface the API server's real 403 on the
//! Agent, and a Secret outside `--secret-namespaces` is reported for where it is, not retried.

use std::time::Duration;

use agentry_crds::{AgentPhase, Condition, MemoryStore, Model, Tool};
use agentry_devcluster::ImageBinary;
use agentry_tests::nats_fixture;
use agentry_tests::operator_world::{World, apply, condition, condition_of, database_url};
use agentry_tests::recorder_fixture::ScratchSchema;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

use crate::chart_install::{devcluster_values, install, pod_logs, render_chart, secret};

/// Starts a world running the chart's operator (no recorder) rendered with `values`, after
/// `edit` has changed the rendered manifests; returns once an operator replica is ready.
async fn chart_operator(
    prefix: &str,
    values: impl FnOnce(&str, &str) -> serde_json::Value,
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) -> (World, ScratchSchema) {
    let world = World::start_simulating(prefix, |built| {
        vec![ImageBinary { image_suffix: "agentry-operator".into(), binary: built.operator.clone() }]
    })
    .await;
    let ns = world.ns.clone();
    let history = ScratchSchema::new(&database_url());
    world.apply(&secret(&ns, "agentry-nats", &nats_fixture::nats_url())).await;
    world.apply(&secret(&ns, "agentry-database", &database_url())).await;
    let mut manifests = render_chart(&values(&history.name, &ns), &ns);
    edit(&mut manifests);
    install(&world, manifests).await;
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &ns);
    world
        .eventually_explained(Duration::from_secs(90), "the operator has a ready replica", || async {
            let status = deployments.get("agentry-operator").await.map_err(|e| e.to_string())?.status;
            let ready = status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
            if ready >= 1 {
                Ok(())
            } else {
                Err(format!("{status:?}\n{}", pod_logs(&world, "agentry-operator").await))
            }
        })
        .await;
    (world, history)
}

fn without_recorder(schema: &str, ns: &str) -> serde_json::Value {
    let mut values = devcluster_values(schema, ns);
    values["recorder"]["enabled"] = false.into();
    values
}

/// The operator's ClusterRole with `verb` taken off `resource` (core group).
fn without_permission(manifests: &mut [serde_json::Value], resource: &str, verb: &str) {
    let role = manifests
        .iter_mut()
        .find(|m| m["kind"] == "ClusterRole" && m["metadata"]["name"] == "agentry-operator")
        .expect("the operator's ClusterRole is rendered");
    let rules = role["rules"].as_array_mut().expect("rules");
    let mut reduced = Vec::new();
    for rule in rules.iter_mut() {
        let names = rule["resources"].as_array().cloned().unwrap_or_default();
        if rule["apiGroups"] != serde_json::json!([""]) || !names.iter().any(|r| r == resource) {
            continue;
        }
        // The rule names other resources too: they keep every verb.
        rule["resources"] = names.iter().filter(|r| *r != resource).cloned().collect();
        let verbs: Vec<_> =
            rule["verbs"].as_array().cloned().unwrap_or_default().into_iter().filter(|v| v != verb).collect();
        reduced.push(serde_json::json!({"apiGroups": [""], "resources": [resource], "verbs": verbs}));
    }
    assert!(!reduced.is_empty(), "no rule grants {resource}");
    rules.retain(|r| r["resources"].as_array().is_some_and(|names| !names.is_empty()));
    rules.extend(reduced);
}

fn model(ns: &str, name: &str, base_url: &str, key_secret: Option<&str>) -> serde_json::Value {
    let mut spec = serde_json::json!({"provider": "openai-compatible", "model": "m", "baseUrl": base_url});
    if let Some(secret) = key_secret {
        spec["apiKeySecretRef"] = serde_json::json!({"name": secret, "key": "api-key"});
    }
    serde_json::json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
                       "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_configmap_create_fails_the_agent_with_the_api_servers_refusal() {
    let (world, _history) =
        chart_operator("reduced", without_recorder, |m| without_permission(m, "configmaps", "create")).await;
    let ns = world.ns.clone();
    world.apply(&model(&ns, "local", &world.model.base_url(), None)).await;
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "reduced", "namespace": ns},
        "spec": {"role": "worker", "modelRef": "local"}
    });
    world.apply(&agent).await;

    // Server-side apply of the missing ConfigMap is a create: RBAC refuses it with the
    // apiserver's create-on-update wording, and the operator says so on the Agent.
    let failed = world.wait_agent("reduced", AgentPhase::Failed).await;
    let available = condition(failed, "Available");
    assert_eq!(available.reason, "ChildWriteRefused", "{available:?}");
    assert_eq!(
        available.message,
        r#"the API server refused to write ConfigMap "reduced-runner": configmaps "reduced-runner" is forbidden: "#
    );
    let events: Api<Event> = Api::namespaced(world.client.clone(), &ns);
    world
        .eventually("a Warning Event naming the refused ConfigMap", || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("ChildWriteRefused")
                        && e.type_.as_deref() == Some("Warning")
                        && e.note
                            .as_deref()
                            .is_some_and(|n| n.contains(r#"configmaps "reduced-runner" is forbidden"#))
                })
                .then_some(())
        })
        .await;
    // Nothing was written past the refusal: no runner Deployment.
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &ns);
    assert!(deployments.get_opt("reduced").await.expect("deployments readable").is_none());
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_outside_the_secret_namespaces_is_reported_with_the_setting_to_change() {
    let (world, _history) = chart_operator("secretns", without_recorder, |_| {}).await;
    let ns = world.ns.clone();
    let outside = format!("{ns}-outside");
    apply(
        &world.client,
        &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": outside}}),
    )
    .await;
    apply(
        &world.client,
        &serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "openai", "namespace": outside}, "stringData": {"api-key": "sk-test"}}),
    )
    .await;
    apply(&world.client, &model(&outside, "keyed", &world.model.base_url(), Some("openai"))).await;
    // The same Model in a namespace the operator reads Secrets in is Ready: the refusal is
    // about where the Secret is, nothing else.
    world.apply(&secret_with_key(&ns)).await;
    world.apply(&model(&ns, "keyed", &world.model.base_url(), Some("openai"))).await;
    world
        .wait_object::<Model>("keyed", "Ready", |m| condition_of(m, "Ready").is_some_and(|c| c.is_true()))
        .await;

    // A Tool's header Secret and a MemoryStore's connection Secret there are refused alike.
    apply(
        &world.client,
        &serde_json::json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
        "metadata": {"name": "keyed", "namespace": outside},
        "spec": {"type": "http", "description": "Looks things up.", "inputSchema": {"type": "object"},
                 "http": {"url": "https://api.example.com/lookup", "method": "GET",
                          "headersFrom": [{"name": "Authorization",
                                           "secretKeyRef": {"name": "openai", "key": "api-key"}}]}}}),
    )
    .await;
    apply(&world.client, &serde_json::json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "MemoryStore",
        "metadata": {"name": "keyed", "namespace": outside},
        "spec": {"postgres": {"connectionSecretRef": {"name": "openai", "key": "api-key"}, "schema": "unused"},
                 "embedding": {"provider": "hashing", "dimensions": 8}}}))
    .await;

    let model = refused_for_its_namespace::<Model>(&world, &outside).await;
    let tool = refused_for_its_namespace::<Tool>(&world, &outside).await;
    let store = refused_for_its_namespace::<MemoryStore>(&world, &outside).await;
    for ready in [model, tool, store] {
        assert!(!ready.is_true());
        assert!(ready.message.contains(&format!("in namespace {outside:?}")), "{}", ready.message);
        assert!(ready.message.contains("--secret-namespaces"), "{}", ready.message);
        assert!(ready.message.contains(&format!("{ns:?}")), "names the namespaces read: {}", ready.message);
        assert!(!ready.message.contains("sk-test"));
    }
    world.shutdown().await;
}

/// The `Ready` condition of the `K` called `keyed` in `namespace`, once its reason is
/// `SecretNamespaceNotAllowed`.
async fn refused_for_its_namespace<K>(world: &World, namespace: &str) -> Condition
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let api: Api<K> = Api::namespaced(world.client.clone(), namespace);
    let what = format!("{} keyed refused for its Secret's namespace", K::kind(&()));
    world
        .eventually_explained(Duration::from_secs(60), &what, || async {
            let object = api.get("keyed").await.map_err(|e| e.to_string())?;
            condition_of(&object, "Ready")
                .filter(|c| c.reason == "SecretNamespaceNotAllowed")
                .ok_or(format!("{:?}", serde_json::to_value(&object).map(|o| o["status"].clone())))
        })
        .await
}

fn secret_with_key(ns: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "openai", "namespace": ns}, "stringData": {"api-key": "sk-test"}})
}
