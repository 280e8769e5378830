//! Anthropic Messages (`POST {baseUrl}/v1/messages`).

use agentry_protocol::runner_config::ModelEndpoint;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::anthropic_stream::AnthropicStream;
use super::chat::{ChatMessage, ChatRequest, ModelTurn, TokenUsage, ToolCall};
use super::error::{ApiKey, ConfigError, ModelError};
use super::stream_reader::read_stream;
use super::token_sink::TokenSink;
use super::transport::{endpoint_url, parse_body, post, post_json};

/// Where `provider: anthropic` goes when the endpoint names no `baseUrl`.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The API version every request declares.
pub const API_VERSION: &str = "2023-06-01";

/// The answer length cap when the endpoint sets none: the API requires one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A client for one Messages endpoint.
#[derive(Debug, Clone)]
pub struct AnthropicClient {
    http: reqwest::Client,
    url: Url,
    model: String,
    key: Option<ApiKey>,
    /// `x-api-key` (marked sensitive so reqwest never shows it) and `anthropic-version`.
    headers: HeaderMap,
    /// `max_tokens` and sampling parameters, exactly as sent.
    parameters: Map<String, Value>,
}

impl AnthropicClient {
    /// A client for `endpoint` (defaulting to [`DEFAULT_BASE_URL`]), sending `key` as `x-api-key`
    /// when given. Presence and frequency penalties do not exist in this API and are not sent.
    pub fn new(
        http: reqwest::Client,
        endpoint: &ModelEndpoint,
        key: Option<ApiKey>,
    ) -> Result<Self, ConfigError> {
        let url = endpoint_url(endpoint, Some(DEFAULT_BASE_URL), "v1/messages")?;
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(API_VERSION));
        if let Some(key) = &key {
            let mut value = HeaderValue::from_str(key.expose()).map_err(|_| ConfigError::InvalidKey {
                model: endpoint.name.clone(),
                env: endpoint.api_key_env.clone().unwrap_or_default(),
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        let mut parameters = Map::new();
        parameters.insert("max_tokens".into(), endpoint.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).into());
        if let Some(temperature) = endpoint.temperature {
            parameters.insert("temperature".into(), temperature.into());
        }
        if let Some(top_p) = endpoint.top_p {
            parameters.insert("top_p".into(), top_p.into());
        }
        Ok(Self { http, url, model: endpoint.model.clone(), key, headers, parameters })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sends `request` once (no retries: the chain's retry loop decides) and reads the answer.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ModelTurn, ModelError> {
        let body = self.request_body(request);
        let bytes = post_json(&self.http, &self.url, self.headers.clone(), &body, self.key.as_ref()).await?;
        parse_response(&bytes, self.key.as_ref())
    }

    /// As [`complete`](Self::complete), with the answer streamed: its text goes to `tokens` as
    /// it arrives, and the answer is the same as unstreamed (text, tool calls, usage).
    pub async fn complete_streamed(
        &self,
        request: &ChatRequest,
        tokens: &dyn TokenSink,
    ) -> Result<ModelTurn, ModelError> {
        let mut body = self.request_body(request);
        body["stream"] = Value::Bool(true);
        let response = post(&self.http, &self.url, self.headers.clone(), &body, self.key.as_ref()).await?;
        read_stream(response, AnthropicStream::new(self.key.clone()), tokens).await
    }

    /// The JSON body for `request`: system messages joined into `system`, the rest as alternating
    /// user/assistant messages of content blocks.
    pub fn request_body(&self, request: &ChatRequest) -> Value {
        let mut body = self.parameters.clone();
        body.insert("model".into(), Value::String(self.model.clone()));
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter_map(|m| match m {
                ChatMessage::System(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), Value::String(system.join("\n\n")));
        }
        body.insert("messages".into(), Value::Array(messages_json(&request.messages)));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "name": tool.name,
                        "description": tool.description,
                        "input_schema": tool.parameters,
                    })
                })
                .collect();
            body.insert("tools".into(), tools);
        }
        Value::Object(body)
    }
}

/// The conversation as Messages wants it. Consecutive blocks of one role go into one message:
/// the results of several tool calls become one user message, as the API requires.
fn messages_json(messages: &[ChatMessage]) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message {
            ChatMessage::System(_) => continue,
            ChatMessage::User(text) => ("user", vec![json!({"type": "text", "text": text})]),
            ChatMessage::Assistant { text, tool_calls } => {
                let text = text.iter().filter(|t| !t.is_empty()).map(|t| json!({"type": "text", "text": t}));
                let calls = tool_calls.iter().map(|call| {
                    json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": tool_input(&call.arguments),
                    })
                });
                ("assistant", text.chain(calls).collect())
            }
            ChatMessage::ToolResult { call_id, content, is_error, .. } => {
                let mut block = json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
                if *is_error {
                    block["is_error"] = Value::Bool(true);
                }
                ("user", vec![block])
            }
        };
        // The API refuses empty content; an empty assistant turn carries nothing anyway.
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    out.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect()
}

