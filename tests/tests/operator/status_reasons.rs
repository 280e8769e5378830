//! Why a Model, a Tool or an Agent is not ready, as the real operator reports it: the exact
//! reason, and a message naming the object at fault.

use agentry_crds::{Agent, AgentPhase, ConditionStatus, Model, Tool};
use agentry_tests::operator_world::World;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

fn model(world: &World, name: &str, key_secret: Option<&str>) -> serde_json::Value {
    let mut model = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": name, "namespace": world.ns},
        "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": world.model.base_url()}
    });
    if let Some(secret) = key_secret {
        model["spec"]["apiKeySecretRef"] = serde_json::json!({"name": secret, "key": "api-key"});
    }
    model
}

fn agent(
    world: &World,
    name: &str,
    labels: serde_json::Value,
    model: &str,
    tools: &[&str],
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": name, "namespace": world.ns, "labels": labels},
        "spec": {"role": "worker", "modelRef": model, "tools": tools}
    })
}

fn secret(world: &World, name: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": world.ns},
        "stringData": data
    })
}

/// A builtin calculator Tool; with `team`, only Agents labelled `team: <team>` may use it.
fn calculator(world: &World, name: &str, team: Option<&str>) -> serde_json::Value {
    let mut tool = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
        "metadata": {"name": name, "namespace": world.ns},
        "spec": {"type": "builtin", "description": "Arithmetic.", "builtin": {"name": "calculator"}}
    });
    if let Some(team) = team {
        tool["spec"]["allowedAgents"] = serde_json::json!({"matchLabels": {"team": team}});
    }
    tool
}

