//! A scripted model server for tests: real HTTP and real JSON on 127.0.0.1, speaking OpenAI Chat
//! Completions or Anthropic Messages, answering each request with the next [`Step`] of its script.
//!
//! It runs on its own thread and runtime, so it keeps answering whatever the test's runtime does
//! (paused time included), and it records every request (path, headers, JSON body) so tests can
//! assert what a model was sent. Clones share one server; it stops when the last one is dropped.
//!
//! ```ignore
//! let model = ScriptedModel::start(Flavor::OpenAi).await;
//! model.push(Step::rate_limited(1));
//! model.push(Step::text("hello"));
//! // point a runner at model.base_url() …
//! model.wait_for_requests(2, Duration::from_secs(10)).await?;
//! assert_eq!(model.requests()[1]["messages"][0]["role"], "system");
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// The API the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAI Chat Completions: `POST /v1/chat/completions`, base URL `http://127.0.0.1:PORT/v1`.
    OpenAi,
    /// Anthropic Messages: `POST /v1/messages`, base URL `http://127.0.0.1:PORT`.
    Anthropic,
}

impl Flavor {
    /// The path the API is served on.
    pub fn path(self) -> &'static str {
        match self {
            Self::OpenAi => "/v1/chat/completions",
            Self::Anthropic => "/v1/messages",
        }
    }
}

/// How the server answers one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A final text answer.
    Text(String),
    /// Tool calls: `(tool name, arguments)`; ids are generated, unique per server.
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error: status `code`, an optional `Retry-After` in seconds, and `body` (a
    /// provider-style JSON error when empty).
    Status {
        /// The HTTP status.
        code: u16,
        /// `Retry-After` seconds, if any.
        retry_after: Option<u64>,
        /// The response body; empty means a provider-style JSON error.
        body: String,
    },
    /// Waits, then answers with the inner step.
    Slow(Duration, Box<Step>),
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// A text answer quoting the last user or tool message received: `echo: <content>`.
    Echo,
}

impl Step {
    /// [`Step::Text`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// [`Step::ToolCalls`] with one call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::ToolCalls(vec![(name.into(), arguments)])
    }

    /// [`Step::Status`] with a provider-style JSON error body and no `Retry-After`.
    pub fn status(code: u16) -> Self {
        Self::Status { code, retry_after: None, body: String::new() }
    }

    /// HTTP 429 with `Retry-After: seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        Self::Status { code: 429, retry_after: Some(seconds), body: String::new() }
    }

    /// [`Step::Slow`].
    pub fn slow(delay: Duration, then: Step) -> Self {
        Self::Slow(delay, Box::new(then))
    }
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path (and query).
    pub path: String,
    /// Headers, names lower-case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body; a body that is not JSON is kept as a JSON string.
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

struct Script {
    queue: VecDeque<Step>,
    default: Step,
    usage: (u64, u64),
    next_id: u64,
}

struct Shared {
    flavor: Flavor,
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    arrived: Notify,
}

impl Shared {
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stops the server when the last [`ScriptedModel`] clone goes.
struct Shutdown(Option<oneshot::Sender<()>>);

impl Drop for Shutdown {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            // The server thread may already be gone; nothing to do then.
            let _ = stop.send(());
        }
    }
}

/// A running scripted model server.
#[derive(Clone)]
pub struct ScriptedModel {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _shutdown: Arc<Shutdown>,
}

impl std::fmt::Debug for ScriptedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedModel")
            .field("flavor", &self.shared.flavor)
            .field("addr", &self.addr)
            .finish()
    }
}

impl ScriptedModel {
    /// Starts a server on a random port of 127.0.0.1. Its default step is [`Step::Echo`];
    /// usage is 10 input and 5 output tokens per answer.
    ///
    /// # Panics
    /// When no port can be bound or no thread started: a test cannot go on without its model.
    pub async fn start(flavor: Flavor) -> Self {
        Self::spawn(flavor)
    }

