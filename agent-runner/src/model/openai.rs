//! OpenAI Chat Completions (`POST {baseUrl}/chat/completions`), also spoken by most self-hosted
//! and proxy model servers ("OpenAI-compatible").

use agentry_protocol::runner_config::{ModelEndpoint, Provider};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::chat::{ChatMessage, ChatRequest, ModelTurn, TokenUsage, ToolCall};
use super::error::{ApiKey, ConfigError, ModelError};
use super::openai_stream::OpenAiStream;
use super::stream_reader::read_stream;
use super::token_sink::TokenSink;
use super::transport::{endpoint_url, parse_body, post, post_json};

/// Where `provider: openai` goes when the endpoint names no `baseUrl`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A client for one Chat Completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    url: Url,
    model: String,
    key: Option<ApiKey>,
    /// `Bearer <key>`, marked sensitive so reqwest never shows it.
    authorization: Option<HeaderValue>,
    /// Sampling parameters, exactly as sent.
    parameters: Map<String, Value>,
}

impl OpenAiClient {
    /// A client for `endpoint` (an `openai` one defaults to [`DEFAULT_BASE_URL`]; an
    /// `openai-compatible` one must name its `baseUrl`), sending `key` as a bearer token when given.
    pub fn new(
        http: reqwest::Client,
        endpoint: &ModelEndpoint,
        key: Option<ApiKey>,
    ) -> Result<Self, ConfigError> {
        let default_base = (endpoint.provider == Provider::Openai).then_some(DEFAULT_BASE_URL);
        let url = endpoint_url(endpoint, default_base, "chat/completions")?;
        let authorization = key
            .as_ref()
            .map(|key| {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    ConfigError::InvalidKey {
                        model: endpoint.name.clone(),
                        env: endpoint.api_key_env.clone().unwrap_or_default(),
                    }
                })?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        let mut parameters = Map::new();
        let mut set = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                parameters.insert(name.to_string(), value);
            }
        };
        set("temperature", endpoint.temperature.map(Value::from));
        set("top_p", endpoint.top_p.map(Value::from));
        set("max_tokens", endpoint.max_tokens.map(Value::from));
        set("presence_penalty", endpoint.presence_penalty.map(Value::from));
        set("frequency_penalty", endpoint.frequency_penalty.map(Value::from));
        Ok(Self { http, url, model: endpoint.model.clone(), key, authorization, parameters })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sends `request` once (no retries: the chain's retry loop decides) and reads the answer.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ModelTurn, ModelError> {
        let bytes =
            post_json(&self.http, &self.url, self.headers(), &self.request_body(request), self.key.as_ref())
                .await?;
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
        // Usage comes in a last chunk only when asked for.
        body["stream_options"] = json!({"include_usage": true});
        let response = post(&self.http, &self.url, self.headers(), &body, self.key.as_ref()).await?;
        read_stream(response, OpenAiStream::new(self.key.clone()), tokens).await
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        headers
    }

    /// The JSON body for `request`.
    pub fn request_body(&self, request: &ChatRequest) -> Value {
        let mut body = self.parameters.clone();
        body.insert("model".into(), Value::String(self.model.clone()));
        body.insert("messages".into(), request.messages.iter().map(message_json).collect());
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": tool.parameters,
                        }
                    })
                })
                .collect();
            body.insert("tools".into(), tools);
        }
        Value::Object(body)
    }
}

fn message_json(message: &ChatMessage) -> Value {
    match message {
        ChatMessage::System(text) => json!({"role": "system", "content": text}),
        ChatMessage::User(text) => json!({"role": "user", "content": text}),
        ChatMessage::Assistant { text, tool_calls } => {
            let mut out = json!({"role": "assistant", "content": text});
            if !tool_calls.is_empty() {
                out["tool_calls"] = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": arguments_text(&call.arguments)},
                        })
                    })
                    .collect();
            }
            out
        }
        // The API has no error flag on tool results; saying so in the text lets the model react.
        ChatMessage::ToolResult { call_id, content, is_error, .. } => json!({
            "role": "tool",
            "tool_call_id": call_id,
            "content": if *is_error { format!("Error: {content}") } else { content.clone() },
        }),
    }
}

