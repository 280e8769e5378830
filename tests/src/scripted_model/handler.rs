//! How the scripted model answers one HTTP request: it records it, takes the next step of the
//! script and renders it in the server's wire format.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::server::Shared;
use super::streamed::{self, Ending, Frame};
use super::{Flavor, RecordedRequest, Step, anthropic, openai};

/// Records the request, then answers it with the next step of the script.
pub(super) async fn handle(
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
    let wants_stream = body_json.get("stream").and_then(Value::as_bool) == Some(true);
    let mut gate = None;
    if let Step::Held(inner, held) = step {
        if !wants_stream {
            held.wait().await;
        }
        (step, gate) = (*inner, Some(held));
    }
    let reply = |text: Option<String>, calls: &[(String, Value)]| {
        if wants_stream {
            let pieces = text.as_deref().map(streamed::pieces).unwrap_or_default();
            let frames = stream_frames(flavor, id, &model, &pieces, calls, usage);
            streamed::respond(frames, gate.clone(), Ending::Complete)
        } else {
            answer(flavor, id, &model, text, calls, usage)
        }
    };
    match step {
        Step::Text(text) => reply(Some(text), &[]),
        Step::Echo => reply(Some(format!("echo: {}", last_input(flavor, &body_json))), &[]),
        Step::ToolCalls(calls) => reply(None, &calls),
        Step::CutStream(pieces) => {
            streamed::respond(stream_frames(flavor, id, &model, &pieces, &[], usage), gate, Ending::Cut)
        }
        Step::MalformedStream => streamed::malformed(),
        Step::Status { code, retry_after, body } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(flavor, status, retry_after, &body)
        }
        Step::Malformed => json_response(StatusCode::OK, r#"{"choices": [{"message": "#.to_string()),
        Step::Slow(..) | Step::Held(..) => error_response(
            flavor,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "scripted model: a slow or held step may only wrap an answer",
        ),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

fn error_response(flavor: Flavor, status: StatusCode, retry_after: Option<u64>, body: &str) -> Response {
    let body = if body.is_empty() {
        let message = format!("scripted error {}", status.as_u16());
        match flavor {
            Flavor::OpenAi => openai::error(message, status.as_u16()),
            Flavor::Anthropic => anthropic::error(message),
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
    usage: (u64, u64),
) -> Response {
    let body = match flavor {
        Flavor::OpenAi => openai::answer(id, model, text, calls, usage),
        Flavor::Anthropic => anthropic::answer(id, model, text, calls, usage),
    };
    json_response(StatusCode::OK, body.to_string())
}

fn stream_frames(
    flavor: Flavor,
    id: u64,
    model: &Value,
    pieces: &[String],
    calls: &[(String, Value)],
    usage: (u64, u64),
) -> Vec<Frame> {
    match flavor {
        Flavor::OpenAi => openai::stream_frames(id, model, pieces, calls, usage),
        Flavor::Anthropic => anthropic::stream_frames(id, model, pieces, calls, usage),
    }
}

/// The content of the last user or tool message of a request, as text.
fn last_input(flavor: Flavor, body: &Value) -> String {
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let wanted = match flavor {
        Flavor::OpenAi => openai::INPUT_ROLES,
        Flavor::Anthropic => anthropic::INPUT_ROLES,
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
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::scripted_model::ScriptedModel;

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
}