    /// [`start`](Self::start) for tests that are not async.
    pub fn spawn(flavor: Flavor) -> Self {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the scripted model");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            flavor,
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                default: Step::Echo,
                usage: (10, 5),
                next_id: 0,
            }),
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        std::thread::Builder::new()
            .name(format!("scripted-model-{}", addr.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        eprintln!("scripted model: no runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            eprintln!("scripted model: listener: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(e) = result {
                                eprintln!("scripted model: server stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels in-flight (slow) answers: a dropped server
                // stops at once.
            })
            .expect("start the scripted model thread");
        Self { shared, addr, _shutdown: Arc::new(Shutdown(Some(stop))) }
    }

    /// The API it speaks.
    pub fn flavor(&self) -> Flavor {
        self.shared.flavor
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure a model with: `http://127.0.0.1:PORT/v1` for OpenAI (the
    /// client appends `/chat/completions`), `http://127.0.0.1:PORT` for Anthropic (the client
    /// appends `/v1/messages`).
    pub fn base_url(&self) -> String {
        match self.shared.flavor {
            Flavor::OpenAi => format!("http://{}/v1", self.addr),
            Flavor::Anthropic => format!("http://{}", self.addr),
        }
    }

    /// Queues `step` to answer a future request, after those already queued.
    pub fn push(&self, step: Step) {
        self.shared.script().queue.push_back(step);
    }

    /// Queues several steps in order.
    pub fn extend(&self, steps: impl IntoIterator<Item = Step>) {
        self.shared.script().queue.extend(steps);
    }

    /// The step used when the queue is empty ([`Step::Echo`] unless set).
    pub fn set_default(&self, step: Step) {
        self.shared.script().default = step;
    }

    /// The token usage reported in every answer from now on.
    pub fn set_usage(&self, input_tokens: u64, output_tokens: u64) {
        self.shared.script().usage = (input_tokens, output_tokens);
    }

    /// Steps still queued.
    pub fn queued(&self) -> usize {
        self.shared.script().queue.len()
    }

    /// The JSON body of every request received, in order of arrival.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests().iter().map(|r| r.body.clone()).collect()
    }

    /// Every request received, with path and headers, in order of arrival.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.shared.requests().len()
    }

    /// Waits until at least `n` requests have arrived, or fails once `timeout` (real time) has
    /// passed.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Result<(), TooFewRequests> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.request_count();
            if received >= n {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TooFewRequests { wanted: n, received, waited: timeout });
            }
            // The notification is the fast path; the short poll bounds the wait even if the
            // test's runtime has its clock paused (its timers then fire early, never late).
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep(left.min(Duration::from_millis(20))) => {}
            }
        }
    }
}

/// [`ScriptedModel::wait_for_requests`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scripted model received {received} of {wanted} requests within {waited:?}")]
pub struct TooFewRequests {
    /// Requests waited for.
    pub wanted: usize,
    /// Requests received when the wait ended.
    pub received: usize,
    /// How long it waited.
    pub waited: Duration,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body_json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let mut recorded_headers = BTreeMap::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded_headers
            .entry(name.as_str().to_string())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    shared.requests().push(RecordedRequest {
        method: method.to_string(),
        path: uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        headers: recorded_headers,
        body: body_json.clone(),
    });
    shared.arrived.notify_waiters();

    let flavor = shared.flavor;
    if method != Method::POST || uri.path() != flavor.path() {
        return error_response(flavor, StatusCode::NOT_FOUND, None, "");
    }
    if !body_json.is_object() {
        return error_response(flavor, StatusCode::BAD_REQUEST, None, "");
    }
    let (mut step, usage, id) = {
        let mut script = shared.script();
        let step = script.queue.pop_front().unwrap_or_else(|| script.default.clone());
        script.next_id += 1;
        (step, script.usage, script.next_id)
    };
    while let Step::Slow(delay, inner) = step {
        tokio::time::sleep(delay).await;
        step = *inner;
    }
    let model = body_json.get("model").cloned().unwrap_or(Value::Null);
    match step {
        Step::Text(text) => answer(flavor, id, &model, Some(text), &[], usage),
        Step::Echo => {
            let text = format!("echo: {}", last_input(flavor, &body_json));
            answer(flavor, id, &model, Some(text), &[], usage)
        }
        Step::ToolCalls(calls) => answer(flavor, id, &model, None, &calls, usage),
        Step::Status { code, retry_after, body } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(flavor, status, retry_after, &body)
        }
        Step::Malformed => json_response(StatusCode::OK, r#"{"choices": [{"message": "#.to_string()),
        Step::Slow(..) => unreachable!("slow steps are unwrapped above"),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

fn error_response(flavor: Flavor, status: StatusCode, retry_after: Option<u64>, body: &str) -> Response {
    let body = if body.is_empty() {
        let message = format!("scripted error {}", status.as_u16());
        match flavor {
            Flavor::OpenAi => {
                json!({"error": {"message": message, "type": "scripted_error", "code": status.as_u16()}})
            }
            Flavor::Anthropic => {
                json!({"type": "error", "error": {"type": "scripted_error", "message": message}})
            }
        }
        .to_string()
    } else {
        body.to_string()
    };
    let mut response = json_response(status, body);
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn answer(
    flavor: Flavor,
    id: u64,
    model: &Value,
    text: Option<String>,
    calls: &[(String, Value)],
    (input_tokens, output_tokens): (u64, u64),
) -> Response {
    let body = match flavor {
        Flavor::OpenAi => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, arguments))| {
                    json!({
                        "id": format!("call_{id}_{i}"),
                        "type": "function",
                        "function": {"name": name, "arguments": arguments.to_string()},
                    })
                })
                .collect();
            let mut message = json!({"role": "assistant", "content": text});
            if !tool_calls.is_empty() {
                message["tool_calls"] = Value::Array(tool_calls);
            }
            json!({
                "id": format!("chatcmpl-{id}"),
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": message,
                    "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" },
                }],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
            })
        }
        Flavor::Anthropic => {
            let mut content: Vec<Value> =
                text.into_iter().map(|t| json!({"type": "text", "text": t})).collect();
            content.extend(calls.iter().enumerate().map(|(i, (name, arguments))| {
                json!({"type": "tool_use", "id": format!("toolu_{id}_{i}"), "name": name, "input": arguments})
            }));
            json!({
                "id": format!("msg_{id}"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" },
                "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            })
        }
    };
    json_response(StatusCode::OK, body.to_string())
}

/// The content of the last user or tool message of a request, as text.
fn last_input(flavor: Flavor, body: &Value) -> String {
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let wanted: &[&str] = match flavor {
        Flavor::OpenAi => &["user", "tool"],
        Flavor::Anthropic => &["user"],
    };
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str).is_some_and(|role| wanted.contains(&role)))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default()
}

