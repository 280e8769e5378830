//! The service proxy (`/api/v1/namespaces/<ns>/services/<svc>/proxy/<path>`) forwarding to a real
//! HTTP server through a Service's Endpoints, and Endpoints themselves, checked against what
//! kube-apiserver does (its service `ResourceLocation` and upgrade-aware proxy handler).

mod common;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_devcluster::DevCluster;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use common::Kubectl;

/// How long one proxied answer (or one event of a stream) may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// The backend's answer to every path but `/events`: what it received.
async fn echo(request: Request) -> axum::Json<Value> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default())))
        .collect();
    axum::Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// A backend on 127.0.0.1: `/events` streams Server-Sent Events, one for each string the test
/// sends on the returned channel; every other path echoes the request.
async fn backend() -> (u16, mpsc::UnboundedSender<String>) {
    let (events, receiver) = mpsc::unbounded_channel::<String>();
    let receiver = Arc::new(Mutex::new(Some(receiver)));
    let app = Router::new()
        .route(
            "/events",
            axum::routing::get(move || {
                let receiver = receiver.lock().expect("lock").take();
                async move {
                    let stream = futures::stream::unfold(receiver, |receiver| async move {
                        let mut receiver = receiver?;
                        let event = receiver.recv().await?;
                        Some((
                            Ok::<_, std::io::Error>(Bytes::from(format!("data: {event}\n\n"))),
                            Some(receiver),
                        ))
                    });
                    Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::from_stream(stream))
                        .expect("response")
                }
            }),
        )
        .fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("backend binds");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, events)
}

/// Service `name` in `default` with one port `http` (80 -> `target`), and its Endpoints `subsets`.
async fn service(cluster: &DevCluster, name: &str, target: u16, subsets: Value) {
    let services: Api<Service> = Api::namespaced(cluster.client(), "default");
    let svc = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": target}]}}))
    .expect("service");
    services.create(&PostParams::default(), &svc).await.expect("service created");
    let endpoints: Api<Endpoints> = Api::namespaced(cluster.client(), "default");
    let ep =
        serde_json::from_value(json!({"metadata": {"name": name}, "subsets": subsets})).expect("endpoints");
    endpoints.create(&PostParams::default(), &ep).await.expect("endpoints created");
}

fn ready_at(port: u16) -> Value {
    json!([{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}])
}

/// A request to devcluster on a fresh connection: its status, headers and (unread) body.
async fn send(
    cluster: &DevCluster,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> hyper::Response<Incoming> {
    let address = cluster.url().trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.expect("devcluster reachable");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder().method(method).uri(path).header("host", address);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.to_owned())).expect("request");
    tokio::time::timeout(DEADLINE, sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("answered")
}

/// The next piece of `body` as it arrives, `None` at its end.
async fn next_chunk(body: &mut Incoming) -> Option<Bytes> {
    loop {
        let frame = poll_fn(|cx| hyper::body::Body::poll_frame(Pin::new(&mut *body), cx));
        match tokio::time::timeout(DEADLINE, frame).await.expect("a chunk in time")? {
            Ok(frame) => match frame.into_data() {
                Ok(data) => return Some(data),
                Err(_) => continue,
            },
            Err(err) => panic!("body failed: {err}"),
        }
    }
}

