//! From a JetStream message's payload to an [`Event`] fit for PostgreSQL, or the reason it is not
//! one. Nothing here logs or returns the payload itself: events carry conversations.

use agentry_protocol::events::{Event, EventBody};
use serde_json::Value;

use crate::redaction;

/// The latest time an event may claim: 9999-12-31T23:59:59.999Z, PostgreSQL's and every
/// sensible clock's limit.
const MAX_TIME_MS: u64 = 253_402_300_799_999;

/// Why a message is not a recordable event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Malformed {
    /// The payload is not JSON.
    #[error("not JSON ({0})")]
    NotJson(&'static str),
    /// JSON, but `type` names no event this recorder knows.
    #[error("unknown event type")]
    UnknownType,
    /// An event type it knows, with fields missing or of the wrong type.
    #[error("wrong shape ({0})")]
    Shape(&'static str),
    /// Well-formed, with a value no event can have.
    #[error("{0}")]
    Invalid(&'static str),
}

impl Malformed {
    /// A short label for logs.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "not_json",
            Self::UnknownType => "unknown_type",
            Self::Shape(_) => "wrong_shape",
            Self::Invalid(_) => "invalid_value",
        }
    }
}

/// Parses `payload` as an event, redacts its tool arguments and makes its text storable
/// (PostgreSQL refuses NUL characters in `text` and `jsonb`).
pub(crate) fn decode(payload: &[u8]) -> Result<Event, Malformed> {
    let mut event: Event = serde_json::from_slice(payload).map_err(|error| classify(payload, &error))?;
    if event.id.is_empty() {
        return Err(Malformed::Invalid("empty event id"));
    }
    if event.time_ms > MAX_TIME_MS {
        return Err(Malformed::Invalid("timeMs beyond year 9999"));
    }
    if matches!(event.body, EventBody::Session(_)) && event.session_id.is_none() {
        return Err(Malformed::Invalid("a session event without a sessionId"));
    }
    for text in [&mut event.id, &mut event.namespace, &mut event.agent, &mut event.request_id] {
        storable(text);
    }
    if let Some(session) = event.session_id.as_mut() {
        storable(session);
    }
    clean_body(&mut event.body);
    Ok(event)
}

fn classify(payload: &[u8], error: &serde_json::Error) -> Malformed {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Malformed::NotJson(category_name(error.classify()))
        }
        Category::Data => {
            // Only on this error path: was it the `type` that did not match?
            let known = ["interaction", "message", "toolCall", "modelCall", "session"];
            match serde_json::from_slice::<Value>(payload).ok().as_ref().and_then(|v| v.get("type")) {
                Some(Value::String(kind)) if !known.contains(&kind.as_str()) => Malformed::UnknownType,
                _ => Malformed::Shape("a field is missing or has the wrong type"),
            }
        }
    }
}

fn category_name(category: serde_json::error::Category) -> &'static str {
    use serde_json::error::Category;
    match category {
        Category::Syntax => "syntax error",
        Category::Eof => "truncated",
        Category::Io => "unreadable",
        Category::Data => "wrong data",
    }
}

fn clean_body(body: &mut EventBody) {
    match body {
        EventBody::Interaction(e) => {
            storable(&mut e.to_agent);
            storable(&mut e.query);
            for text in [e.from_agent.as_mut(), e.response.as_mut(), e.model.as_mut()].into_iter().flatten() {
                storable(text);
            }
        }
        EventBody::Message(e) => {
            storable(&mut e.content);
            if let Some(tool) = e.tool_name.as_mut() {
                storable(tool);
            }
        }
        EventBody::ToolCall(e) => {
            storable(&mut e.tool);
            if let Some(error) = e.error.as_mut() {
                storable(error);
            }
            redaction::redact(&mut e.arguments);
            storable_json(&mut e.arguments);
        }
        EventBody::Session(e) => {
            storable(&mut e.session_type);
            storable(&mut e.phase);
        }
        EventBody::ModelCall(e) => {
            storable(&mut e.model);
            storable(&mut e.provider);
            if let Some(error) = e.error.as_mut() {
                storable(error);
            }
        }
    }
}

/// Replaces NUL characters, which PostgreSQL cannot store, with U+FFFD.
fn storable(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

/// [`storable`] for every string and key of a JSON value.
fn storable_json(value: &mut Value) {
    match value {
        Value::String(text) => storable(text),
        Value::Array(items) => items.iter_mut().for_each(storable_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                *map = entries.into_iter().map(|(k, v)| (k.replace('\0', "\u{FFFD}"), v)).collect();
            }
            map.values_mut().for_each(storable_json);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool_call(arguments: Value) -> Value {
        json!({"id": "e-1", "timeMs": 1, "namespace": "ns", "agent": "a", "requestId": "r",
            "type": "toolCall", "tool": "http", "arguments": arguments, "ok": true, "durationMs": 3})
    }

    #[test]
    fn every_kind_of_garbage_is_told_apart() {
        assert_eq!(decode(b"\x00\xff not json").unwrap_err().reason(), "not_json");
        assert_eq!(decode(b"{\"id\": \"e").unwrap_err().reason(), "not_json");
        let unknown = json!({"id": "e", "timeMs": 1, "namespace": "n", "agent": "a", "requestId": "r", "type": "usage"});
        assert_eq!(decode(unknown.to_string().as_bytes()).unwrap_err(), Malformed::UnknownType);
        let mut shape = tool_call(json!({}));
        shape["ok"] = json!("yes");
        assert_eq!(decode(shape.to_string().as_bytes()).unwrap_err().reason(), "wrong_shape");
        let mut empty_id = tool_call(json!({}));
        empty_id["id"] = json!("");
        assert_eq!(decode(empty_id.to_string().as_bytes()).unwrap_err().reason(), "invalid_value");
        let mut future = tool_call(json!({}));
        future["timeMs"] = json!(MAX_TIME_MS + 1);
        assert_eq!(decode(future.to_string().as_bytes()).unwrap_err().reason(), "invalid_value");
    }

    #[test]
    fn errors_never_quote_the_payload() {
        let mut shape = tool_call(json!({}));
        shape["durationMs"] = json!("hunter2-secret");
        let error = decode(shape.to_string().as_bytes()).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn nul_characters_become_storable_and_arguments_are_redacted() {
        let payload = tool_call(json!({"q\u{0}": "a\u{0}b", "token": "t", "list": ["\u{0}"]}));
        let event = decode(payload.to_string().as_bytes()).expect("an event");
        let EventBody::ToolCall(call) = event.body else { panic!("a tool call") };
        assert_eq!(
            call.arguments,
            json!({"q\u{FFFD}": "a\u{FFFD}b", "token": "[redacted]", "list": ["\u{FFFD}"]})
        );
    }
}
