//! The scripted model's OpenAI Chat Completions wire format: answers and errors as OpenAI sends
//! them.

use serde_json::{Value, json};

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