/// Arguments as the API carries them: a JSON text. Arguments the model wrote that were not JSON
/// were kept as a JSON string; they go back verbatim, as the model wrote them.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Arguments as the chat types hold them: the parsed JSON, or the text as a JSON string when it is
/// not JSON (the tool's schema check then tells the model). No text at all means no arguments.
pub(super) fn parse_arguments(arguments: Value) -> Value {
    match arguments {
        Value::String(text) if text.trim().is_empty() => Value::Object(Map::new()),
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Value::Null => Value::Object(Map::new()),
        // Some compatible servers send the object itself.
        other => other,
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
}

#[derive(Deserialize)]
struct AssistantMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
pub(super) struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl Usage {
    pub(super) fn tokens(&self) -> TokenUsage {
        TokenUsage {
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens: self.completion_tokens.unwrap_or(0),
        }
    }
}

/// A message's `content` as text: a string, or the text of its parts (as some compatible servers
/// answer); empty text is no text.
pub(super) fn content_text(content: Option<Value>) -> Result<Option<String>, ModelError> {
    let text = match content {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(Value::Array(parts)) => {
            Some(parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<String>())
        }
        Some(other) => return Err(ModelError::Malformed(format!("unexpected message content: {other}"))),
    };
    Ok(text.filter(|text| !text.is_empty()))
}

/// Reads a Chat Completions response body: the first choice's text and tool calls, and usage.
pub fn parse_response(bytes: &[u8], key: Option<&ApiKey>) -> Result<ModelTurn, ModelError> {
    let completion: Completion = parse_body(bytes, key)?;
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(ModelError::Malformed("the response has no choices".into()));
    };
    let text = content_text(choice.message.content)?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, call)| ToolCall {
            // Ids pair calls with results; a server that omits them still gets distinct ones.
            id: call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{index}")),
            name: call.function.name,
            arguments: parse_arguments(call.function.arguments),
        })
        .collect();
    let usage = completion.usage.as_ref().map_or(TokenUsage::default(), Usage::tokens);
    Ok(ModelTurn { text, tool_calls, usage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chat::ToolSpec;

    fn endpoint(provider: Provider, base_url: Option<&str>) -> ModelEndpoint {
        serde_json::from_value(json!({
            "name": "primary", "provider": provider, "model": "gpt-test",
            "baseUrl": base_url, "temperature": 0.5, "maxTokens": 100, "frequencyPenalty": 0.1,
        }))
        .expect("endpoint")
    }

    fn client(endpoint: &ModelEndpoint) -> Result<OpenAiClient, ConfigError> {
        crate::model::install_crypto_provider();
        OpenAiClient::new(reqwest::Client::new(), endpoint, Some(ApiKey::new("sk-test")))
    }

    #[test]
    fn urls_default_only_for_openai() {
        let openai = client(&endpoint(Provider::Openai, None)).expect("client");
        assert_eq!(openai.url().as_str(), "https://api.openai.com/v1/chat/completions");
        let local =
            client(&endpoint(Provider::OpenaiCompatible, Some("http://127.0.0.1:9/v1/"))).expect("client");
        assert_eq!(local.url().as_str(), "http://127.0.0.1:9/v1/chat/completions");
        assert_eq!(
            client(&endpoint(Provider::OpenaiCompatible, None)).expect_err("no base"),
            ConfigError::MissingBaseUrl { model: "primary".into() }
        );
        assert!(matches!(
            client(&endpoint(Provider::OpenaiCompatible, Some("ftp://x"))),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
    }

    #[test]
    fn request_body_carries_messages_tools_and_parameters() {
        let client = client(&endpoint(Provider::Openai, None)).expect("client");
        let request = ChatRequest {
            messages: vec![
                ChatMessage::System("be brief".into()),
                ChatMessage::User("2+2?".into()),
                ChatMessage::Assistant {
                    text: None,
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "calculator".into(),
                        arguments: json!({"expression": "2+2"}),
                    }],
                },
                ChatMessage::ToolResult {
                    call_id: "c1".into(),
                    name: "calculator".into(),
                    content: "4".into(),
                    is_error: false,
                },
                ChatMessage::ToolResult {
                    call_id: "c2".into(),
                    name: "calculator".into(),
                    content: "bad".into(),
                    is_error: true,
                },
            ],
            tools: vec![ToolSpec {
                name: "calculator".into(),
                description: "arithmetic".into(),
                parameters: json!({"type": "object"}),
            }],
        };
        let body = client.request_body(&request);
        assert_eq!(body["model"], "gpt-test");
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["frequency_penalty"], 0.1);
        assert!(body.get("top_p").is_none(), "unset parameters are not sent");
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], r#"{"expression":"2+2"}"#);
        assert_eq!(body["messages"][3], json!({"role": "tool", "tool_call_id": "c1", "content": "4"}));
        assert_eq!(body["messages"][4]["content"], "Error: bad");
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "calculator");
        assert_eq!(body["tools"][0]["function"]["parameters"], json!({"type": "object"}));
    }

    #[test]
    fn parses_text_tool_calls_and_usage() {
        let body = json!({
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "not json"}},
                {"type": "function", "function": {"name": "h", "arguments": ""}},
            ]}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        });
        let turn = parse_response(body.to_string().as_bytes(), None).expect("parses");
        assert_eq!(turn.text, None);
        assert_eq!(turn.tool_calls[0].arguments, json!({"x": 1}));
        assert_eq!(turn.tool_calls[1].arguments, json!("not json"));
        assert_eq!(turn.tool_calls[2].id, "call_2");
        assert_eq!(turn.tool_calls[2].arguments, json!({}));
        assert_eq!(turn.usage, TokenUsage { input_tokens: 12, output_tokens: 3 });

        let text = json!({"choices": [{"message": {"content": "hello"}}]});
        let turn = parse_response(text.to_string().as_bytes(), None).expect("parses");
        assert_eq!(turn.text.as_deref(), Some("hello"));
        assert_eq!(turn.usage, TokenUsage::default());
    }

    #[test]
    fn malformed_bodies_are_malformed_and_redacted() {
        let key = ApiKey::new("sk-test");
        let err = parse_response(b"<html>sk-test</html>", Some(&key)).expect_err("not json");
        assert!(matches!(err, ModelError::Malformed(_)));
        assert!(!err.to_string().contains("sk-test"), "{err}");
        assert!(matches!(parse_response(br#"{"choices": []}"#, None), Err(ModelError::Malformed(_))));
    }
}