/// The next Server-Sent Event of `body` (`received` keeps what came after it).
async fn next_event(body: &mut Incoming, received: &mut String) -> String {
    loop {
        if let Some((event, rest)) = received.split_once("\n\n") {
            let (event, rest) = (event.to_owned(), rest.to_owned());
            *received = rest;
            return event;
        }
        let chunk = next_chunk(body).await.expect("the stream goes on");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The whole body of `response`, as JSON.
async fn json_body(response: hyper::Response<Incoming>) -> Value {
    let mut body = response.into_body();
    let mut all = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await {
        all.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&all).unwrap_or_else(|_| json!(String::from_utf8_lossy(&all)))
}

const PROXY: &str = "/api/v1/namespaces/default/services";

#[tokio::test]
async fn requests_reach_the_backend_with_method_query_body_and_headers_but_not_the_credential() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let (port, _events) = backend().await;
    service(&cluster, "api", port, ready_at(port)).await;

    // By port name: GET with a query and headers; the caller's Authorization (a credential the
    // apiserver accepts: another would get 401) stays behind.
    let credential = format!("Bearer {}", cluster.admin_token());
    let response = send(
        &cluster,
        "GET",
        &format!("{PROXY}/api:http/proxy/v1/agents?limit=5&q=a%20b"),
        &[("authorization", credential.as_str()), ("x-request-id", "r-1"), ("accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = json_body(response).await;
    assert_eq!((seen["method"].as_str(), seen["path"].as_str()), (Some("GET"), Some("/v1/agents")));
    assert_eq!(seen["query"], "limit=5&q=a%20b");
    assert_eq!(seen["headers"]["x-request-id"], "r-1");
    assert_eq!(seen["headers"]["accept"], "application/json");
    assert!(seen["headers"].get("authorization").is_none(), "credential forwarded: {seen}");
    assert_eq!(seen["headers"]["x-forwarded-uri"], format!("{PROXY}/api:http/proxy/v1/agents"));
    // The caller's Host is kept (Go's reverse proxy does not rewrite it); its address is added.
    assert_eq!(seen["headers"]["host"], cluster.url().trim_start_matches("http://"));
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");

    // By scheme and port number: POST with a body.
    let response = send(
        &cluster,
        "POST",
        &format!("{PROXY}/http:api:80/proxy/v1/sessions"),
        &[("content-type", "application/json")],
        r#"{"agent":"fleet-manager"}"#,
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = json_body(response).await;
    assert_eq!((seen["method"].as_str(), seen["path"].as_str()), (Some("POST"), Some("/v1/sessions")));
    assert_eq!(seen["body"], r#"{"agent":"fleet-manager"}"#);
    assert_eq!(seen["headers"]["content-type"], "application/json");

    // kube-rs reaches it too, with the kubeconfig's bearer token, which is not forwarded either.
    let request = axum::http::Request::get(format!("{PROXY}/api:http/proxy/v1/health"))
        .body(Vec::new())
        .expect("request");
    let text = cluster.client().request_text(request).await.expect("kube-rs proxied request");
    let seen: Value = serde_json::from_str(&text).expect("echo");
    assert_eq!(seen["path"], "/v1/health");
    assert!(seen["headers"].get("authorization").is_none(), "credential forwarded: {seen}");

    // An empty proxied path is redirected to `…/proxy/`, the query kept.
    let response = send(&cluster, "GET", &format!("{PROXY}/api:http/proxy?x=1"), &[], "").await;
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()["location"], format!("{PROXY}/api:http/proxy/?x=1"));
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let (port, events) = backend().await;
    service(&cluster, "api", port, ready_at(port)).await;

    let response = send(
        &cluster,
        "GET",
        &format!("{PROXY}/api:http/proxy/events"),
        &[("accept", "text/event-stream")],
        "",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();

    // The second event is sent only once the first has come through the proxy: the proxy
    // passes each on as it arrives, not when the stream ends.
    let mut received = String::new();
    events.send("one".into()).expect("backend listening");
    assert_eq!(next_event(&mut body, &mut received).await, "data: one");
    events.send("two".into()).expect("backend listening");
    assert_eq!(next_event(&mut body, &mut received).await, "data: two");
    drop(events);
    assert_eq!(next_chunk(&mut body).await, None, "the stream ends when the backend's does");
}

#[tokio::test]
async fn unreachable_services_are_refused_as_the_apiserver_refuses_them() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let (port, _events) = backend().await;
    service(&cluster, "api", port, ready_at(port)).await;
    service(&cluster, "idle", port, json!([])).await;
    let not_ready =
        json!([{"notReadyAddresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}]);
    service(&cluster, "starting", port, not_ready).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    service(&cluster, "down", closed, ready_at(closed)).await;

    let refusal = |code: u16, reason: &str, message: &str| (code, json!(reason), json!(message));
    let cases = [
        // By name, only the Endpoints are read: a missing Service is a missing Endpoints object.
        ("ghost:http", refusal(404, "NotFound", r#"endpoints "ghost" not found"#)),
        // By number, the Service is read to name the port.
        ("ghost:80", refusal(404, "NotFound", r#"services "ghost" not found"#)),
        ("api:81", refusal(503, "ServiceUnavailable", r#"no service port 81 found for service "api""#)),
        ("idle:http", refusal(503, "ServiceUnavailable", r#"no endpoints available for service "idle""#)),
        (
            "starting:http",
            refusal(503, "ServiceUnavailable", r#"no endpoints available for service "starting:http""#),
        ),
        // No port named: the endpoint port without a name, which a named Service port is not.
        ("api", refusal(503, "ServiceUnavailable", r#"no endpoints available for service "api""#)),
        (
            "down:http",
            refusal(
                503,
                "ServiceUnavailable",
                &format!(
                    "error trying to reach service: dial tcp 127.0.0.1:{closed}: connect: connection refused"
                ),
            ),
        ),
    ];
    for (service, (code, reason, message)) in cases {
        let response = send(&cluster, "GET", &format!("{PROXY}/{service}/proxy/x"), &[], "").await;
        let status = response.status().as_u16();
        let body = json_body(response).await;
        assert_eq!(
            (status, body["reason"].clone(), body["message"].clone()),
            (code, reason, message),
            "{service}"
        );
        assert_eq!((body["kind"].as_str(), body["code"].as_u64()), (Some("Status"), Some(u64::from(code))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_endpoints() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let subsets = json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"name": "http", "port": 8080}]}]);
    service(&cluster, "api", 8080, subsets).await;
    let kubectl = Kubectl::new(cluster.kubeconfig_path());

    let out = kubectl.ok(&["get", "endpoints", "api", "-o", "json"]).await;
    let endpoints: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(endpoints["kind"], "Endpoints");
    assert_eq!(endpoints["subsets"][0]["addresses"][1]["ip"], "10.0.0.2");
    // The short name and the server's table: ENDPOINTS lists ip:port.
    let out = kubectl.ok(&["get", "ep"]).await;
    let header = out.lines().next().unwrap_or_default();
    assert!(header.contains("NAME") && header.contains("ENDPOINTS") && header.contains("AGE"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("api") && l.contains("10.0.0.1:8080,10.0.0.2:8080")), "{out}");
    cluster.shutdown().await;
}
