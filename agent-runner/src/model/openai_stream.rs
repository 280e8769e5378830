//! A streamed Chat Completions answer (`stream: true`): `data:` chunks whose
//! `choices[0].delta` carries the next text and fragments of tool calls (put together by their
//! `index`), then, because `stream_options.include_usage` was asked for, a chunk with no choices
//! and the usage, then `data: [DONE]`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::chat::{ModelTurn, TokenUsage, ToolCall};
use super::error::{ApiKey, ModelError, body_excerpt};
use super::openai::{Usage, content_text, parse_arguments};
use super::sse_lines::SseEvent;
use super::stream_reader::StreamAssembler;
use super::token_sink::TokenSink;

/// What a streamed Chat Completions answer has said so far.
pub(super) struct OpenAiStream {
    key: Option<ApiKey>,
    text: String,
    /// Tool calls by their `index`, in the order the model made them.
    calls: BTreeMap<u64, PartialCall>,
    /// Servers that ignore `include_usage` (or a stream without the usage chunk) leave this
    /// empty: the call then counts no tokens, as an unstreamed answer without usage does.
    usage: Option<TokenUsage>,
    /// A choice said why it stopped: a server that then ends the body without `[DONE]` (some
    /// compatible ones do) has still sent the whole answer.
    finished: bool,
    /// `data: [DONE]` came.
    done: bool,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaCall>>,
}

#[derive(Deserialize)]
struct DeltaCall {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

impl OpenAiStream {
    pub(super) fn new(key: Option<ApiKey>) -> Self {
        Self { key, text: String::new(), calls: BTreeMap::new(), usage: None, finished: false, done: false }
    }

    fn delta(&mut self, delta: Delta, tokens: &dyn TokenSink) -> Result<(), ModelError> {
        if let Some(text) = content_text(delta.content)? {
            tokens.token(&text);
            self.text.push_str(&text);
        }
        for (position, fragment) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
            // A server sending whole calls may leave out `index`: their place in the list is it.
            let index = fragment.index.unwrap_or(u64::try_from(position).unwrap_or(u64::MAX));
            let call = self.calls.entry(index).or_default();
            if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
                call.id = id;
            }
            let Some(function) = fragment.function else { continue };
            // The name comes whole in a call's first fragment; a server repeating it later must
            // not make it "ff".
            if let Some(name) = function.name.filter(|name| !name.is_empty() && call.name.is_empty()) {
                call.name = name;
            }
            match function.arguments {
                None | Some(Value::Null) => {}
                Some(Value::String(part)) => call.arguments.push_str(&part),
                // Some compatible servers send the arguments object itself.
                Some(other) => call.arguments.push_str(&other.to_string()),
            }
        }
        Ok(())
    }
}

impl StreamAssembler for OpenAiStream {
    fn event(&mut self, event: SseEvent, tokens: &dyn TokenSink) -> Result<bool, ModelError> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        let chunk: Chunk = serde_json::from_str(&event.data).map_err(|e| {
            ModelError::Malformed(format!(
                "{e}; stream chunk: {}",
                body_excerpt(event.data.as_bytes(), self.key.as_ref())
            ))
        })?;
        if let Some(error) = chunk.error {
            let excerpt = body_excerpt(error.to_string().as_bytes(), self.key.as_ref());
            return Err(ModelError::Connection(format!(
                "the provider reported an error mid-stream: {excerpt}"
            )));
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.tokens());
        }
        // Only the first choice is read, as unstreamed.
        if let Some(choice) = chunk.choices.into_iter().next() {
            self.finished |= choice.finish_reason.is_some();
            if let Some(delta) = choice.delta {
                self.delta(delta, tokens)?;
            }
        }
        Ok(false)
    }

    fn finish(self) -> Result<ModelTurn, ModelError> {
        if !(self.done || self.finished) {
            return Err(ModelError::Connection(
                "the stream ended before the answer was complete ([DONE])".into(),
            ));
        }
        let tool_calls = self
            .calls
            .into_values()
            .enumerate()
            .map(|(position, call)| ToolCall {
                id: if call.id.is_empty() { format!("call_{position}") } else { call.id },
                name: call.name,
                arguments: parse_arguments(Value::String(call.arguments)),
            })
            .collect();
        let text = Some(self.text).filter(|text| !text.is_empty());
        Ok(ModelTurn { text, tool_calls, usage: self.usage.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::openai::parse_response;
    use crate::model::token_sink::RecordedTokens;

    fn data(value: Value) -> SseEvent {
        SseEvent { event: String::new(), data: value.to_string() }
    }

    fn delta(delta: Value) -> SseEvent {
        data(json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]}))
    }

    /// Feeds `events` and finishes, returning the tokens passed on and the answer.
    fn assemble(events: Vec<SseEvent>) -> (Vec<String>, Result<ModelTurn, ModelError>) {
        let tokens = RecordedTokens::default();
        let mut stream = OpenAiStream::new(None);
        for event in events {
            match stream.event(event, &tokens) {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => return (tokens.tokens(), Err(error)),
            }
        }
        (tokens.tokens(), stream.finish())
    }

    #[test]
    fn text_and_tool_call_fragments_make_the_unstreamed_answer() {
        let (tokens, turn) = assemble(vec![
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"content": "Let me "})),
            delta(json!({"content": "check."})),
            // Two calls, their fragments interleaved; the second's id missing altogether.
            delta(
                json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 1, "function": {"name": "g", "arguments": "{\"y\""}}]})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\": "}}]})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "1}"}}]})),
            delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": ": 2}"}}]})),
            data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
            data(json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}})),
            SseEvent { event: String::new(), data: "[DONE]".into() },
        ]);
        assert_eq!(tokens, ["Let me ", "check."]);
        let unstreamed = json!({
            "choices": [{"message": {"content": "Let me check.", "tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
                {"function": {"name": "g", "arguments": "{\"y\": 2}"}},
            ]}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        });
        let expected = parse_response(unstreamed.to_string().as_bytes(), None).expect("parses");
        assert_eq!(turn.expect("assembled"), expected);
        assert_eq!(expected.tool_calls[1].id, "call_1");
    }

    #[test]
    fn a_stream_without_usage_counts_nothing_and_one_without_done_may_still_be_complete() {
        let (_, turn) = assemble(vec![
            delta(json!({"content": "hi"})),
            data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
        ]);
        let turn = turn.expect("a finish reason and the end of the body complete it");
        assert_eq!((turn.text.as_deref(), turn.usage), (Some("hi"), TokenUsage::default()));
    }

    #[test]
    fn cut_malformed_and_error_streams_are_errors() {
        let (tokens, cut) = assemble(vec![delta(json!({"content": "par"}))]);
        assert_eq!(tokens, ["par"]);
        assert!(matches!(cut, Err(ModelError::Connection(m)) if m.contains("[DONE]")));
        let garbage = SseEvent { event: String::new(), data: "{\"choices\": [".into() };
        assert!(matches!(assemble(vec![garbage]).1, Err(ModelError::Malformed(_))));
        let error = data(json!({"error": {"message": "overloaded"}}));
        assert!(
            matches!(assemble(vec![error]).1, Err(ModelError::Connection(m)) if m.contains("overloaded"))
        );
    }
}
