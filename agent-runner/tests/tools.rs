//! The toolbox against a real local HTTP server (axum on 127.0.0.1:0): request shapes, secrets,
//! timeouts, error statuses, truncation, concurrency and rate limits; and agent tools through a
//! fake [`Delegate`] (the real NATS delegation is tested with the runner).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_protocol::runner_config::ToolDefinition;
use agentry_runner::metrics::RunnerMetrics;
use agentry_runner::model::chat::ToolCall;
use agentry_runner::tools::{CallContext, Delegate, DelegationError, NoDelegation, ToolBox, ToolFailure};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::time::Instant;

const SECRET: &str = "k3y-s3cr3t-value";

/// What the server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Server {
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    together: Option<Barrier>,
}

impl Server {
    fn record(&self, method: Method, path: String, query: Option<String>, headers: HeaderMap, body: String) {
        self.seen.lock().expect("lock").push(Seen { method, path, query, headers, body });
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

type Shared = State<Arc<Server>>;

async fn echo(
    State(server): Shared,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> axum::Json<Value> {
    server.record(method.clone(), format!("/echo/{rest}"), query.clone(), headers, body.clone());
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    axum::Json(json!({"method": method.as_str(), "path": rest, "query": query, "body": body}))
}

/// 401 that echoes the key it got, as careless APIs do.
async fn reject_key(State(server): Shared, headers: HeaderMap) -> (StatusCode, String) {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    server.record(Method::GET, "/reject".into(), None, headers, String::new());
    (StatusCode::UNAUTHORIZED, format!("invalid API key {key}"))
}

async fn slow(State(server): Shared) -> &'static str {
    server.record(Method::GET, "/slow".into(), None, HeaderMap::new(), String::new());
    tokio::time::sleep(Duration::from_secs(60)).await;
    "too late"
}

async fn fail() -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, format!("upstream exploded {}", "x".repeat(5_000)))
}

async fn big() -> String {
    "a".repeat(100_000)
}

/// Answers only once a second request is being handled at the same time (or fails after 10 s):
/// two calls succeed only if they overlapped.
async fn together(State(server): Shared, Path(n): Path<u32>) -> (StatusCode, String) {
    let now = server.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    server.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let Some(barrier) = &server.together else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no barrier".into());
    };
    let met = tokio::time::timeout(Duration::from_secs(10), barrier.wait()).await.is_ok();
    server.in_flight.fetch_sub(1, Ordering::SeqCst);
    if met { (StatusCode::OK, format!("call {n} done")) } else { (StatusCode::CONFLICT, "alone".into()) }
}

/// A redirect to this server's port on 127.0.0.1 (`loopback`), or to the cloud metadata address.
async fn redirect(Path(to): Path<String>, headers: HeaderMap) -> (StatusCode, [(&'static str, String); 1]) {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let port = host.rsplit_once(':').map_or("80", |(_, port)| port);
    let location = match to.as_str() {
        "loopback" => format!("http://127.0.0.1:{port}/echo/inside"),
        _ => "http://169.254.169.254/latest/meta-data/".to_string(),
    };
    (StatusCode::FOUND, [("location", location)])
}

async fn start(server: Server) -> (SocketAddr, Arc<Server>) {
    let server = Arc::new(server);
    let app = Router::new()
        .route("/echo/{*rest}", any(echo))
        .route("/reject", get(reject_key))
        .route("/slow", get(slow))
        .route("/fail", get(fail))
        .route("/big", get(big))
        .route("/together/{n}", get(together))
        .route("/redirect/{to}", get(redirect))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, server)
}

fn http_tool(name: &str, method: &str, url: String, extra: Value) -> ToolDefinition {
    let mut def = json!({
        "name": name,
        "description": format!("{method} {url}"),
        // The test server is on loopback, which a Tool must allow by name.
        "implementation": {"type": "http", "method": method, "url": url, "allowPrivateNetworks": ["127.0.0.1/32"]},
    });
    if let (Some(def), Some(extra)) = (def.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            if key == "implementation" {
                if let (Some(implementation), Some(fields)) =
                    (def.get_mut("implementation").and_then(Value::as_object_mut), value.as_object())
                {
                    implementation.extend(fields.clone());
                }
            } else {
                def.insert(key.clone(), value.clone());
            }
        }
    }
    serde_json::from_value(def).expect("tool definition")
}

