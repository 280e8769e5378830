//! The real `agentry` binary against devcluster's service proxy (the apiserver's behaviour:
//! Endpoints pick the backend, `Authorization` is dropped, answers stream through), with a
//! scripted API on 127.0.0.1 behind it: what reaches the API, and what the CLI says when the
//! Service is missing or has no endpoints.

mod fixture;

use std::time::Duration;

use agentry_api_contract::invoke::{InvokeResponse, StreamItem};
use agentry_devcluster::DevCluster;
use axum::body::Bytes;
use fixture::{FakeApi, Home, Reply, agentry, agentry_run};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Service};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

const API_NAMESPACE: &str = "agentry-system";

async fn create<K>(api: Api<K>, object: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(object).expect("a valid object");
    api.create(&PostParams::default(), &object).await.expect("created");
}

/// The API's Service (port `http`) in agentry-system, with Endpoints at `port` on 127.0.0.1, or
/// none ready when `port` is `None`.
async fn install_api_service(cluster: &DevCluster, port: Option<u16>) {
    let client = cluster.client();
    create(Api::<Namespace>::all(client.clone()), json!({"metadata": {"name": API_NAMESPACE}})).await;
    create(
        Api::<Service>::namespaced(client.clone(), API_NAMESPACE),
        json!({"metadata": {"name": "agentry-api"},
               "spec": {"selector": {"app": "agentry-operator"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
    )
    .await;
    let subsets = match port {
        Some(port) => {
            json!([{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}])
        }
        None => json!([]),
    };
    create(
        Api::<Endpoints>::namespaced(client, API_NAMESPACE),
        json!({"metadata": {"name": "agentry-api"}, "subsets": subsets}),
    )
    .await;
}

async fn replace_endpoints(cluster: &DevCluster, port: u16) {
    let endpoints = Api::<Endpoints>::namespaced(cluster.client(), API_NAMESPACE);
    let mut current = endpoints.get("agentry-api").await.expect("endpoints");
    current.subsets = Some(
        serde_json::from_value(
            json!([{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}]),
        )
        .expect("subsets"),
    );
    endpoints.replace("agentry-api", &PostParams::default(), &current).await.expect("endpoints replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_devclusters_proxy_the_api_gets_the_users_token_and_failures_become_advice() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let home = Home::with_kubeconfig(cluster.kubeconfig_path());
    let api = FakeApi::start().await;
    let port: u16 = api.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the fake API's port");

    let run = agentry_run(&home, &["agents", "list"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "error: the Agentry API is not installed in namespace agentry-system (no Service agentry-api): \
         install the chart or pass --api-namespace\n"
    );

    install_api_service(&cluster, None).await;
    let run = agentry_run(&home, &["agents", "list"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.starts_with("error: the Agentry operator is not running"), "{}", run.stderr);

    replace_endpoints(&cluster, port).await;
    api.on_json("GET", "/api/v1/namespaces/default/agents", 200, json!({"items": []}));
    let run = agentry_run(&home, &["agents", "list", "-o", "json"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let seen = &api.seen()[0];
    assert_eq!(seen.path, "/api/v1/namespaces/default/agents", "the proxy prefix is gone");
    let admin = format!("Bearer {}", cluster.admin_token());
    assert_eq!(seen.header("x-agentry-authorization"), Some(admin.as_str()), "the kubeconfig's token, again");
    assert_eq!(seen.header("authorization"), None, "the apiserver kept the credential it authenticated");

    // A token of the user's choosing reaches the API while the kubeconfig's authenticates to the apiserver.
    api.on_json("GET", "/api/v1/namespaces/fleet/sessions", 200, json!({"items": []}));
    let token_file = home.file("token", "service-account-token\n");
    let run = agentry_run(
        &home,
        &["-n", "fleet", "--token-file", &fixture::arg(&token_file), "sessions", "list", "--since", "1h"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let seen = &api.seen()[1];
    assert_eq!(seen.header("x-agentry-authorization"), Some("Bearer service-account-token"));
    assert!(seen.query.as_deref().is_some_and(|q| q.starts_with("since=")), "{seen:?}");

    streamed_tokens_pass_through_as_they_arrive(&home, &api).await;
    cluster.shutdown().await;
}

/// `ask --stream` through the proxy prints the first token while the run is still going.
async fn streamed_tokens_pass_through_as_they_arrive(home: &Home, api: &FakeApi) {
    let (chunks, stream) = tokio::sync::mpsc::unbounded_channel();
    api.on("POST", "/api/v1/namespaces/default/agents/analyst/invoke/stream", Reply::Stream(stream));
    let event = |item: &StreamItem| {
        Bytes::from(format!(
            "event: {}\ndata: {}\n\n",
            item.event_name(),
            serde_json::to_string(item).unwrap()
        ))
    };
    let mut child = agentry(home, &["ask", "analyst", "Hi", "--stream"]).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    chunks.send(event(&StreamItem::Token { text: "Hel".into() })).unwrap();
    let mut printed = Vec::new();
    let mut buffer = [0u8; 64];
    while !printed.ends_with(b"Hel") {
        let read = tokio::time::timeout(Duration::from_secs(20), stdout.read(&mut buffer))
            .await
            .expect("the first token comes through the proxy before the run ends")
            .unwrap();
        assert!(read > 0, "stdout closed early: {}", String::from_utf8_lossy(&printed));
        printed.extend_from_slice(&buffer[..read]);
    }
    let reply: InvokeResponse = serde_json::from_value(json!({"requestId": "r-1", "output": "Hello",
        "usage": {"inputTokens": 1, "outputTokens": 1, "costUsd": 0.0}, "messageCount": 2}))
    .unwrap();
    chunks.send(event(&StreamItem::Token { text: "lo".into() })).unwrap();
    chunks.send(event(&StreamItem::Reply(reply))).unwrap();
    drop(chunks);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let output =
        tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(format!("{}{rest}", String::from_utf8_lossy(&printed)), "Hello\n");
}