/// `tool_use.input` must be an object. Arguments that are not one only arise from another
/// provider's turn (a fallback mid-conversation); they are wrapped rather than lost.
fn tool_input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        other => json!({"arguments": other}),
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    content: Vec<ContentBlock>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Blocks this runner does not use (thinking, …) are skipped, not refused.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
pub(super) struct Usage {
    #[serde(default)]
    pub(super) input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) output_tokens: Option<u64>,
}

/// Reads a Messages response body: text blocks joined, `tool_use` blocks as tool calls, usage.
pub fn parse_response(bytes: &[u8], key: Option<&ApiKey>) -> Result<ModelTurn, ModelError> {
    let response: MessageResponse = parse_body(bytes, key)?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in response.content {
        match block {
            ContentBlock::Text { text: part } => text.push_str(&part),
            ContentBlock::ToolUse { id, name, input } => {
                let arguments = if input.is_null() { Value::Object(Map::new()) } else { input };
                tool_calls.push(ToolCall { id, name, arguments });
            }
            ContentBlock::Other => {}
        }
    }
    let usage = response.usage.map_or(TokenUsage::default(), |u| TokenUsage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
    });
    Ok(ModelTurn { text: (!text.is_empty()).then_some(text), tool_calls, usage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chat::ToolSpec;

    fn client(max_tokens: Option<u32>) -> AnthropicClient {
        crate::model::install_crypto_provider();
        let endpoint: ModelEndpoint = serde_json::from_value(json!({
            "name": "claude", "provider": "anthropic", "model": "claude-test",
            "maxTokens": max_tokens, "temperature": 0.2, "presencePenalty": 1.0,
        }))
        .expect("endpoint");
        AnthropicClient::new(reqwest::Client::new(), &endpoint, Some(ApiKey::new("ak-test"))).expect("client")
    }

    #[test]
    fn request_body_follows_the_messages_api() {
        let client = client(None);
        assert_eq!(client.url().as_str(), "https://api.anthropic.com/v1/messages");
        let call = |id: &str| ToolCall { id: id.into(), name: "f".into(), arguments: json!({"x": 1}) };
        let request = ChatRequest {
            messages: vec![
                ChatMessage::System("rules".into()),
                ChatMessage::System("memory".into()),
                ChatMessage::User("hi".into()),
                ChatMessage::Assistant {
                    text: Some("calling".into()),
                    tool_calls: vec![call("t1"), call("t2")],
                },
                ChatMessage::ToolResult {
                    call_id: "t1".into(),
                    name: "f".into(),
                    content: "one".into(),
                    is_error: false,
                },
                ChatMessage::ToolResult {
                    call_id: "t2".into(),
                    name: "f".into(),
                    content: "bad".into(),
                    is_error: true,
                },
            ],
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }],
        };
        let body = client.request_body(&request);
        assert_eq!(body["max_tokens"], 4096);
        assert_eq!(body["temperature"], 0.2);
        assert!(body.get("presence_penalty").is_none());
        assert_eq!(body["system"], "rules\n\nmemory");
        let messages = body["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(messages[0], json!({"role": "user", "content": [{"type": "text", "text": "hi"}]}));
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(messages[1]["content"][0], json!({"type": "text", "text": "calling"}));
        assert_eq!(
            messages[1]["content"][1],
            json!({"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}})
        );
        assert_eq!(
            messages[2],
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "bad", "is_error": true},
            ]})
        );
        assert_eq!(
            body["tools"][0],
            json!({"name": "f", "description": "d", "input_schema": {"type": "object"}})
        );
        assert_eq!(client.request_body(&ChatRequest { messages: vec![], tools: vec![] }).get("tools"), None);
        assert_eq!(self::client(Some(10)).request_body(&request)["max_tokens"], 10);
    }

    #[test]
    fn parses_text_tool_use_and_usage() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 20, "output_tokens": 7},
        });
        let turn = parse_response(body.to_string().as_bytes(), None).expect("parses");
        assert_eq!(turn.text.as_deref(), Some("Let me check."));
        assert_eq!(
            turn.tool_calls,
            vec![ToolCall {
                id: "toolu_1".into(),
                name: "weather".into(),
                arguments: json!({"city": "Oslo"})
            }]
        );
        assert_eq!(turn.usage, TokenUsage { input_tokens: 20, output_tokens: 7 });
        assert!(matches!(parse_response(b"{\"content\": 3}", None), Err(ModelError::Malformed(_))));
    }
}