fn env(name: &str) -> Option<String> {
    (name == "WEATHER_KEY").then(|| SECRET.to_string())
}

fn toolbox(defs: &[ToolDefinition]) -> ToolBox {
    toolbox_with(defs, Arc::new(NoDelegation))
}

fn toolbox_with(defs: &[ToolDefinition], delegate: Arc<dyn Delegate>) -> ToolBox {
    toolbox_and_metrics(defs, delegate).0
}

fn toolbox_and_metrics(
    defs: &[ToolDefinition],
    delegate: Arc<dyn Delegate>,
) -> (ToolBox, Arc<RunnerMetrics>) {
    let metrics = Arc::new(RunnerMetrics::new("test", "agent").expect("metrics"));
    (ToolBox::new(defs, &env, delegate, metrics.clone()).expect("toolbox"), metrics)
}

/// An http tool with no allowance: the default every Tool gets.
fn unallowed(name: &str, url: String, allowance: Value) -> ToolDefinition {
    let mut implementation = json!({"allowPrivateNetworks": []});
    if let (Some(fields), Some(extra)) = (implementation.as_object_mut(), allowance.as_object()) {
        fields.extend(extra.clone());
    }
    http_tool(name, "GET", url, json!({"implementation": implementation}))
}

fn ctx() -> CallContext {
    CallContext {
        traceparent: None,
        request_id: "req-1".into(),
        session_id: Some("s-1".into()),
        delegation_path: vec!["agent".into()],
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall { id: format!("id-{name}"), name: name.into(), arguments }
}

#[tokio::test]
async fn get_fills_the_path_template_and_sends_the_rest_as_query() {
    let (addr, server) = start(Server::default()).await;
    let tool = http_tool(
        "lookup",
        "GET",
        format!("http://{addr}/echo/items/{{id}}?fixed=1"),
        json!({"inputSchema": {"type": "object", "properties": {"id": {"type": "string"}, "limit": {"type": "integer"}},
                               "required": ["id"]},
               "implementation": {"headers": {"Accept": "application/json"}}}),
    );
    let tools = toolbox(&[tool]);
    let out =
        tools.call(&call("lookup", json!({"id": "a b/c", "limit": 5, "tag": ["x", "y"]})), &ctx()).await;
    assert!(out.ok, "{out:?}");
    let answer: Value = serde_json::from_str(&out.content).expect("JSON body passed through");
    assert_eq!(answer["path"], "items/a b/c", "one encoded segment, decoded by the server");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].query.as_deref(), Some("fixed=1&limit=5&tag=x&tag=y"));
    assert_eq!(seen[0].headers.get("accept").and_then(|v| v.to_str().ok()), Some("application/json"));
    assert_eq!(seen[0].body, "");
}

#[tokio::test]
async fn post_sends_the_remaining_arguments_as_a_json_body() {
    let (addr, server) = start(Server::default()).await;
    let tool =
        http_tool("order", "POST", format!("http://{addr}/echo/customers/{{customer}}/orders"), json!({}));
    let tools = toolbox(&[tool]);
    let args = json!({"customer": 42, "item": "widget", "quantity": 3, "gift": {"wrap": true}});
    let out = tools.call(&call("order", args), &ctx()).await;
    assert!(out.ok, "{out:?}");
    let seen = server.seen();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].path, "/echo/customers/42/orders");
    assert_eq!(seen[0].headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let body: Value = serde_json::from_str(&seen[0].body).expect("JSON body");
    assert_eq!(body, json!({"item": "widget", "quantity": 3, "gift": {"wrap": true}}));
    assert_eq!(seen[0].query, None);
}

