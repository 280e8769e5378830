//! A streamed Messages answer (`stream: true`): `message_start` (with the input usage), per
//! content block a `content_block_start`, its deltas (`text_delta`, or `input_json_delta` pieces
//! of a `tool_use` block's input) and `content_block_stop`, then `message_delta` (with the
//! output usage) and `message_stop`. `ping`s may come anywhere; an `error` event ends it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::anthropic::Usage;
use super::chat::{ModelTurn, TokenUsage, ToolCall};
use super::error::{ApiKey, ModelError, body_excerpt};
use super::sse_lines::SseEvent;
use super::stream_reader::StreamAssembler;
use super::token_sink::TokenSink;

/// What a streamed Messages answer has said so far.
pub(super) struct AnthropicStream {
    key: Option<ApiKey>,
    /// Content blocks by index, in the order the model wrote them.
    blocks: BTreeMap<u64, Block>,
    usage: TokenUsage,
    /// `message_stop` came.
    stopped: bool,
}

enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
        json: String,
    },
    /// Blocks this runner does not use (thinking, …), skipped as unstreamed.
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: Value,
    },
    ContentBlockDelta {
        index: u64,
        delta: Value,
    },
    MessageDelta {
        #[serde(default)]
        usage: Option<Usage>,
    },
    MessageStop,
    Error {
        error: Value,
    },
    /// `ping`, `content_block_stop` and events added later carry nothing needed here.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartedMessage {
    #[serde(default)]
    usage: Option<Usage>,
}

impl AnthropicStream {
    pub(super) fn new(key: Option<ApiKey>) -> Self {
        Self { key, blocks: BTreeMap::new(), usage: TokenUsage::default(), stopped: false }
    }

    fn start_block(&mut self, index: u64, block: &Value, tokens: &dyn TokenSink) {
        let text = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        let block = match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let start = text("text");
                if !start.is_empty() {
                    tokens.token(&start);
                }
                Block::Text(start)
            }
            Some("tool_use") => Block::ToolUse {
                id: text("id"),
                name: text("name"),
                input: block.get("input").cloned().unwrap_or(Value::Null),
                json: String::new(),
            },
            _ => Block::Other,
        };
        self.blocks.insert(index, block);
    }

    fn delta(&mut self, index: u64, delta: &Value, tokens: &dyn TokenSink) -> Result<(), ModelError> {
        let Some(block) = self.blocks.get_mut(&index) else {
            return Err(ModelError::Malformed(format!(
                "stream delta for content block {index}, never started"
            )));
        };
        let part = |name: &str| delta.get(name).and_then(Value::as_str).unwrap_or_default();
        match (block, delta.get("type").and_then(Value::as_str)) {
            (Block::Text(text), Some("text_delta")) => {
                tokens.token(part("text"));
                text.push_str(part("text"));
            }
            (Block::ToolUse { json, .. }, Some("input_json_delta")) => json.push_str(part("partial_json")),
            // Thinking and signature deltas, or deltas of skipped blocks.
            _ => {}
        }
        Ok(())
    }

    fn failed(&self, error: &Value) -> ModelError {
        let body = body_excerpt(error.to_string().as_bytes(), self.key.as_ref());
        match error.get("type").and_then(Value::as_str) {
            Some("rate_limit_error") => ModelError::RateLimited { retry_after: None, body },
            Some("overloaded_error") => ModelError::Unavailable { status: 529, retry_after: None, body },
            Some("invalid_request_error") => ModelError::Rejected { status: 400, body },
            _ => ModelError::Unavailable { status: 500, retry_after: None, body },
        }
    }
}

