//! The recorded history: interactions, statistics over a window, and cost.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::agents::LatencyPercentiles;

/// Filters and page of an interaction list (the seed plan's filters).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InteractionListQuery {
    /// Only requests from this agent (or outside caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Only requests answered by this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this type: `query` (from outside), `delegation` (from another agent) or `session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Only this session's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Only `ok` or only `error` outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// At or after, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Before, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One recorded interaction: a request an agent answered or failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Interaction {
    /// The request's id.
    pub request_id: String,
    /// The delegating request, for delegated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_request_id: Option<String>,
    /// `query`, `delegation` or `session`.
    pub r#type: String,
    /// The session, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_agent: Option<String>,
    /// Who answered.
    pub to_agent: String,
    /// `ok` or the error code.
    pub outcome: String,
    /// The error's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The question (in lists: its first 200 characters).
    pub query: String,
    /// The answer (in lists: its first 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Milliseconds from request to reply.
    pub latency_ms: u64,
    /// The Model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// USD.
    pub cost_usd: f64,
    /// Delegation hops from the first caller.
    pub delegation_depth: u32,
    /// Answered at, RFC 3339.
    pub created_at: String,
}

/// A page of interactions, newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractionList {
    /// This page.
    pub items: Vec<Interaction>,
    /// Cursor of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which interactions statistics cover: a window plus an optional agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Start, RFC 3339; overrides `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// End, RFC 3339; default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Length back from `until` (`15m`, `1h`, `24h`, `7d`; default `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Only this answering agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// Counts and figures of a group of interactions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractionTotals {
    /// Interactions.
    pub count: u64,
    /// Of which ended in error.
    pub errors: u64,
    /// `errors / count` (0 when there were none).
    pub error_rate: f64,
    /// Latency percentiles, milliseconds.
    pub latency_ms: LatencyPercentiles,
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// USD.
    pub cost_usd: f64,
}

/// One group of a breakdown.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractionGroup {
    /// The type or agent this group is.
    pub key: String,
    /// Its figures.
    #[serde(flatten)]
    pub totals: InteractionTotals,
}

/// Statistics over a window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractionStats {
    /// Window start, RFC 3339.
    pub since: String,
    /// Window end, RFC 3339.
    pub until: String,
    /// Everything in the window.
    pub totals: InteractionTotals,
    /// By type.
    pub by_type: Vec<InteractionGroup>,
    /// By answering agent.
    pub by_agent: Vec<InteractionGroup>,
}

/// One line of the cost report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostLine {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The agent that spent it.
    pub agent: String,
    /// The Model.
    pub model: String,
    /// Model calls.
    pub calls: u64,
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// USD.
    pub cost_usd: f64,
}

/// Cost by agent, model and day over a window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    /// Window start, RFC 3339.
    pub since: String,
    /// Window end, RFC 3339.
    pub until: String,
    /// Lines by day, then agent, then model.
    pub lines: Vec<CostLine>,
    /// Sum of every line's cost.
    pub total_cost_usd: f64,
}
