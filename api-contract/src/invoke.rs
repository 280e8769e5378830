//! Asking an agent: the request, the answer and the streamed run.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A question for an agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvokeRequest {
    /// The question or task, 1 byte to 64 KiB.
    pub input: String,
    /// Free-form JSON given with the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// Seconds to wait for the answer, 1 to 600 (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Model spend after which the run stops with `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}

/// Tokens used and what they cost.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummary {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// USD.
    pub cost_usd: f64,
}

/// One tool call the agent made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallInfo {
    /// The Tool.
    pub name: String,
    /// Whether it returned a result.
    pub ok: bool,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
}

/// The agent's answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvokeResponse {
    /// The request's id: the interaction it is recorded under.
    pub request_id: String,
    /// The session it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The answer.
    pub output: String,
    /// The Model that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What answering cost.
    pub usage: UsageSummary,
    /// Tool calls made while answering.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallInfo>,
    /// Messages the run held (input, model turns, tool results).
    pub message_count: u32,
}

/// One Server-Sent Event of a streamed run. The SSE `event:` field is the variant's name
/// (`token`, `toolCall`, `modelCall`, `reply`, `error`) and `data:` is this object as JSON.
/// A stream ends with exactly one `reply` or `error`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum StreamItem {
    /// Text the model produced, as it arrives (only from providers that stream).
    Token {
        /// The new text.
        text: String,
    },
    /// A tool call finished.
    ToolCall {
        /// The Tool.
        name: String,
        /// Whether it returned a result.
        ok: bool,
        /// How long it took, milliseconds.
        duration_ms: u64,
    },
    /// A model call finished.
    ModelCall {
        /// The Model.
        model: String,
        /// Whether it answered.
        ok: bool,
    },
    /// The final answer; the stream ends.
    Reply(InvokeResponse),
    /// The run failed; the stream ends.
    Error(crate::ApiErrorBody),
}

impl StreamItem {
    /// The SSE `event:` name of this item.
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::ToolCall { .. } => "toolCall",
            Self::ModelCall { .. } => "modelCall",
            Self::Reply(_) => "reply",
            Self::Error(_) => "error",
        }
    }
}
