//! Sessions run by the real runners: the operator submits each Session as a task, a runner pod
//! works on it with the scripted model, and the Session completes from the task's record.
//!
//! These need the runner's task worker (runners pulling `AGENTRY_TASKS`); without it every
//! Session here stays Running and the tests fail at their deadline.
//!
//! Two crashes are tested: the operator's (it must not submit again) and the runner's (the task
//! must be redelivered to the restarted runner and answered once).

use std::time::Duration;

use agentry_crds::{Session, SessionPhase};
use agentry_protocol::{SubjectToken, TaskState};
use agentry_tests::operator_world::{CONVERGE, World, apply, condition_of, session_sample};
use agentry_tests::scripted_model::Step;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::session_fixtures::{
    event_reasons, kubectl_wait, purge_tasks, queue, record, session, task_id, wait_event, wait_phase,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_runners_a_runner_killed_while_a_session_runs_completes_it_once() {
    let world = World::start("ses-crash").await;
    let _operator = world.start_operator().await;
    planner(&world).await;
    // The first run is still in its model call when its runner is killed (the answer would come
    // long after); the run after the redelivery is answered at once.
    world.model.push(Step::slow(Duration::from_secs(45), Step::text("The killed run's answer.")));
    world.model.push(Step::text("Plan ready."));
    let failed = world.record_condition::<Session>("sturdy", "Failed").await;
    let complete = world.record_condition::<Session>("sturdy", "Complete").await;
    let spec = serde_json::json!({"type": "task", "agentRef": "planner", "input": "Plan."});
    apply(&world.client, &session(&world, "sturdy", spec)).await;
    world.wait_reason::<Session>("sturdy", "Complete", "TaskRunning").await;
    world.model.wait_for_requests(1, CONVERGE).await.expect("the first run calls the model");

    let running = wait_phase(&world, "sturdy", SessionPhase::Running).await;
    let task = task_id(&running, None);
    let first = record(&world, "planner", &task).await;
    assert_eq!((first.state, first.attempts), (TaskState::Running, 1), "{first:?}");
    let pod = only_pod(&world, "planner").await;
    assert_eq!(first.runner.as_deref(), Some(pod.as_str()), "the run is on the agent's one pod");
    world.cluster().kill_pod_process(&world.ns, &pod).expect("the runner pod has a process to kill");

    // No ack, no in-progress ack: JetStream hands the task out again once its ack wait is over,
    // to the runner the pod restarted.
    let done = wait_phase(&world, "sturdy", SessionPhase::Succeeded).await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.result.as_deref(), Some("Plan ready."), "the second run's answer, not the first's");
    let record = record(&world, "planner", &task).await;
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 2), "{record:?}");
    assert_eq!(record.runner.as_deref(), Some(pod.as_str()), "run again in the restarted pod");
    assert_eq!(world.model.requests().len(), 2, "one model call per run");

    let restarted = runner_status(&world, &pod).await;
    let killed = restarted.last_state.and_then(|s| s.terminated).map(|t| t.exit_code);
    assert_eq!((restarted.restart_count, killed), (1, Some(137)), "the pod's container was SIGKILLed once");

    wait_event(&world, "sturdy", "Succeeded").await;
    let reasons = event_reasons(&world, "sturdy").await;
    let count = |reason: &str| reasons.iter().filter(|r| *r == reason).count();
    assert_eq!((count("Started"), count("Succeeded")), (1, 1), "{reasons:?}");
    let never_failed = failed.seen();
    assert!(!never_failed.iter().any(|c| c.is_true()), "the Session failed on the way: {never_failed:?}");
    // The history is a watch of its own: it may hear of the last change a moment after the wait.
    world
        .eventually("the Complete history ends Succeeded", || async {
            (complete.reasons().last().map(String::as_str) == Some("Succeeded")).then_some(())
        })
        .await;
    task_delivered_twice_and_done(&world, "planner").await;
}

