//! The runner's configuration: rendered by the operator into a ConfigMap, read by the runner from
//! the file named by `AGENTRY_CONFIG`. It holds no secrets, only the names of the environment
//! variables that do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of [`RunnerConfig`] these types describe; a runner refuses any other.
pub const RUNNER_CONFIG_VERSION: u32 = 1;

/// Environment variable naming the config file.
pub const CONFIG_PATH_ENV: &str = "AGENTRY_CONFIG";

/// Everything an agent-runner process needs to know.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunnerConfig {
    /// Always [`RUNNER_CONFIG_VERSION`].
    pub version: u32,
    /// The agent's namespace.
    pub namespace: String,
    /// The agent's name.
    pub agent: String,
    /// The agent's role (`domain`, `orchestrator`, …).
    pub role: String,
    /// What the agent is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Instructions placed first in every prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Always-present context, highest priority first once sorted.
    #[serde(default)]
    pub memory_blocks: Vec<MemoryBlock>,
    /// The model chain: the first answers, the rest are fallbacks in order.
    pub models: Vec<ModelEndpoint>,
    /// Tools the agent may call.
    #[serde(default)]
    pub tools: Vec<ToolDefinition>,
    /// Agents this agent may message.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Bounds on requests.
    #[serde(default)]
    pub limits: Limits,
    /// Retries and circuit breaking for model calls.
    #[serde(default)]
    pub resilience: Resilience,
    /// Where NATS is.
    pub nats: NatsConfig,
    /// The runner's own HTTP endpoint (`/healthz`, `/readyz`, `/metrics`).
    #[serde(default)]
    pub http: HttpConfig,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[serde(default = "default_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    /// Events waiting for JetStream beyond this count are dropped (and counted).
    #[serde(default = "default_event_buffer")]
    pub event_buffer: usize,
}

fn default_grace_seconds() -> u64 {
    25
}
fn default_event_buffer() -> usize {
    10_000
}

/// One block of always-present context.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryBlock {
    /// Short name.
    pub label: String,
    /// The text.
    pub content: String,
    /// Higher comes first.
    #[serde(default)]
    pub priority: i32,
}

/// The API a model endpoint speaks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// OpenAI Chat Completions at api.openai.com unless `baseUrl` says otherwise.
    Openai,
    /// Anthropic Messages at api.anthropic.com unless `baseUrl` says otherwise.
    Anthropic,
    /// OpenAI Chat Completions at `baseUrl`.
    OpenaiCompatible,
}

impl Provider {
    /// The provider's name as in manifests and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::OpenaiCompatible => "openai-compatible",
        }
    }
}

/// USD per million tokens.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pricing {
    /// Per million input tokens.
    pub input_per_million_tokens: f64,
    /// Per million output tokens.
    pub output_per_million_tokens: f64,
}

impl Pricing {
    /// The cost of the given token counts.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_million_tokens
            + output_tokens as f64 * self.output_per_million_tokens)
            / 1_000_000.0
    }
}

/// One model of the chain, resolved from a Model object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelEndpoint {
    /// The Model object's name (what replies report as `model`).
    pub name: String,
    /// The API it speaks.
    pub provider: Provider,
    /// The provider's model name.
    pub model: String,
    /// API base URL; the provider's public one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (set from a Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Output token cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Token prices.
    #[serde(default)]
    pub pricing: Pricing,
    /// Per-attempt timeout.
    #[serde(default = "default_model_timeout")]
    pub timeout_seconds: u64,
}

fn default_model_timeout() -> u64 {
    60
}

/// A tool the agent may call, with everything needed to run it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolDefinition {
    /// The Tool object's name: what the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    #[serde(default = "empty_object_schema")]
    pub input_schema: serde_json::Value,
    /// How it runs.
    pub implementation: ToolImplementation,
    /// Calls allowed per minute by this replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    /// Per-call timeout.
    #[serde(default = "default_tool_timeout")]
    pub timeout_seconds: u64,
}

fn empty_object_schema() -> serde_json::Value {
    serde_json::json!({"type": "object"})
}
fn default_tool_timeout() -> u64 {
    30
}

