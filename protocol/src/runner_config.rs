//! The runner's configuration: rendered by the operator into a ConfigMap, read by the runner from
//! the file named by `AGENTRY_CONFIG`. It holds no secrets, only the names of the environment
//! variables that do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of [`RunnerConfig`] these types describe; a runner refuses any other.
pub const RUNNER_CONFIG_VERSION: u32 = 1;

/// Environment variable naming the config file.
pub const CONFIG_PATH_ENV: &str = "AGENTRY_CONFIG";

/// Environment variable naming the NATS `.creds` file; when set it wins over
/// `nats.credentialsFile` (the pod names the same mounted file in both, and a kubelet that
/// places mounts elsewhere, like devcluster's, rewrites environment values, not file contents).
pub const NATS_CREDENTIALS_ENV: &str = "AGENTRY_NATS_CREDENTIALS_FILE";

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
    /// The part the agent plays in its fleet.
    pub role: AgentRole,
    /// What the agent is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Instructions placed first in every prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Always-present context, highest priority first once sorted.
    #[serde(default)]
    pub memory_blocks: Vec<MemoryBlock>,
    /// Long-term memory, when the Agent is bound to a MemoryStore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryConfig>,
    /// The model chain: the first answers, the rest are fallbacks in order.
    pub models: Vec<ModelEndpoint>,
    /// Tools the agent may call.
    #[serde(default)]
    pub tools: Vec<ToolDefinition>,
    /// Agents this agent may message; the runner refuses to delegate to any other.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Agents that may ask or notify this one; absent, every agent may (platform identities,
    /// `_api` and the like, always may). The runner checks the caller its subject names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_agents: Option<Vec<String>>,
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
    /// Seconds in-flight requests get to finish after SIGTERM; [`DEFAULT_SHUTDOWN_GRACE_SECONDS`]
    /// when absent. The operator writes `limits.timeoutSeconds` plus a margin, so a drain never
    /// cuts a request it admitted.
    #[serde(default = "default_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    /// Events waiting for JetStream beyond this count are dropped (and counted);
    /// [`DEFAULT_EVENT_BUFFER`] when absent.
    #[serde(default = "default_event_buffer")]
    pub event_buffer: usize,
}

/// The drain of a config that names none: Kubernetes' default termination grace period (30 s)
/// less the [`EVENT_FLUSH_SECONDS`] that follow the drain, so the runner still exits before the
/// kubelet's SIGKILL.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 25;

/// How long the runner gives buffered events to reach JetStream at exit, after the drain. A pod's
/// termination grace period must cover the drain and this.
pub const EVENT_FLUSH_SECONDS: u64 = 5;

/// Events buffered for JetStream before new ones are dropped. Events are well under a KiB to a
/// few KiB each, so this bounds the buffer to some MiB while riding out a JetStream outage of tens
/// of seconds at hundreds of events a second; beyond it, dropping (and counting) beats growing
/// without bound.
pub const DEFAULT_EVENT_BUFFER: usize = 10_000;

fn default_grace_seconds() -> u64 {
    DEFAULT_SHUTDOWN_GRACE_SECONDS
}
fn default_event_buffer() -> usize {
    DEFAULT_EVENT_BUFFER
}

/// What part an agent plays in a fleet; the Agent's `spec.role`, same names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum AgentRole {
    /// Expert in one business domain.
    Domain,
    /// Plans work and routes it to peers.
    Orchestrator,
    /// Oversees and checks other agents' work.
    Supervisor,
    /// Carries out delegated tasks.
    Worker,
    /// Analyses data and reports findings.
    Analyzer,
    /// Prepares options and recommendations for a person's decision.
    DecisionSupport,
    /// Reviews code changes.
    CodeReview,
}

impl AgentRole {
    /// Every role, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::Domain,
        Self::Orchestrator,
        Self::Supervisor,
        Self::Worker,
        Self::Analyzer,
        Self::DecisionSupport,
        Self::CodeReview,
    ];

    /// The role's name as in manifests and the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Orchestrator => "orchestrator",
            Self::Supervisor => "supervisor",
            Self::Worker => "worker",
            Self::Analyzer => "analyzer",
            Self::DecisionSupport => "decision-support",
            Self::CodeReview => "code-review",
        }
    }
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

