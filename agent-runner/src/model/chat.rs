//! Provider-neutral conversation types: what the agent loop sends to a model and gets back.

use serde::{Deserialize, Serialize};

/// One message of the conversation sent to a model.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatMessage {
    /// Instructions (system prompt, memory blocks).
    System(String),
    /// The caller's input.
    User(String),
    /// A model turn: text and/or tool calls.
    Assistant {
        /// Text the model wrote, if any.
        text: Option<String>,
        /// Tools the model asked to call.
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, answering the call with the same id.
    ToolResult {
        /// The id of the [`ToolCall`] answered.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The result (or the error, when `is_error`), as text the model reads.
        content: String,
        /// Whether the call failed; the model may correct itself.
        is_error: bool,
    },
}

/// A tool call requested by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id, echoed in the result.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON (a string the model wrote that is not JSON stays a JSON string).
    pub arguments: serde_json::Value,
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Name the model calls it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// Tokens a model call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// What a model answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTurn {
    /// Text, if any.
    pub text: Option<String>,
    /// Tool calls asked for, if any; an empty list with text is a final answer.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used, as the provider reported them.
    pub usage: TokenUsage,
}

/// A request to a model: the conversation so far and the tools on offer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The conversation, system messages first.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
}
