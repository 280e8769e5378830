//! Sessions run by the real runners: the operator submits each Session as a task, a runner pod
//! works on it with the scripted model, and the Session completes from the task's record.
//!
//! These need the runner's task worker (runners pulling `AGENTRY_TASKS`); without it every
//! Session here stays Running and the tests fail at their deadline.

use std::time::Duration;

use agentry_crds::{Session, SessionPhase};
use agentry_protocol::TaskState;
use agentry_tests::operator_world::{World, apply, condition_of, session_sample};
use agentry_tests::scripted_model::Step;
use kube::Api;

use crate::session_fixtures::{kubectl_wait, purge_tasks, record, session, task_id, wait_event, wait_phase};

/// A Model on the scripted server, priced like the sample's, and Agent `planner` (one runner)
/// with the calculator.
async fn planner(world: &World) {
    let model = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "scripted", "namespace": world.ns},
        "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": world.model.base_url(),
                 "pricing": {"inputPerMillionTokens": 0.15, "outputPerMillionTokens": 0.6}}
    });
    let calculator = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
        "metadata": {"name": "calculator", "namespace": world.ns},
        "spec": {"type": "builtin", "description": "Arithmetic.", "builtin": {"name": "calculator"},
                 "inputSchema": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}
    });
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "planner", "namespace": world.ns},
        "spec": {"role": "worker", "modelRef": "scripted", "tools": ["calculator"], "systemPrompt": "Plan."}
    });
    for doc in [model, calculator, agent] {
        apply(&world.client, &doc).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_runners_the_sample_session_succeeds_with_usage_and_a_result() {
    let world = World::start("ses-sample").await;
    let _operator = world.start_operator().await;
    world.apply_samples_without_memory().await;
    let sample = session_sample(&world.ns);
    let name = sample["metadata"]["name"].as_str().expect("name").to_string();
    apply(&world.client, &sample).await;
    // The scripted model answers by quoting the input it was given.
    let done = wait_phase(&world, &name, SessionPhase::Succeeded).await;
    kubectl_wait(&world, &name, "Complete").await;
    let status = done.status.clone().expect("status");
    assert!(status.result.as_deref().unwrap_or_default().contains("TRK-0042"), "{:?}", status.result);
    let usage = status.usage.expect("usage");
    assert!(usage.input_tokens > 0 && usage.output_tokens > 0 && usage.cost_usd > 0.0, "{usage:?}");
    assert_eq!(status.session_id, done.metadata.uid);
    assert!(condition_of(&done, "Complete").is_some_and(|c| c.is_true()));
    let record = record(&world, "fleet-manager", &task_id(&done, None)).await;
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 1));
    wait_event(&world, &name, "Succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_runners_a_session_over_its_budget_fails_with_budget_exceeded() {
    let world = World::start("ses-budget").await;
    let _operator = world.start_operator().await;
    planner(&world).await;
    // The first model turn costs 4.5e-6 USD, past the budget: no second turn is made.
    world.model.push(Step::tool_call("calculator", serde_json::json!({"expression": "6800 * 2"})));
    world.model.push(Step::text("13,600 USD."));
    let spec = serde_json::json!({
        "type": "task", "agentRef": "planner", "input": "What do two repairs cost?",
        "limits": {"budgetUsd": 0.000001}
    });
    apply(&world.client, &session(&world, "thrifty", spec)).await;
    let failed = wait_phase(&world, "thrifty", SessionPhase::Failed).await;
    kubectl_wait(&world, "thrifty", "Failed").await;
    let condition = condition_of(&failed, "Failed").expect("Failed");
    assert!(condition.is_true() && condition.reason == "BudgetExceeded", "{condition:?}");
    wait_event(&world, "thrifty", "BudgetExceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_runners_a_finished_session_is_deleted_after_its_ttl() {
    let world = World::start("ses-ttl").await;
    let _operator = world.start_operator().await;
    planner(&world).await;
    let spec = serde_json::json!({
        "type": "task", "agentRef": "planner", "input": "Plan.", "ttlSecondsAfterFinished": 1
    });
    apply(&world.client, &session(&world, "brief", spec)).await;
    let running = wait_phase(&world, "brief", SessionPhase::Running).await;
    let api: Api<Session> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually("the finished Session is deleted", || async {
            api.get_opt("brief").await.ok().and_then(|s| s.is_none().then_some(()))
        })
        .await;
    // It was deleted for having finished, not before.
    let record = record(&world, "planner", &task_id(&running, None)).await;
    assert_eq!(record.state, TaskState::Succeeded);
    wait_event(&world, "brief", "Succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_runners_an_operator_killed_while_a_session_runs_completes_it_once() {
    let world = World::start("ses-restart").await;
    let mut first = world.start_operator().await;
    planner(&world).await;
    world.model.push(Step::slow(Duration::from_secs(4), Step::text("Plan ready.")));
    let spec = serde_json::json!({"type": "task", "agentRef": "planner", "input": "Plan."});
    apply(&world.client, &session(&world, "steady", spec)).await;
    world.wait_reason::<Session>("steady", "Complete", "TaskRunning").await;
    first.kill().await.expect("killed");
    let _second = world.start_operator().await;
    let done = wait_phase(&world, "steady", SessionPhase::Succeeded).await;
    assert_eq!(done.status.clone().and_then(|s| s.result).as_deref(), Some("Plan ready."));
    let record = record(&world, "planner", &task_id(&done, None)).await;
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 1), "{record:?}");
    assert_eq!(world.model.requests().len(), 1, "the model was asked once");
    purge_tasks(&world).await;
}
