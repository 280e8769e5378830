//! `POST …/agents/{name}/invoke`: the runner's answer, and bad requests refused before it.

use agentry_api_contract::{MAX_BODY_BYTES, paths};
use agentry_tests::api_world::ApiWorld;
use agentry_tests::scripted_model::Step;
use serde_json::json;

use crate::binaries;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_through_the_api() {
    let world = ApiWorld::start(binaries().await, "api-invoke", |_| {}).await;
    world.agent.model.push(Step::text("4"));
    let invoke = paths::fill(paths::AGENT_INVOKE, &[world.ns(), "worker"]);
    let (status, reply) = world.post(&invoke, &json!({"input": "2+2?", "timeoutSeconds": 30})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["output"], "4");
    assert!(reply["requestId"].as_str().is_some_and(|id| id.starts_with("api-")), "{reply}");
    assert!(reply["usage"]["inputTokens"].as_u64().is_some(), "{reply}");
    // The caller is who the token says: the runner saw the request come from alice.
    let prompt = world.agent.model.requests().last().cloned().unwrap_or_default();
    assert!(prompt.to_string().contains("2+2?"), "{prompt}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invocations_get_a_4xx_naming_the_field() {
    let world = ApiWorld::start(binaries().await, "api-invoke-bad", |_| {}).await;
    let invoke = paths::fill(paths::AGENT_INVOKE, &[world.ns(), "worker"]);
    for (body, field) in [
        (json!({}), "input"),
        (json!({"input": ""}), "input"),
        (json!({"input": "x", "timeoutSeconds": 0}), "timeoutSeconds"),
        (json!({"input": "x", "timeoutSeconds": "soon"}), "timeoutSeconds"),
        (json!({"input": "x", "budgetUsd": -1}), "budgetUsd"),
    ] {
        let (status, error) = world.post(&invoke, &body).await;
        assert_eq!((status, error["field"].as_str()), (400, Some(field)), "{body} -> {error}");
    }
    let huge = json!({"input": "x".repeat(MAX_BODY_BYTES + 1)});
    let (status, error) = world.post(&invoke, &huge).await;
    assert_eq!(status, 413, "{error}");
    // Nobody answers on an Agent that does not run: 503 saying so (retry: it may be starting),
    // not a hang; on one that does not exist, 404 (a misspelt name never answers).
    world.add_agent("idle", &[], 0).await;
    let idle = paths::fill(paths::AGENT_INVOKE, &[world.ns(), "idle"]);
    let (status, error) = world.post(&idle, &json!({"input": "hi", "timeoutSeconds": 5})).await;
    assert_eq!(status, 503, "{error}");
    assert!(error["message"].as_str().unwrap_or_default().contains("no ready replica"), "{error}");
    let absent = paths::fill(paths::AGENT_INVOKE, &[world.ns(), "absent"]);
    let (status, error) = world.post(&absent, &json!({"input": "hi", "timeoutSeconds": 5})).await;
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")), "{error}");
    assert!(error["message"].as_str().unwrap_or_default().contains("no Agent \"absent\""), "{error}");
    assert_eq!(world.agent.model.request_count(), 0, "no bad request reached the model");
    world.stop().await;
}
