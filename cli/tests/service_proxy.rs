//! The real `agentry` binary reaching the API through the apiserver's service proxy, with a
//! scripted server in the apiserver's place: the proxy path, both credentials (the kubeconfig's
//! for the apiserver, the bearer token again for the API), and the apiserver's own failures
//! turned into advice.

mod fixture;

use fixture::{FakeApi, Home, agentry, agentry_run};
use serde_json::json;

const PROXY: &str = "/api/v1/namespaces/agentry-system/services/http:agentry-api:http/proxy";

fn status(code: u16, reason: &str, message: &str) -> serde_json::Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

#[tokio::test]
async fn requests_go_through_the_service_proxy_with_both_credentials() {
    let apiserver = FakeApi::start().await;
    let home = Home::new(&apiserver.url, "fleet", "    token: tok-1");
    apiserver.on_json("GET", &format!("{PROXY}/api/v1/namespaces/fleet/agents"), 200, json!({"items": []}));

    let run = agentry_run(&home, &["agents", "list"]).await;

    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "No agents found in namespace fleet.\n", "like kubectl, on stderr");
    let seen = &apiserver.seen()[0];
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer tok-1"),
        "the apiserver authenticates the kubeconfig user"
    );
    assert_eq!(
        seen.header("x-agentry-authorization"),
        Some("Bearer tok-1"),
        "the API gets the token past the proxy"
    );
}

#[tokio::test]
async fn the_api_service_and_namespace_can_be_chosen() {
    let apiserver = FakeApi::start().await;
    let home = Home::new(&apiserver.url, "fleet", "    token: tok-1");
    let proxy = "/api/v1/namespaces/ai/services/http:agentry:http/proxy";
    apiserver.on_json(
        "GET",
        &format!("{proxy}/api/v1/namespaces/fleet/costs"),
        200,
        json!({"since": "a", "until": "b", "lines": [], "totalCostUsd": 0.0}),
    );

    let run =
        agentry_run(&home, &["--api-namespace", "ai", "--api-service", "agentry", "costs", "-o", "json"])
            .await;
    assert_eq!(run.code, Some(0), "{run:?}");

    let mut command = agentry(&home, &["costs"]);
    command.env("AGENTRY_API_NAMESPACE", "ai").env("AGENTRY_API_SERVICE", "agentry");
    let run = fixture::run(command).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(apiserver.seen().len(), 2);
}

#[tokio::test]
async fn the_proxys_failures_say_what_to_do() {
    let apiserver = FakeApi::start().await;
    let home = Home::new(&apiserver.url, "fleet", "    token: tok-1");
    let agents = format!("{PROXY}/api/v1/namespaces/fleet/agents");
    apiserver.on_json("GET", &agents, 404, status(404, "NotFound", "services \"agentry-api\" not found"));
    apiserver.on_json(
        "GET",
        &agents,
        503,
        status(503, "ServiceUnavailable", "no endpoints available for service \"agentry-api\""),
    );
    apiserver.on_json("GET", &agents, 403, status(403, "Forbidden",
        "services \"http:agentry-api:http\" is forbidden: User \"jane\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"agentry-system\""));
    apiserver.on_json("GET", &agents, 401, status(401, "Unauthorized", "Unauthorized"));

    let stderr = |run: fixture::Run| {
        assert_eq!(run.code, Some(1), "{run:?}");
        run.stderr
    };
    assert_eq!(
        stderr(agentry_run(&home, &["agents", "list"]).await),
        "error: the Agentry API is not installed in namespace agentry-system (no Service agentry-api): \
         install the chart or pass --api-namespace\n"
    );
    assert!(
        stderr(agentry_run(&home, &["agents", "list"]).await)
            .starts_with("error: the Agentry operator is not running")
    );
    let forbidden = stderr(agentry_run(&home, &["agents", "list"]).await);
    assert!(forbidden.contains("cannot get resource \"services/proxy\""), "{forbidden}");
    assert!(
        forbidden.contains("needs get and create on services/proxy in namespace agentry-system"),
        "{forbidden}"
    );
    assert!(
        stderr(agentry_run(&home, &["agents", "list"]).await)
            .starts_with("error: not authenticated to the Kubernetes API server")
    );
}

#[tokio::test]
async fn the_apis_own_errors_pass_through_the_proxy_unchanged() {
    let apiserver = FakeApi::start().await;
    let home = Home::new(&apiserver.url, "fleet", "    token: tok-1");
    apiserver.on_json(
        "GET",
        &format!("{PROXY}/api/v1/namespaces/fleet/sessions/nope"),
        404,
        json!({"code": "not_found", "message": "no session \"nope\" in namespace fleet"}),
    );

    let run = agentry_run(&home, &["sessions", "show", "nope"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (Some(1), "error: no session \"nope\" in namespace fleet\n"));
}

#[tokio::test]
async fn an_unreachable_apiserver_names_it() {
    let home = Home::new("http://127.0.0.1:9", "fleet", "    token: tok-1");
    let run = agentry_run(&home, &["agents", "list"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.starts_with("error: cannot reach http://127.0.0.1:9/"), "{}", run.stderr);
}