/// Where an agent's long-term memory lives and how much of it reaches the prompt. The
/// connection URL is a secret: only the name of the environment variable holding it is here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryConfig {
    /// The MemoryStore's name (for logs and errors).
    pub store: String,
    /// Environment variable holding the `postgres://` URL (set from the store's Secret).
    pub url_env: String,
    /// The PostgreSQL schema of the memory tables.
    pub schema: String,
    /// How memories are embedded.
    pub embedding: MemoryEmbedding,
    /// Searches see every agent's memories of the namespace, not only the agent's own.
    #[serde(default)]
    pub shared: bool,
    /// Memories retrieved per request.
    #[serde(default = "default_memory_top_k")]
    pub top_k: usize,
    /// Memories less similar than this are left out.
    #[serde(default)]
    pub min_score: f32,
    /// Characters of retrieved memories placed in the prompt at most.
    #[serde(default = "default_memory_prompt_chars")]
    pub max_prompt_chars: usize,
    /// Store an episodic memory (the turn and its answer) after each answered request.
    #[serde(default = "default_true")]
    pub episodic: bool,
}

/// Memories retrieved per request when the config names no number (the Agent's default).
pub const DEFAULT_MEMORY_TOP_K: usize = 5;
/// Characters of memories placed in a prompt when the config names no number: a few thousand
/// tokens at most, so memories inform the prompt without crowding out the conversation.
pub const DEFAULT_MEMORY_PROMPT_CHARS: usize = 4000;

fn default_memory_top_k() -> usize {
    DEFAULT_MEMORY_TOP_K
}
fn default_memory_prompt_chars() -> usize {
    DEFAULT_MEMORY_PROMPT_CHARS
}
fn default_true() -> bool {
    true
}

/// How a memory store's vectors are made; the MemoryStore's `embedding`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "provider", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MemoryEmbedding {
    /// Feature hashing in the runner: no model, no network.
    #[serde(rename_all = "camelCase")]
    Hashing {
        /// Vector length.
        dimensions: usize,
    },
    /// An OpenAI-compatible `/embeddings` endpoint.
    #[serde(rename_all = "camelCase")]
    OpenaiCompatible {
        /// Vector length.
        dimensions: usize,
        /// API base URL, version path included.
        base_url: String,
        /// The embedding model's name.
        model: String,
        /// Environment variable holding the API key (set from a Secret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key_env: Option<String>,
    },
}

impl MemoryEmbedding {
    /// The vector length.
    pub fn dimensions(&self) -> usize {
        match self {
            Self::Hashing { dimensions } | Self::OpenaiCompatible { dimensions, .. } => *dimensions,
        }
    }
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
    /// Seconds a successful result is reused for a call with the same arguments (the Tool's
    /// `cacheTtlSeconds`); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_seconds: Option<u32>,
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
        /// HTTP method.
        method: HttpMethod,
        /// Literal headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Headers whose values are in environment variables (set from Secrets).
        #[serde(default)]
        secret_headers: Vec<SecretHeader>,
        /// Responses longer than this are cut; [`DEFAULT_MAX_RESPONSE_BYTES`] when absent.
        #[serde(default = "default_max_response_bytes")]
        max_response_bytes: usize,
        /// Non-public networks (CIDRs) the tool may reach; loopback, private, link-local, cloud
        /// metadata and other internal addresses are refused otherwise.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        allow_private_networks: Vec<String>,
        /// Hosts the tool may reach whatever addresses they resolve to.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        allowed_hosts: Vec<String>,
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
        /// Which one.
        name: BuiltinTool,
    },
}

/// How many bytes of an `http` tool's response reach the model: 64 KiB is a few thousand words,
/// more than a model makes use of from one call, while a runaway endpoint cannot fill the prompt
/// (and the provider's context window) with megabytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

/// HTTP method of an `http` tool; the Tool's `spec.http.method`, same names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// Arguments become query parameters.
    Get,
    /// Arguments are the JSON body.
    Post,
    /// Arguments are the JSON body.
    Put,
    /// Arguments are the JSON body.
    Patch,
    /// Arguments become query parameters.
    Delete,
}

impl HttpMethod {
    /// Every method, in declaration order.
    pub const ALL: [Self; 5] = [Self::Get, Self::Post, Self::Put, Self::Patch, Self::Delete];

    /// The method as sent on the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Whether the call's arguments go in the query string rather than a JSON body.
    pub fn arguments_in_query(self) -> bool {
        matches!(self, Self::Get | Self::Delete)
    }
}

/// A function built into the runner; the Tool's `spec.builtin.name`, same names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinTool {
    /// Arithmetic on numbers.
    Calculator,
    /// The current date and time, optionally in a named time zone.
    CurrentTime,
    /// Search the agent's long-term memory.
    MemorySearch,
    /// Store a memory.
    MemoryStore,
}