#[tokio::test]
async fn a_missing_path_argument_is_an_argument_error_and_sends_nothing() {
    let (addr, server) = start(Server::default()).await;
    let tools = toolbox(&[http_tool("lookup", "GET", format!("http://{addr}/echo/items/{{id}}"), json!({}))]);
    let out = tools.call(&call("lookup", json!({"limit": 1})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::InvalidArguments));
    assert_eq!(out.content, "argument `id` is required: the URL contains {id}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn schema_refusals_never_reach_the_server() {
    let (addr, server) = start(Server::default()).await;
    let tool = http_tool(
        "lookup",
        "GET",
        format!("http://{addr}/echo/items/{{id}}"),
        json!({"inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}),
    );
    let tools = toolbox(&[tool]);
    let out = tools.call(&call("lookup", json!({"id": "seven"})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::InvalidArguments));
    assert!(out.content.contains("argument `/id`: \"seven\" is not of type \"integer\""), "{}", out.content);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn secret_headers_are_delivered_but_never_shown() {
    let (addr, server) = start(Server::default()).await;
    let secret = json!({"implementation": {"secretHeaders": [{"name": "X-Api-Key", "env": "WEATHER_KEY"}]}});
    let tools = toolbox(&[
        http_tool("weather", "GET", format!("http://{addr}/echo/weather"), secret.clone()),
        http_tool("reject", "GET", format!("http://{addr}/reject"), secret),
    ]);
    let out = tools.call(&call("weather", json!({"city": "Oslo"})), &ctx()).await;
    assert!(out.ok, "{out:?}");
    let out = tools.call(&call("reject", json!({})), &ctx()).await;
    assert!(!out.ok);
    assert_eq!(out.failure, Some(ToolFailure::Error));
    assert!(
        out.content.starts_with(&format!("HTTP 401 Unauthorized from GET http://{addr}/reject")),
        "{}",
        out.content
    );
    assert!(out.content.contains("invalid API key [REDACTED]"), "{}", out.content);
    assert!(!out.content.contains(SECRET), "{}", out.content);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for request in seen {
        assert_eq!(request.headers.get("x-api-key").and_then(|v| v.to_str().ok()), Some(SECRET));
    }
}

#[tokio::test]
async fn a_slow_server_times_out_at_the_tool_timeout() {
    let (addr, server) = start(Server::default()).await;
    let tools =
        toolbox(&[http_tool("slow", "GET", format!("http://{addr}/slow"), json!({"timeoutSeconds": 1}))]);
    let out = tools.call(&call("slow", json!({})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::Timeout));
    assert_eq!(out.content, "tool \"slow\" did not finish within its timeout of 1 s");
    assert!(out.duration >= Duration::from_secs(1));
    assert_eq!(server.seen().len(), 1, "the request was sent");
}

#[tokio::test]
async fn the_request_deadline_bounds_the_tool_timeout() {
    let (addr, _server) = start(Server::default()).await;
    let tools = toolbox(&[http_tool("slow", "GET", format!("http://{addr}/slow"), json!({}))]);
    let short = CallContext { deadline: Instant::now() + Duration::from_millis(200), ..ctx() };
    let out = tools.call(&call("slow", json!({})), &short).await;
    assert_eq!(out.failure, Some(ToolFailure::Timeout));
    assert_eq!(out.content, "tool \"slow\" was stopped: the request's deadline was reached");
}

#[tokio::test]
async fn an_error_status_gives_the_status_and_a_short_excerpt() {
    let (addr, _server) = start(Server::default()).await;
    let tools = toolbox(&[http_tool("fail", "GET", format!("http://{addr}/fail"), json!({}))]);
    let out = tools.call(&call("fail", json!({})), &ctx()).await;
    assert!(!out.ok);
    assert_eq!(out.failure, Some(ToolFailure::Error));
    assert!(
        out.content.starts_with(&format!(
            "HTTP 503 Service Unavailable from GET http://{addr}/fail: upstream exploded"
        )),
        "{}",
        out.content
    );
    assert!(out.content.chars().count() < 700, "excerpt only: {} chars", out.content.len());
    assert!(out.content.ends_with('…'));
}

#[tokio::test]
async fn a_large_body_is_cut_at_the_cap_and_marked() {
    let (addr, _server) = start(Server::default()).await;
    let tools = toolbox(&[http_tool(
        "big",
        "GET",
        format!("http://{addr}/big"),
        json!({"implementation": {"maxResponseBytes": 1000}}),
    )]);
    let out = tools.call(&call("big", json!({})), &ctx()).await;
    assert!(out.ok, "{}", &out.content[..100]);
    let (body, mark) = out.content.split_at(1000);
    assert!(body.bytes().all(|b| b == b'a'));
    assert_eq!(mark, "\n[response truncated: it exceeded 1000 bytes]");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_naming_the_url() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let tools = toolbox(&[http_tool("gone", "GET", format!("http://{addr}/x"), json!({}))]);
    let out = tools.call(&call("gone", json!({})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::Error));
    assert!(out.content.starts_with(&format!("GET http://{addr}/x failed: ")), "{}", out.content);
    assert!(out.content.to_lowercase().contains("connect"), "{}", out.content);
}

#[tokio::test]
async fn call_all_runs_http_calls_concurrently() {
    let (addr, server) = start(Server { together: Some(Barrier::new(2)), ..Server::default() }).await;
    let tools = toolbox(&[http_tool("together", "GET", format!("http://{addr}/together/{{n}}"), json!({}))]);
    let calls = [call("together", json!({"n": 1})), call("together", json!({"n": 2}))];
    let outcomes = tools.call_all(&calls, &ctx()).await;
    // Each request waits at the server until the other arrives: both succeed only if they overlapped.
    let contents: Vec<&str> = outcomes.iter().map(|o| o.content.as_str()).collect();
    assert_eq!(contents, ["call 1 done", "call 2 done"]);
    assert_eq!(server.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn over_the_rate_limit_calls_are_refused_without_a_request() {
    let (addr, server) = start(Server::default()).await;
    let tools = toolbox(&[http_tool(
        "limited",
        "GET",
        format!("http://{addr}/echo/limited"),
        json!({"rateLimitPerMinute": 1}),
    )]);
    let first = tools.call(&call("limited", json!({})), &ctx()).await;
    assert!(first.ok, "{first:?}");
    let second = tools.call(&call("limited", json!({})), &ctx()).await;
    assert_eq!(second.failure, Some(ToolFailure::RateLimited));
    assert!(
        second.content.starts_with("tool \"limited\" is rate limited to 1 calls per minute; retry in about")
    );
    assert_eq!(server.seen().len(), 1);
}

/// Answers from a script keyed by agent name.
struct ScriptedDelegate;

impl Delegate for ScriptedDelegate {
    fn ask<'a>(
        &'a self,
        agent: &'a str,
        input: String,
        ctx: &'a CallContext,
    ) -> Pin<Box<dyn Future<Output = Result<String, DelegationError>> + Send + 'a>> {
        Box::pin(async move {
            match agent {
                "finance" => Ok(format!("finance ({}) answers {input}", ctx.request_id)),
                "busy" => {
                    Err(DelegationError::PeerError { code: "busy".into(), message: "at capacity".into() })
                }
                "deep" => Err(DelegationError::DepthExceeded { depth: 4, max: 3 }),
                _ => Err(DelegationError::Unreachable(format!("no responders for {agent}"))),
            }
        })
    }
}

#[tokio::test]
async fn agent_tools_map_answers_and_delegation_errors() {
    let agent_tool = |name: &str, agent: &str| -> ToolDefinition {
        serde_json::from_value(
            json!({"name": name, "description": "ask", "implementation": {"type": "agent", "agent": agent}}),
        )
        .expect("agent tool")
    };
    let tools = toolbox_with(
        &[
            agent_tool("ask-finance", "finance"),
            agent_tool("ask-busy", "busy"),
            agent_tool("ask-deep", "deep"),
            agent_tool("ask-ghost", "ghost"),
        ],
        Arc::new(ScriptedDelegate),
    );
    let outcomes = tools
        .call_all(
            &[
                call("ask-finance", json!({"question": "Q3?"})),
                call("ask-busy", json!({"question": "?"})),
                call("ask-deep", json!({"question": "?"})),
                call("ask-ghost", json!({"question": "?"})),
            ],
            &ctx(),
        )
        .await;
    assert!(outcomes[0].ok);
    assert_eq!(outcomes[0].content, "finance (req-1) answers Q3?");
    assert_eq!(
        outcomes[1].content,
        "asking agent \"busy\" failed: the agent answered with an error (busy): at capacity"
    );
    assert!(outcomes[2].content.contains("4 agents deep and at most 3"), "{}", outcomes[2].content);
    assert_eq!(
        outcomes[3].content,
        "asking agent \"ghost\" failed: the agent could not be reached: no responders for ghost"
    );
    assert!(outcomes[1..].iter().all(|o| !o.ok && o.failure == Some(ToolFailure::Error)));
}

#[tokio::test]
async fn loopback_is_refused_by_default_naming_the_class_and_counted() {
    let (addr, server) = start(Server::default()).await;
    let defs = [
        unallowed("literal", format!("http://{addr}/echo/a"), json!({})),
        unallowed("named", format!("http://localhost:{}/echo/b", addr.port()), json!({})),
    ];
    let (tools, metrics) = toolbox_and_metrics(&defs, Arc::new(NoDelegation));
    for name in ["literal", "named"] {
        let out = tools.call(&call(name, json!({})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::AddressRefused), "{name}: {}", out.content);
        assert!(out.content.contains("loopback address"), "{name}: {}", out.content);
        assert!(out.content.contains("allowPrivateNetworks"), "{name}: {}", out.content);
        assert_eq!(metrics.tool_calls.with_label_values(&[name, "address_refused"]).get(), 1);
    }
    assert!(server.seen().is_empty(), "no request reached the server: {:?}", server.seen());
}

#[tokio::test]
async fn the_cloud_metadata_address_is_refused_before_any_connection() {
    let tools =
        toolbox(&[unallowed("metadata", "http://169.254.169.254/latest/meta-data/".into(), json!({}))]);
    let out = tools.call(&call("metadata", json!({})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::AddressRefused), "{}", out.content);
    assert!(
        out.content.contains("169.254.169.254") && out.content.contains("cloud metadata"),
        "{}",
        out.content
    );
}

#[tokio::test]
async fn a_named_network_or_host_opens_loopback_for_that_tool_only() {
    let (addr, server) = start(Server::default()).await;
    let by_host = format!("http://localhost:{}/echo/host", addr.port());
    let tools = toolbox(&[
        unallowed(
            "by-cidr",
            format!("http://{addr}/echo/cidr"),
            json!({"allowPrivateNetworks": ["127.0.0.0/8"]}),
        ),
        unallowed("by-host", by_host.clone(), json!({"allowedHosts": ["LOCALHOST"]})),
        unallowed(
            "other-net",
            format!("http://{addr}/echo/no"),
            json!({"allowPrivateNetworks": ["10.0.0.0/8"]}),
        ),
    ]);
    assert!(tools.call(&call("by-cidr", json!({})), &ctx()).await.ok);
    assert!(tools.call(&call("by-host", json!({})), &ctx()).await.ok);
    let out = tools.call(&call("other-net", json!({})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::AddressRefused), "{}", out.content);
    let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/echo/cidr", "/echo/host"]);
}

#[tokio::test]
async fn redirects_to_loopback_or_cloud_metadata_are_refused_at_the_hop() {
    let (addr, server) = start(Server::default()).await;
    let base = format!("http://localhost:{}", addr.port());
    let tools = toolbox(&[unallowed(
        "hop",
        format!("{base}/redirect/{{to}}"),
        json!({"allowedHosts": ["localhost"]}),
    )]);
    let out = tools.call(&call("hop", json!({"to": "loopback"})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::AddressRefused), "{}", out.content);
    assert!(out.content.contains("127.0.0.1") && out.content.contains("loopback"), "{}", out.content);
    let out = tools.call(&call("hop", json!({"to": "metadata"})), &ctx()).await;
    assert_eq!(out.failure, Some(ToolFailure::AddressRefused), "{}", out.content);
    assert!(out.content.contains("cloud metadata"), "{}", out.content);
    assert!(server.seen().is_empty(), "the redirect target was never asked: {:?}", server.seen());
}

#[test]
fn a_tool_with_secret_headers_cannot_take_its_host_from_the_model() {
    let def = http_tool(
        "exfiltrate",
        "GET",
        "http://{host}/x".into(),
        json!({"implementation": {"secretHeaders": [{"name": "Authorization", "env": "WEATHER_KEY"}]}}),
    );
    let metrics = Arc::new(RunnerMetrics::new("test", "agent").expect("metrics"));
    let err = ToolBox::new(&[def], &env, Arc::new(NoDelegation), metrics).expect_err("refused");
    assert!(err.to_string().contains("cannot take its host from the model"), "{err}");
}

#[tokio::test]
async fn a_cached_tool_answers_identical_calls_without_a_request_until_the_ttl_ends() {
    let (addr, server) = start(Server::default()).await;
    let defs = [
        http_tool("weather", "GET", format!("http://{addr}/echo/weather"), json!({"cacheTtlSeconds": 1})),
        http_tool("refused", "GET", format!("http://{addr}/reject"), json!({"cacheTtlSeconds": 60})),
        http_tool("uncached", "GET", format!("http://{addr}/echo/uncached"), json!({})),
    ];
    let (tools, metrics) = toolbox_and_metrics(&defs, Arc::new(NoDelegation));
    let lookups =
        |tool: &str, result: &str| metrics.tool_cache_lookups.with_label_values(&[tool, result]).get();
    let paris = json!({"city": "Paris", "units": "C"});
    let started = Instant::now();
    let first = tools.call(&call("weather", paris.clone()), &ctx()).await;
    assert!(first.ok, "{first:?}");
    // The same arguments in another key order are the same call.
    let second = tools.call(&call("weather", json!({"units": "C", "city": "Paris"})), &ctx()).await;
    assert_eq!((second.ok, second.content.as_str()), (true, first.content.as_str()));
    assert_eq!(server.seen().len(), 1, "the second call reached the server");
    assert_eq!((lookups("weather", "hit"), lookups("weather", "miss")), (1, 1));
    assert_eq!(metrics.tool_calls.with_label_values(&["weather", "ok"]).get(), 2);
    // Other arguments are another call.
    assert!(tools.call(&call("weather", json!({"city": "Lyon"})), &ctx()).await.ok);
    assert_eq!(server.seen().len(), 2);

    // Failures are not kept; tools without a TTL are not cached.
    for _ in 0..2 {
        assert!(!tools.call(&call("refused", json!({})), &ctx()).await.ok);
        assert!(tools.call(&call("uncached", json!({})), &ctx()).await.ok);
    }
    assert_eq!(server.seen().len(), 6);
    assert_eq!(lookups("refused", "miss"), 2);
    assert_eq!(lookups("uncached", "miss") + lookups("uncached", "hit"), 0);

    // After the TTL the call reaches the server again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = tools.call(&call("weather", paris.clone()), &ctx()).await;
        assert!(out.ok, "{out:?}");
        if server.seen().len() == 7 {
            break;
        }
        assert!(Instant::now() < deadline, "the cached result never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(1), "expired before its TTL: {:?}", started.elapsed());
}
