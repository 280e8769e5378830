//! Who may call: no token 401, an unknown token 401, a token without the permission 403 naming
//! it, and the OpenAPI document lists every endpoint.

use agentry_api_contract::paths;
use agentry_tests::api_world::{ADMIN_TOKEN, ApiWorld, NOBODY_TOKEN, VIEWER_TOKEN};
use reqwest::Method;
use serde_json::json;

use crate::binaries;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_reviewed_and_every_permission_is_checked() {
    let world = ApiWorld::start(binaries().await, "api-access", |_| {}).await;
    let agents = paths::fill(paths::AGENTS, &[world.ns()]);

    let (status, body) = world.call(Method::GET, &agents, None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    let (status, body) = world.call(Method::GET, &agents, Some("made-up"), None).await;
    assert_eq!(status, 401, "{body}");

    let (status, body) = world.call(Method::GET, &agents, Some(NOBODY_TOKEN), None).await;
    assert_eq!(status, 403, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"nobody\" cannot list resource \"agents\""), "{message}");

    let (status, body) = world.call(Method::GET, &agents, Some(VIEWER_TOKEN), None).await;
    assert_eq!(status, 200, "{body}");
    let invoke = paths::fill(paths::AGENT_INVOKE, &[world.ns(), "worker"]);
    let (status, body) =
        world.call(Method::POST, &invoke, Some(VIEWER_TOKEN), Some(&json!({"input": "hi"}))).await;
    assert_eq!(status, 403, "a viewer may not invoke: {body}");
    assert!(
        body["message"].as_str().unwrap_or_default().contains("cannot create resource \"agents/invoke\""),
        "{body}"
    );

    // Another namespace is another permission.
    let elsewhere = paths::fill(paths::AGENTS, &["elsewhere"]);
    let (status, _) = world.call(Method::GET, &elsewhere, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 403);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_endpoint_and_unknown_paths_are_404() {
    let world = ApiWorld::start(binaries().await, "api-openapi", |_| {}).await;
    let (status, document) = world.call(Method::GET, paths::OPENAPI, None, None).await;
    assert_eq!(status, 200);
    let described = document["paths"].as_object().expect("paths");
    for path in [paths::AGENTS, paths::AGENT, paths::AGENT_INVOKE, paths::AGENT_TASKS, paths::AGENT_TASK] {
        assert!(described.contains_key(path), "{path} is not in the OpenAPI document");
    }
    assert!(document["components"]["schemas"]["InvokeRequest"].is_object(), "{}", document["components"]);
    let (status, body) = world.get("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    world.stop().await;
}