/// An HTTP Tool sending a header from `token_secret` (key `token`).
fn http_tool(world: &World, name: &str, token_secret: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
        "metadata": {"name": name, "namespace": world.ns},
        "spec": {"type": "http", "description": "Looks things up.",
                 "http": {"url": "http://127.0.0.1:9/lookup",
                          "headersFrom": [{"name": "Authorization",
                                           "secretKeyRef": {"name": token_secret, "key": "token"}}]}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_tools_and_agents_say_which_object_is_at_fault() {
    let world = World::start("reasons").await;
    let _operator = world.start_operator().await;
    tokio::join!(model_reasons(&world), tool_reasons(&world), tool_access(&world));
}

/// The Model's key check, and what its Agent says while the Model is unchecked and not ready.
async fn model_reasons(world: &World) {
    world.apply(&model(world, "keyless", None)).await;
    let no_key = world.wait_reason::<Model>("keyless", "Ready", "NoKeyRequired").await;
    assert_eq!(no_key.status, ConditionStatus::True, "a Model without a key is usable");

    // The Agent first, so that its Model is created while it watches.
    world.apply(&agent(world, "waiting", serde_json::json!({}), "late", &[])).await;
    let missing = world.wait_reason::<Agent>("waiting", "ModelResolved", "ModelNotFound").await;
    assert!(missing.message.contains("Model late"), "{}", missing.message);
    let history = world.record_condition::<Agent>("waiting", "ModelResolved").await;

    world.apply(&model(world, "late", Some("late-key"))).await;
    let no_secret = world.wait_reason::<Model>("late", "Ready", "SecretNotFound").await;
    assert_eq!(no_secret.status, ConditionStatus::False);
    assert!(no_secret.message.contains("Secret late-key"), "{}", no_secret.message);
    let not_ready = world.wait_reason::<Agent>("waiting", "ModelResolved", "ModelNotReady").await;
    assert!(
        not_ready.message.contains("Model late") && not_ready.message.contains("SecretNotFound"),
        "{}",
        not_ready.message
    );
    // Between "not found" and "not ready" the Agent may see the Model before the Model
    // controller has checked it (`ModelPending`). Which controller goes first is a race, so the
    // reason itself is proven by the resolution unit test; when it shows here it comes first.
    // The history is a watch of its own: it may hear of the change a moment after the wait did.
    let (seen, first_not_ready) = world
        .eventually("the condition history hears of ModelNotReady", || async {
            let seen = history.seen();
            seen.iter().position(|c| c.reason == "ModelNotReady").map(|at| (seen.clone(), at))
        })
        .await;
    if let Some(pending) = seen.iter().position(|c| c.reason == "ModelPending") {
        assert!(seen[pending].message.contains("Model late"), "{}", seen[pending].message);
        assert!(pending < first_not_ready, "{:?}", history.reasons());
    }

    world.apply(&secret(world, "late-key", serde_json::json!({"other": "x"}))).await;
    let key_missing = world.wait_reason::<Model>("late", "Ready", "KeyMissing").await;
    assert!(
        key_missing.message.contains("Secret late-key") && key_missing.message.contains("key api-key"),
        "{}",
        key_missing.message
    );
    world
        .wait_agent_where("waiting", "ModelNotReady because of KeyMissing", |a| {
            agentry_tests::operator_world::condition_of(a, "ModelResolved")
                .is_some_and(|c| c.reason == "ModelNotReady" && c.message.contains("KeyMissing"))
        })
        .await;

    world.apply(&secret(world, "late-key", serde_json::json!({"api-key": "sk-late"}))).await;
    world.wait_reason::<Model>("late", "Ready", "KeyFound").await;
    world.wait_agent("waiting", AgentPhase::Ready).await;
}

/// Tools that do not exist, are not ready, or are not checked yet.
async fn tool_reasons(world: &World) {
    world.apply(&model(world, "for-tools", None)).await;
    world.apply(&agent(world, "needs-ghost", serde_json::json!({}), "for-tools", &["ghost"])).await;
    let not_found = world.wait_reason::<Agent>("needs-ghost", "ToolsResolved", "ToolNotFound").await;
    assert!(not_found.message.contains("Tool ghost"), "{}", not_found.message);

    world.apply(&http_tool(world, "leaky", "leaky-token")).await;
    let tool = world.wait_reason::<Tool>("leaky", "Ready", "SecretNotFound").await;
    assert!(tool.message.contains("Secret leaky-token"), "{}", tool.message);
    world.apply(&agent(world, "uses-leaky", serde_json::json!({}), "for-tools", &["leaky"])).await;
    let not_ready = world.wait_reason::<Agent>("uses-leaky", "ToolsResolved", "ToolNotReady").await;
    assert!(
        not_ready.message.contains("Tool leaky") && not_ready.message.contains("SecretNotFound"),
        "{}",
        not_ready.message
    );

    // A Tool appearing under an Agent's eyes is "pending" until the Tool controller checked it.
    // Its token Secret exists, so that check reads it first.
    world.apply(&secret(world, "later-token", serde_json::json!({"token": "Bearer t"}))).await;
    world.apply(&agent(world, "early", serde_json::json!({}), "for-tools", &["later"])).await;
    world.wait_reason::<Agent>("early", "ToolsResolved", "ToolNotFound").await;
    let history = world.record_condition::<Agent>("early", "ToolsResolved").await;
    world.apply(&http_tool(world, "later", "later-token")).await;
    world.wait_reason::<Agent>("early", "ToolsResolved", "Resolved").await;
    // As with Models, `ToolPending` shows only when the Agent controller wins the race.
    if let Some(pending) = history.seen().iter().find(|c| c.reason == "ToolPending") {
        assert!(pending.message.contains("Tool later"), "{}", pending.message);
    }
}

/// A Tool's `allowedAgents` keeps every other Agent from it: no runner of theirs gets it.
async fn tool_access(world: &World) {
    world.apply(&model(world, "for-access", None)).await;
    world.apply(&calculator(world, "payroll", Some("finance"))).await;
    world.wait_reason::<Tool>("payroll", "Ready", "Valid").await;
    let finance = serde_json::json!({"team": "finance"});
    let sales = serde_json::json!({"team": "sales"});
    world.apply(&agent(world, "outsider", sales, "for-access", &["payroll"])).await;
    world.apply(&agent(world, "insider", finance, "for-access", &["payroll"])).await;

    let refused = world.wait_reason::<Agent>("outsider", "ToolsResolved", "ToolNotAllowed").await;
    assert!(refused.message.contains("Tool payroll"), "{}", refused.message);
    let insider = world.wait_agent("insider", AgentPhase::Ready).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.ns);
    let config = config_maps.get("insider-runner").await.expect("insider's ConfigMap");
    let runner_json = config.data.and_then(|d| d.get("runner.json").cloned()).expect("runner.json");
    assert!(runner_json.contains("\"payroll\""), "the allowed Agent's runner has the Tool");
    assert_eq!(insider.status.and_then(|s| s.phase), Some(AgentPhase::Ready));

    let outsider = world.wait_agent("outsider", AgentPhase::Pending).await;
    assert_eq!(outsider.status.and_then(|s| s.config_hash), None, "no runner config was made");
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
    assert!(deployments.get_opt("outsider").await.expect("get").is_none(), "no runner runs for it");
    assert!(config_maps.get_opt("outsider-runner").await.expect("get").is_none());
}