/// Text of a message content: a string, or the text of its blocks (text parts, tool results).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|block| match block.get("type").and_then(Value::as_str) {
                Some("tool_result") => block.get("content").map(content_text).unwrap_or_default(),
                _ => block.get("text").and_then(Value::as_str).unwrap_or_default().to_string(),
            })
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(model: &ScriptedModel, body: Value) -> (u16, HeaderMap, String) {
        let url = match model.flavor() {
            Flavor::OpenAi => format!("{}/chat/completions", model.base_url()),
            Flavor::Anthropic => format!("{}/v1/messages", model.base_url()),
        };
        let response = reqwest::Client::new()
            .post(url)
            .header("x-api-key", "k")
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("body"))
    }

    fn install_tls() {
        // reqwest is built without a crypto provider of its own (see the runner's model module).
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    #[tokio::test]
    async fn openai_flavor_follows_its_script() {
        install_tls();
        let model = ScriptedModel::start(Flavor::OpenAi).await;
        model.push(Step::text("hello"));
        model.push(Step::tool_call("calc", json!({"e": "1+1"})));
        model.push(Step::rate_limited(3));
        model.push(Step::Malformed);
        let request = json!({"model": "m", "messages": [{"role": "user", "content": "hi there"}]});

        let (status, _, body) = post(&model, request.clone()).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["choices"][0]["message"]["content"], "hello");
        assert_eq!(body["usage"]["prompt_tokens"], 10);

        let (_, _, body) = post(&model, request.clone()).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        let call = &body["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "calc");
        assert_eq!(call["function"]["arguments"], r#"{"e":"1+1"}"#);

        let (status, headers, _) = post(&model, request.clone()).await;
        assert_eq!(status, 429);
        assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("3"));

        let (status, _, body) = post(&model, request.clone()).await;
        assert_eq!(status, 200);
        assert!(serde_json::from_str::<Value>(&body).is_err());

        let (_, _, body) = post(&model, request).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["choices"][0]["message"]["content"], "echo: hi there");

        model.wait_for_requests(5, Duration::from_secs(5)).await.expect("five requests");
        assert_eq!(model.request_count(), 5);
        assert_eq!(model.requests()[0]["messages"][0]["content"], "hi there");
        assert_eq!(model.recorded()[0].header("X-Api-Key"), Some("k"));
        assert_eq!(model.recorded()[0].path, "/v1/chat/completions");
    }

    #[tokio::test]
    async fn anthropic_flavor_answers_blocks_and_echoes_tool_results() {
        install_tls();
        let model = ScriptedModel::start(Flavor::Anthropic).await;
        model.set_usage(3, 4);
        model.push(Step::ToolCalls(vec![("a".into(), json!({})), ("b".into(), json!({"x": 1}))]));
        let request = json!({"model": "c", "max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "a", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "42"}]},
        ]});
        let (_, _, body) = post(&model, request.clone()).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["content"][1]["type"], "tool_use");
        assert_eq!(body["content"][1]["input"], json!({"x": 1}));
        assert_eq!(body["usage"], json!({"input_tokens": 3, "output_tokens": 4}));
        let (_, _, body) = post(&model, request).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["content"][0]["text"], "echo: 42");
    }

    #[test]
    fn can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<ScriptedModel>();
    }

    #[tokio::test]
    async fn wait_for_requests_gives_up_at_its_deadline() {
        let model = ScriptedModel::start(Flavor::OpenAi).await;
        let started = Instant::now();
        let err = model.wait_for_requests(1, Duration::from_millis(100)).await.expect_err("no request");
        assert_eq!(err, TooFewRequests { wanted: 1, received: 0, waited: Duration::from_millis(100) });
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