impl StreamAssembler for AnthropicStream {
    fn event(&mut self, event: SseEvent, tokens: &dyn TokenSink) -> Result<bool, ModelError> {
        let parsed: Event = serde_json::from_str(&event.data).map_err(|e| {
            let excerpt = body_excerpt(event.data.as_bytes(), self.key.as_ref());
            ModelError::Malformed(format!("{e}; stream event: {excerpt}"))
        })?;
        match parsed {
            Event::MessageStart { message } => {
                if let Some(usage) = message.usage {
                    self.usage = TokenUsage {
                        input_tokens: usage.input_tokens.unwrap_or(0),
                        output_tokens: usage.output_tokens.unwrap_or(0),
                    };
                }
            }
            Event::ContentBlockStart { index, content_block } => {
                self.start_block(index, &content_block, tokens)
            }
            Event::ContentBlockDelta { index, delta } => self.delta(index, &delta, tokens)?,
            // The counts here are the totals so far, not increments.
            Event::MessageDelta { usage: Some(usage) } => {
                self.usage.input_tokens = usage.input_tokens.unwrap_or(self.usage.input_tokens);
                self.usage.output_tokens = usage.output_tokens.unwrap_or(self.usage.output_tokens);
            }
            Event::MessageStop => {
                self.stopped = true;
                return Ok(true);
            }
            Event::Error { error } => return Err(self.failed(&error)),
            Event::MessageDelta { usage: None } | Event::Other => {}
        }
        Ok(false)
    }

    fn finish(self) -> Result<ModelTurn, ModelError> {
        if !self.stopped {
            return Err(ModelError::Connection(
                "the stream ended before the answer was complete (message_stop)".into(),
            ));
        }
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Block::Text(part) => text.push_str(&part),
                Block::ToolUse { id, name, input, json } => {
                    let arguments = if !json.trim().is_empty() {
                        serde_json::from_str(&json).map_err(|e| {
                            ModelError::Malformed(format!("tool_use {name}: streamed input is not JSON: {e}"))
                        })?
                    } else if input.is_null() {
                        Value::Object(Map::new())
                    } else {
                        input
                    };
                    tool_calls.push(ToolCall { id, name, arguments });
                }
                Block::Other => {}
            }
        }
        Ok(ModelTurn { text: (!text.is_empty()).then_some(text), tool_calls, usage: self.usage })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::anthropic::parse_response;
    use crate::model::token_sink::RecordedTokens;

    fn event(value: Value) -> SseEvent {
        let name = value["type"].as_str().unwrap_or_default().to_string();
        SseEvent { event: name, data: value.to_string() }
    }

    fn assemble(events: Vec<Value>) -> (Vec<String>, Result<ModelTurn, ModelError>) {
        let tokens = RecordedTokens::default();
        let mut stream = AnthropicStream::new(None);
        for value in events {
            match stream.event(event(value), &tokens) {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => return (tokens.tokens(), Err(error)),
            }
        }
        (tokens.tokens(), stream.finish())
    }

    fn start() -> Value {
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 20, "output_tokens": 1}}})
    }

    #[test]
    fn blocks_and_deltas_make_the_unstreamed_answer() {
        let (tokens, turn) = assemble(vec![
            start(),
            json!({"type": "ping"}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Let me "}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "check."}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"Oslo\"}"}}),
            json!({"type": "content_block_start", "index": 3,
                "content_block": {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
            json!({"type": "message_stop"}),
        ]);
        assert_eq!(tokens, ["Let me ", "check."]);
        let unstreamed = json!({"content": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
        ], "usage": {"input_tokens": 20, "output_tokens": 7}});
        let expected = parse_response(unstreamed.to_string().as_bytes(), None).expect("parses");
        assert_eq!(turn.expect("assembled"), expected);
    }

    #[test]
    fn cut_malformed_and_error_streams_are_errors() {
        let text =
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "par"}});
        let (tokens, cut) = assemble(vec![start(), text, delta.clone()]);
        assert_eq!(tokens, ["par"]);
        assert!(matches!(cut, Err(ModelError::Connection(m)) if m.contains("message_stop")));
        assert!(
            matches!(assemble(vec![start(), delta]).1, Err(ModelError::Malformed(_))),
            "a delta of no block"
        );
        let overloaded = json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}});
        assert!(matches!(
            assemble(vec![start(), overloaded]).1,
            Err(ModelError::Unavailable { status: 529, .. })
        ));
        let bad_json = vec![
            start(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}}),
            json!({"type": "message_stop"}),
        ];
        assert!(matches!(assemble(bad_json).1, Err(ModelError::Malformed(_))));
    }
}
