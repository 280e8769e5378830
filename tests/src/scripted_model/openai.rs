//! The scripted model's OpenAI Chat Completions wire format: answers and errors as OpenAI sends
//! them.

use serde_json::{Value, json};

use super::streamed::{Frame, halves};

/// The roles whose last message [`Step::Echo`](super::Step::Echo) quotes.
pub(super) const INPUT_ROLES: &[&str] = &["user", "tool"];

/// A chat completion with `text` and `calls` (ids `call_<id>_<i>`, arguments as JSON text).
pub(super) fn answer(
    id: u64,
    model: &Value,
    text: Option<String>,
    calls: &[(String, Value)],
    (input_tokens, output_tokens): (u64, u64),
) -> Value {
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

/// An OpenAI-style error body.
pub(super) fn error(message: String, code: u16) -> Value {
    json!({"error": {"message": message, "type": "scripted_error", "code": code}})
}

/// A streamed chat completion (`stream: true` with `include_usage`): a role chunk, a chunk per
/// text piece, per call a chunk with its id and name and two with halves of its arguments, a
/// finish chunk, the usage chunk, `[DONE]`.
pub(super) fn stream_frames(
    id: u64,
    model: &Value,
    pieces: &[String],
    calls: &[(String, Value)],
    (input_tokens, output_tokens): (u64, u64),
) -> Vec<Frame> {
    let chunk = |choices: Value, usage: Value| {
        let body = json!({
            "id": format!("chatcmpl-{id}"), "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": choices, "usage": usage,
        });
        format!("data: {body}\n\n")
    };
    let delta =
        |delta: Value| chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}]), Value::Null);
    let mut frames = vec![Frame::start(delta(json!({"role": "assistant", "content": ""})))];
    frames.extend(pieces.iter().map(|piece| Frame::content(delta(json!({"content": piece})))));
    for (i, (name, arguments)) in calls.iter().enumerate() {
        let first = json!({"index": i, "id": format!("call_{id}_{i}"), "type": "function",
            "function": {"name": name, "arguments": ""}});
        frames.push(Frame::content(delta(json!({"tool_calls": [first]}))));
        for half in halves(&arguments.to_string()) {
            let part = json!({"index": i, "function": {"arguments": half}});
            frames.push(Frame::content(delta(json!({"tool_calls": [part]}))));
        }
    }
    let reason = if calls.is_empty() { "stop" } else { "tool_calls" };
    frames.push(Frame::end(chunk(json!([{"index": 0, "delta": {}, "finish_reason": reason}]), Value::Null)));
    let usage = json!({"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens});
    frames.push(Frame::end(chunk(json!([]), usage)));
    frames.push(Frame::end("data: [DONE]\n\n".into()));
    frames
}