impl BuiltinTool {
    /// Every builtin, in declaration order.
    pub const ALL: [Self; 4] = [Self::Calculator, Self::CurrentTime, Self::MemorySearch, Self::MemoryStore];

    /// The builtin's name as in manifests and the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calculator => "calculator",
            Self::CurrentTime => "current_time",
            Self::MemorySearch => "memory_search",
            Self::MemoryStore => "memory_store",
        }
    }
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
    /// Largest request payload taken, in bytes; a larger one is answered `too_large` unread.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Request payload bytes one replica works on at once (admission by bytes as well as by
    /// `maxConcurrentRequests`); past it requests are answered `busy`.
    #[serde(default = "default_max_in_flight_bytes")]
    pub max_in_flight_bytes: usize,
}

/// A request's payload bound: 256 KiB is a long document's worth of text, while the model
/// request, events and reply a request turns into stay a few times that.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Payload bytes in flight per replica: 4 MiB, sixteen maximum-size requests' worth.
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: usize = 4 * 1024 * 1024;

fn default_max_request_bytes() -> usize {
    DEFAULT_MAX_REQUEST_BYTES
}

fn default_max_in_flight_bytes() -> usize {
    DEFAULT_MAX_IN_FLIGHT_BYTES
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_seconds: 120,
            max_turns: 10,
            max_delegation_depth: 3,
            max_concurrent_requests: 16,
            daily_budget_usd: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
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
    /// The NATS `.creds` file the runner connects with (the agent's own identity, a mounted
    /// Secret): a path, never the credentials. None: connect without authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
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
            "version": 1, "namespace": "a", "agent": "b", "role": "worker", "models": [],
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

    /// Every name serde reads for `T`, from its refusal of a name it does not know: serde's own
    /// list of variants, so a variant missing from an `ALL` cannot go unnoticed.
    fn serde_names<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let err = serde_json::from_value::<T>(serde_json::json!("no-such-name")).expect_err("unknown name");
        let message = err.to_string();
        let (_, list) = message.split_once("expected one of ").expect("serde lists the variants");
        list.split(", ").map(|name| name.trim().trim_matches('`').to_string()).collect()
    }

    /// `all` lists every variant serde knows, in declaration order, each serializing to its
    /// `as_str` name and reading back as itself; the names are `expected`.
    fn wire_names_are<T>(all: &[T], name: fn(T) -> &'static str, expected: &[&str])
    where
        T: Serialize + serde::de::DeserializeOwned + Copy + PartialEq + std::fmt::Debug,
    {
        assert_eq!(serde_names::<T>(), expected);
        assert_eq!(all.iter().map(|v| name(*v)).collect::<Vec<_>>(), expected);
        for value in all.iter().copied() {
            assert_eq!(serde_json::to_value(value).expect("serializes"), serde_json::json!(name(value)));
            let back: T = serde_json::from_value(serde_json::json!(name(value))).expect("reads back");
            assert_eq!(back, value);
        }
    }

    #[test]
    fn the_enums_wire_names_round_trip() {
        // The names operators wrote and runners read when these fields were strings.
        wire_names_are(
            &AgentRole::ALL,
            AgentRole::as_str,
            &[
                "domain",
                "orchestrator",
                "supervisor",
                "worker",
                "analyzer",
                "decision-support",
                "code-review",
            ],
        );
        wire_names_are(&HttpMethod::ALL, HttpMethod::as_str, &["GET", "POST", "PUT", "PATCH", "DELETE"]);
        wire_names_are(
            &BuiltinTool::ALL,
            BuiltinTool::as_str,
            &["calculator", "current_time", "memory_search", "memory_store"],
        );
    }

    #[test]
    fn names_outside_the_enums_are_refused_naming_the_choices() {
        let err = serde_json::from_value::<ToolImplementation>(serde_json::json!({
            "type": "builtin", "name": "teleport"
        }))
        .expect_err("unknown builtin");
        assert!(err.to_string().contains("teleport") && err.to_string().contains("current_time"), "{err}");
        let err = serde_json::from_value::<ToolImplementation>(serde_json::json!({
            "type": "http", "url": "http://h/", "method": "TRACE"
        }))
        .expect_err("unsupported method");
        assert!(err.to_string().contains("TRACE") && err.to_string().contains("DELETE"), "{err}");
    }

    #[test]
    fn pricing_is_per_million_tokens() {
        let p = Pricing { input_per_million_tokens: 1.0, output_per_million_tokens: 2.0 };
        assert!((p.cost(1_000_000, 500_000) - 2.0).abs() < 1e-12);
    }
}
