//! Who may ask, as the API decides it behind the service proxy: the RoleBinding to
//! `agentry-api-user` lets the asker in, the outsider gets the API's 403 naming the permission,
//! a request with no API token at all gets its 401; an unknown agent is the API's 404, and
//! without the API's Service the CLI says the API is not installed.

use agentry_api_contract::paths;
use agentry_tests::scripted_model::Step;
use serde_json::Value;

use crate::agentry::Caller;
use crate::world::{API_NAMESPACE, API_SERVICE, CliWorld, HELPER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_bound_service_account_may_ask_and_a_missing_token_or_api_is_explained() {
    let world = CliWorld::start("cli-access").await;
    let question = ["ask", HELPER, "May I?"];

    let refused = world.run(Caller::Outsider, &question).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let outsider = format!("system:serviceaccount:{}:outsider", world.ns());
    assert!(
        refused.stderr.starts_with("error: forbidden: ")
            && refused.stderr.contains(&outsider)
            && refused.stderr.contains("cannot create resource \"agents/invoke\""),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
    assert_eq!(world.world.model.request_count(), 0, "a refused question reaches no model");

    world.world.model.push(Step::text("You may."));
    assert_eq!(world.succeed(&question).await, "You may.\n");

    // The API's own 404 is its message, not the proxy's "not installed".
    let unknown = world.run(Caller::Asker, &["ask", "nobody-here", "Hello?"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert_eq!(
        unknown.stderr,
        format!("error: there is no Agent \"nobody-here\" in namespace \"{}\"\n", world.ns())
    );

    no_api_token_is_the_apis_401(&world).await;

    let nowhere = world.run(Caller::Kubeconfig, &["--api-namespace", "nowhere", "agents", "list"]).await;
    assert_eq!(nowhere.code, Some(1), "{nowhere:?}");
    assert_eq!(
        nowhere.stderr,
        "error: the Agentry API is not installed in namespace nowhere (no Service agentry-api): \
         install the chart or pass --api-namespace\n"
    );
    world.stop().await;
}

/// Through the service proxy with the cluster admin's token in `Authorization` (which the
/// apiserver authenticates and then strips) and no `X-Agentry-Authorization`: the API itself
/// answers 401 `unauthenticated`.
async fn no_api_token_is_the_apis_401(world: &CliWorld) {
    let cluster = world.world.cluster();
    let url = format!(
        "{}/api/v1/namespaces/{API_NAMESPACE}/services/http:{API_SERVICE}:http/proxy{}",
        cluster.url().trim_end_matches('/'),
        paths::fill(paths::AGENTS, &[world.ns()])
    );
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(cluster.admin_token())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthenticated")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("no bearer token")), "{body}");
}