/// How a tool runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ToolImplementation {
    /// An HTTP request.
    #[serde(rename_all = "camelCase")]
    Http {
        /// URL template; `{arg}` is replaced by the URL-encoded argument.
        url: String,
        /// HTTP method, upper case.
        method: String,
        /// Literal headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Headers whose values are in environment variables (set from Secrets).
        #[serde(default)]
        secret_headers: Vec<SecretHeader>,
        /// Responses longer than this are cut.
        #[serde(default = "default_max_response_bytes")]
        max_response_bytes: usize,
    },
    /// A question to another agent over NATS.
    #[serde(rename_all = "camelCase")]
    Agent {
        /// The agent asked.
        agent: String,
    },
    /// A function built into the runner.
    #[serde(rename_all = "camelCase")]
    Builtin {
        /// `calculator`, `current_time`, …
        name: String,
    },
}

fn default_max_response_bytes() -> usize {
    64 * 1024
}

/// A header whose value is read from an environment variable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretHeader {
    /// Header name.
    pub name: String,
    /// Environment variable holding its value.
    pub env: String,
}

/// Bounds on requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// End-to-end time for one request.
    pub timeout_seconds: u64,
    /// Model turns per request.
    pub max_turns: u32,
    /// Delegation chain depth allowed from here.
    pub max_delegation_depth: u32,
    /// Requests worked on at once by one replica.
    pub max_concurrent_requests: u32,
    /// Model spend per UTC day by one replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_usd: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_seconds: 120,
            max_turns: 10,
            max_delegation_depth: 3,
            max_concurrent_requests: 16,
            daily_budget_usd: None,
        }
    }
}

/// Retries and circuit breaking for model calls.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resilience {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry, with jitter.
    pub initial_backoff_ms: u64,
    /// Consecutive failures that open a provider's breaker.
    pub failure_threshold: u32,
    /// Seconds an open breaker waits before a trial call.
    pub reset_seconds: u64,
}

impl Default for Resilience {
    fn default() -> Self {
        Self { max_retries: 3, initial_backoff_ms: 200, failure_threshold: 5, reset_seconds: 30 }
    }
}

/// Where NATS is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated.
    pub url: String,
}

/// The runner's HTTP endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port to listen on.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: "0.0.0.0:8080".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_config_reads_with_defaults() {
        let config: RunnerConfig = serde_json::from_value(serde_json::json!({
            "version": 1,
            "namespace": "fleet",
            "agent": "finance-officer",
            "role": "domain",
            "models": [{"name": "m", "provider": "openai-compatible", "model": "x", "baseUrl": "http://127.0.0.1:1"}],
            "nats": {"url": "nats://127.0.0.1:4222"}
        }))
        .expect("minimal config");
        assert_eq!(config.limits.max_turns, 10);
        assert_eq!(config.http.listen, "0.0.0.0:8080");
        assert_eq!(config.models[0].timeout_seconds, 60);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<RunnerConfig>(serde_json::json!({
            "version": 1, "namespace": "a", "agent": "b", "role": "c", "models": [],
            "nats": {"url": "x"}, "sytemPrompt": "typo"
        }))
        .expect_err("typo refused");
        assert!(err.to_string().contains("sytemPrompt"), "{err}");
    }

    #[test]
    fn tool_implementation_is_tagged_by_type() {
        let tool: ToolDefinition = serde_json::from_value(serde_json::json!({
            "name": "ask-finance", "description": "d",
            "implementation": {"type": "agent", "agent": "finance-officer"}
        }))
        .expect("agent tool");
        assert_eq!(tool.implementation, ToolImplementation::Agent { agent: "finance-officer".into() });
        assert_eq!(tool.input_schema, serde_json::json!({"type": "object"}));
    }

    #[test]
    fn pricing_is_per_million_tokens() {
        let p = Pricing { input_per_million_tokens: 1.0, output_per_million_tokens: 2.0 };
        assert!((p.cost(1_000_000, 500_000) - 2.0).abs() < 1e-12);
    }
}
