//! Sessions: conversations kept in PostgreSQL, declared (a Session object) or ad hoc (started
//! through this API; they live only in PostgreSQL).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::invoke::InvokeResponse;

/// Start an ad-hoc chat session with an agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreate {
    /// The Agent that answers.
    pub agent: String,
    /// A short title for lists, up to 200 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// One session.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    /// Its id.
    pub session_id: String,
    /// Its namespace.
    pub namespace: String,
    /// The Agent that answers it.
    pub agent: String,
    /// chat, task, automation, collaboration or analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Active or Ended for ad-hoc sessions; the Session's phase for declared ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Its title, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// First activity, RFC 3339.
    pub started_at: String,
    /// Last activity, RFC 3339.
    pub last_activity_at: String,
    /// When it ended, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Messages recorded.
    pub message_count: u64,
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// USD.
    pub cost_usd: f64,
}

/// Filters and page of a session list.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// Only this Agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Only this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Only this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Active at or after, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Started before, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of sessions, most recently active first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// This page.
    pub items: Vec<SessionSummary>,
    /// Cursor of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One message of a conversation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionMessage {
    /// user, assistant or tool.
    pub role: String,
    /// The text.
    pub content: String,
    /// The agent whose run it belongs to.
    pub agent: String,
    /// The request it belongs to.
    pub request_id: String,
    /// For tool results: the Tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Recorded at, RFC 3339.
    pub created_at: String,
}

/// Page of a session's messages.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of messages, oldest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    /// This page.
    pub items: Vec<SessionMessage>,
    /// Cursor of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A message to an ad-hoc session: the agent answers it with the conversation so far.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionMessagePost {
    /// The message, 1 byte to 64 KiB.
    pub content: String,
    /// Seconds to wait for the answer, 1 to 600 (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

/// The agent's answer to a session message.
pub type SessionReply = InvokeResponse;
