//! `POST …/agents/{name}/tasks`, `GET`/`DELETE …/tasks/{id}`: durable tasks through the API.

use std::time::Duration;

use agentry_api_contract::paths;
use agentry_tests::api_world::ApiWorld;
use agentry_tests::polling::poll_until;
use agentry_tests::scripted_model::Step;
use reqwest::Method;
use serde_json::{Value, json};

use crate::binaries;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_submitted_run_once_fetched_and_a_queued_one_cancelled() {
    let world = ApiWorld::start(binaries().await, "api-tasks", |_| {}).await;
    world.agent.model.push(Step::text("done"));
    let submit = paths::fill(paths::AGENT_TASKS, &[world.ns(), "worker"]);
    let (status, queued) = world.post(&submit, &json!({"input": "do it", "taskId": "t-1"})).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["taskId"], "t-1");
    let task = paths::fill(paths::AGENT_TASK, &[world.ns(), "worker", "t-1"]);
    let finished: Value = poll_until(Duration::from_secs(30), || async {
        let (_, status) = world.get(&task).await;
        (status["phase"] == "succeeded").then_some(status)
    })
    .await
    .unwrap_or_else(|e| panic!("task t-1 did not end: {e:?}"));
    assert_eq!(finished["result"]["output"], "done", "{finished}");
    // Submitting the same id again returns the ended task; it does not run twice.
    let (status, again) = world.post(&submit, &json!({"input": "do it", "taskId": "t-1"})).await;
    assert_eq!((status, again["phase"].as_str()), (202, Some("succeeded")), "{again}");
    assert_eq!(world.agent.model.request_count(), 1);

    // A task for an agent with no runner stays queued until cancelled.
    let idle = paths::fill(paths::AGENT_TASKS, &[world.ns(), "idle"]);
    let (status, _) = world.post(&idle, &json!({"input": "later", "taskId": "t-2"})).await;
    assert_eq!(status, 202);
    let idle_task = paths::fill(paths::AGENT_TASK, &[world.ns(), "idle", "t-2"]);
    let (status, cancelled) =
        world.call(Method::DELETE, &idle_task, Some(agentry_tests::api_world::ADMIN_TOKEN), None).await;
    assert_eq!((status, cancelled["phase"].as_str()), (200, Some("cancelled")), "{cancelled}");
    assert!(cancelled["message"].as_str().unwrap_or_default().contains("alice"), "{cancelled}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_requests_are_refused() {
    let world = ApiWorld::start(binaries().await, "api-tasks-bad", |_| {}).await;
    let submit = paths::fill(paths::AGENT_TASKS, &[world.ns(), "worker"]);
    let (status, error) = world.post(&submit, &json!({"input": "x", "taskId": "has space"})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("taskId")), "{error}");
    let (status, error) = world.post(&submit, &json!({"taskId": "t"})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("input")), "{error}");
    let unknown = paths::fill(paths::AGENT_TASK, &[world.ns(), "worker", "never-submitted"]);
    let (status, error) = world.get(&unknown).await;
    assert_eq!(status, 404, "{error}");
    let (status, error) =
        world.call(Method::DELETE, &unknown, Some(agentry_tests::api_world::ADMIN_TOKEN), None).await;
    assert_eq!(status, 404, "{error}");
    world.stop().await;
}