#[tokio::test]
async fn on_runners_a_session_deleted_while_it_runs_cancels_its_task() {
    let world = World::start("ses-delete").await;
    let _operator = world.start_operator().await;
    planner(&world).await;
    // The run is in its model call when the Session is deleted; the answer would come much later.
    world.model.push(Step::slow(Duration::from_secs(45), Step::text("Too late.")));
    let spec = serde_json::json!({"type": "task", "agentRef": "planner", "input": "Plan."});
    apply(&world.client, &session(&world, "doomed", spec)).await;
    world.wait_reason::<Session>("doomed", "Complete", "TaskRunning").await;
    world.model.wait_for_requests(1, CONVERGE).await.expect("the run calls the model");
    let running = wait_phase(&world, "doomed", SessionPhase::Running).await;
    assert!(
        running.finalizers().iter().any(|f| f == "agentry.dev/cancel-tasks"),
        "a running Session holds the finalizer: {:?}",
        running.finalizers()
    );
    let task = task_id(&running, None);

    let sessions: Api<Session> = Api::namespaced(world.client.clone(), &world.ns);
    sessions.delete("doomed", &kube::api::DeleteParams::default()).await.expect("deleted");

    world
        .eventually_explained(CONVERGE, "the deleted Session is gone", || async {
            match sessions.get_opt("doomed").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(s) => Err(format!("still there, finalizers {:?}", s.finalizers())),
            }
        })
        .await;
    let record = record(&world, "planner", &task).await;
    assert_eq!(record.state, TaskState::Cancelled, "{record:?}");
    assert_eq!(record.message.as_deref(), Some("the Session was deleted"));
    // The runner stops the run at its next check and acknowledges the task: nothing runs on.
    let (ns, agent) =
        (SubjectToken::new(world.ns.clone()).expect("ns"), SubjectToken::new("planner").expect("a"));
    let consumer = queue(&world).await.worker_consumer(&ns, &agent).await.expect("the agent's consumer");
    world
        .eventually_explained(CONVERGE, "the cancelled task is acknowledged", || async {
            let info = consumer.get_info().await.map_err(|e| e.to_string())?;
            let settled = info.num_pending == 0 && info.num_ack_pending == 0;
            settled
                .then_some(())
                .ok_or(format!("pending {}, ack pending {}", info.num_pending, info.num_ack_pending))
        })
        .await;
    assert_eq!(world.model.requests().len(), 1, "the cancelled task never ran again");
    purge_tasks(&world).await;
}

/// The name of the one pod of `agent`.
async fn only_pod(world: &World, agent: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    let listed = pods.list(&ListParams::default().labels(&format!("agentry.dev/agent={agent}"))).await;
    let names: Vec<String> = listed.expect("pods").items.iter().map(|p| p.name_any()).collect();
    assert_eq!(names.len(), 1, "one pod of {agent}: {names:?}");
    names[0].clone()
}

/// The status of the runner container of pod `name`.
async fn runner_status(world: &World, name: &str) -> ContainerStatus {
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    let pod = pods.get(name).await.expect("the pod is still there");
    pod.status
        .and_then(|s| s.container_statuses)
        .and_then(|s| s.into_iter().next())
        .expect("a container status")
}

/// The agent's consumer has handed out its one task twice (the killed run, the run after it)
/// and has nothing left: nothing pending, nothing awaiting an ack.
async fn task_delivered_twice_and_done(world: &World, agent: &str) {
    let (ns, agent) =
        (SubjectToken::new(world.ns.clone()).expect("ns"), SubjectToken::new(agent).expect("agent"));
    let consumer = queue(world).await.worker_consumer(&ns, &agent).await.expect("the agent's consumer");
    let info = world
        .eventually_explained(CONVERGE, "the task is acknowledged", || async {
            let info = consumer.get_info().await.map_err(|e| e.to_string())?;
            let settled = info.num_pending == 0 && info.num_ack_pending == 0;
            if settled { Ok(info) } else { Err(format!("{info:?}")) }
        })
        .await;
    assert_eq!(info.delivered.consumer_sequence, 2, "two deliveries: {info:?}");
    assert_eq!(info.num_redelivered, 0, "{info:?}");
}
