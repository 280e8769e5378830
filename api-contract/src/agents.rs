//! Agents: what the cluster says about them, how they perform, which one fits a task.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One Agent as the cluster reports it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSummary {
    /// The Agent's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `spec.role`.
    pub role: String,
    /// `spec.description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `spec.capabilities`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// `spec.modelRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `status.phase` (Pending, Ready, Degraded, Paused, Failed); empty before the first reconcile.
    #[serde(default)]
    pub phase: String,
    /// Replicas wanted.
    pub replicas: i32,
    /// Replicas ready to answer.
    pub ready_replicas: i32,
    /// The NATS subject that answers its queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why it is not ready, from its conditions, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A page of Agents.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentList {
    /// The Agents, by name.
    pub items: Vec<AgentSummary>,
}

/// The window a statistic covers: `since`/`until` (RFC 3339) or `window` back from now
/// (`15m`, `1h`, `24h`, `7d`; default `1h`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Start, RFC 3339; overrides `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// End, RFC 3339; default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Length back from `until`: a number with `s`, `m`, `h` or `d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// How one Agent did over a window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentPerformance {
    /// The Agent.
    pub agent: String,
    /// Window start, RFC 3339.
    pub since: String,
    /// Window end, RFC 3339.
    pub until: String,
    /// Requests it answered or failed.
    pub requests: u64,
    /// Share answered without error, 0..1 (1 when there were none).
    pub success_rate: f64,
    /// Latency percentiles, milliseconds.
    pub latency_ms: LatencyPercentiles,
    /// Tokens in and out.
    pub input_tokens: u64,
    /// Tokens produced.
    pub output_tokens: u64,
    /// USD spent.
    pub cost_usd: f64,
    /// Tool calls by tool.
    pub tools: Vec<ToolUsage>,
}

/// Latency percentiles in milliseconds (`null` when nothing was measured).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// How often one tool was called and how it went.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolUsage {
    /// The Tool.
    pub tool: String,
    /// Calls.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Mean duration, milliseconds.
    pub mean_duration_ms: f64,
}

/// What the selected Agent must be able to do.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSelectionRequest {
    /// Capabilities it must list in `spec.capabilities` (all of them); 1 to 32.
    pub capabilities: Vec<String>,
}

/// The Agents that can do it, best first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSelection {
    /// The best Agent's name; absent when none matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<String>,
    /// Every Agent with all the capabilities that is Ready, best first.
    pub candidates: Vec<AgentCandidate>,
}

/// One Agent considered, and the figures it was ranked by.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentCandidate {
    /// The Agent.
    pub name: String,
    /// Share of requests answered without error over the last hour (1 with no history).
    pub success_rate: f64,
    /// p95 latency over the last hour, milliseconds (absent with no history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_latency_ms: Option<f64>,
    /// Requests per ready replica over the last 5 minutes: its current load.
    pub load: f64,
}
