//! The scripted model's Anthropic Messages wire format: answers and errors as Anthropic sends
//! them.

use serde_json::{Value, json};

use super::streamed::{Frame, halves};

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

/// A streamed message: `message_start` (input usage), a text block with a delta per piece, a
/// `tool_use` block per call with two `input_json_delta` halves, `message_delta` (output usage),
/// `message_stop`; a `ping` after the start, as Anthropic sends.
pub(super) fn stream_frames(
    id: u64,
    model: &Value,
    pieces: &[String],
    calls: &[(String, Value)],
    (input_tokens, output_tokens): (u64, u64),
) -> Vec<Frame> {
    let event = |data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        format!("event: {name}\ndata: {data}\n\n")
    };
    let message = json!({"id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "usage": {"input_tokens": input_tokens, "output_tokens": 1}});
    let mut frames = vec![
        Frame::start(event(json!({"type": "message_start", "message": message}))),
        Frame::start(event(json!({"type": "ping"}))),
    ];
    let mut index = 0;
    if !pieces.is_empty() {
        let block = json!({"type": "text", "text": ""});
        frames.push(Frame::start(event(
            json!({"type": "content_block_start", "index": 0, "content_block": block}),
        )));
        for piece in pieces {
            let delta = json!({"type": "text_delta", "text": piece});
            frames.push(Frame::content(event(
                json!({"type": "content_block_delta", "index": 0, "delta": delta}),
            )));
        }
        frames.push(Frame::start(event(json!({"type": "content_block_stop", "index": 0}))));
        index = 1;
    }
    for (i, (name, arguments)) in calls.iter().enumerate() {
        let block = json!({"type": "tool_use", "id": format!("toolu_{id}_{i}"), "name": name, "input": {}});
        frames.push(Frame::content(event(
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )));
        for half in halves(&arguments.to_string()) {
            let delta = json!({"type": "input_json_delta", "partial_json": half});
            frames.push(Frame::content(event(
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )));
        }
        frames.push(Frame::content(event(json!({"type": "content_block_stop", "index": index}))));
        index += 1;
    }
    let stop_reason = if calls.is_empty() { "end_turn" } else { "tool_use" };
    frames.push(Frame::end(event(json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}))));
    frames.push(Frame::end(event(json!({"type": "message_stop"}))));
    frames
}
