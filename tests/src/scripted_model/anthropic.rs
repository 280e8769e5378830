//! The scripted model's Anthropic Messages wire format: answers and errors as Anthropic sends
//! them.

use serde_json::{Value, json};

/// The roles whose last message [`Step::Echo`](super::Step::Echo) quotes (tool results come in
/// user messages).
pub(super) const INPUT_ROLES: &[&str] = &["user"];

/// A message with a text block for `text` and a `tool_use` block (id `toolu_<id>_<i>`) per call.
pub(super) fn answer(
    id: u64,
    model: &Value,
    text: Option<String>,
    calls: &[(String, Value)],
    (input_tokens, output_tokens): (u64, u64),
) -> Value {
    let mut content: Vec<Value> = text.into_iter().map(|t| json!({"type": "text", "text": t})).collect();
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

/// An Anthropic-style error body.
pub(super) fn error(message: String) -> Value {
    json!({"type": "error", "error": {"type": "scripted_error", "message": message}})
}
