//! `Agent`: an AI agent the operator runs as a Deployment of agent-runner pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, LocalObjectReference, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, conditions_schema};
use crate::names::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN};
use crate::session::Usage;

/// What part an agent plays in a fleet; it shapes defaults and how peers describe it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
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

/// One block of always-present context placed in the prompt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryBlock {
    /// Short name of the block, e.g. `persona` or `policies`.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z][a-z0-9_-]*$"))]
    pub label: String,
    /// The text placed in the prompt.
    #[schemars(length(min = 1, max = 16384))]
    pub content: String,
    /// Higher comes first in the prompt.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub priority: i32,
}

fn default_top_k() -> i32 {
    5
}

/// Long-term memory: where it lives and how much of it reaches the prompt.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.blocks.all(b, self.blocks.exists_one(o, o.label == b.label))").message("memory.blocks labels must be unique").field_path(".blocks"))]
pub struct AgentMemory {
    /// Name of the MemoryStore holding this agent's memories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub store_ref: Option<String>,
    /// How many memories are retrieved per request.
    #[serde(default = "default_top_k")]
    #[schemars(range(min = 1, max = 100))]
    pub top_k: i32,
    /// Memories less similar than this are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<f64>,
    /// Always-present context blocks.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub blocks: Vec<MemoryBlock>,
}

fn default_timeout_seconds() -> i32 {
    120
}
fn default_max_turns() -> i32 {
    10
}
fn default_max_delegation_depth() -> i32 {
    3
}
fn default_max_concurrent_requests() -> i32 {
    16
}

/// Bounds on one request and on the agent as a whole.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentLimits {
    /// How long one request may run, end to end.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: i32,
    /// Model turns per request before it is answered with an error.
    #[serde(default = "default_max_turns")]
    #[schemars(range(max = 1000))]
    #[x_kube(validation = Rule::new("self >= 1").message("maxTurns must be at least 1: the model needs one turn to answer"))]
    pub max_turns: i32,
    /// How many agents deep a delegation chain starting here may go.
    #[serde(default = "default_max_delegation_depth")]
    #[schemars(range(min = 0, max = 16))]
    pub max_delegation_depth: i32,
    /// Requests one replica works on at once; more are answered `busy`.
    #[serde(default = "default_max_concurrent_requests")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_concurrent_requests: i32,
    /// Model spend per UTC day, in USD, after which requests are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub daily_budget_usd: Option<f64>,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            timeout_seconds: default_timeout_seconds(),
            max_turns: default_max_turns(),
            max_delegation_depth: default_max_delegation_depth(),
            max_concurrent_requests: default_max_concurrent_requests(),
            daily_budget_usd: None,
        }
    }
}

fn default_failure_threshold() -> i32 {
    5
}
fn default_reset_seconds() -> i32 {
    30
}

/// When to stop calling a failing model provider for a while.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerPolicy {
    /// Consecutive failures that open the breaker.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 1000))]
    pub failure_threshold: i32,
    /// How long the breaker stays open before one trial call.
    #[serde(default = "default_reset_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub reset_seconds: i32,
}

impl Default for CircuitBreakerPolicy {
    fn default() -> Self {
        Self { failure_threshold: default_failure_threshold(), reset_seconds: default_reset_seconds() }
    }
}

fn default_max_retries() -> i32 {
    3
}
fn default_initial_backoff_ms() -> i32 {
    200
}

/// Retries and circuit breaking for model calls.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resilience {
    /// Retries of one model call on 429, 5xx, timeouts and connection errors.
    #[serde(default = "default_max_retries")]
    #[schemars(range(min = 0, max = 10))]
    pub max_retries: i32,
    /// First backoff; it doubles per retry, with jitter.
    #[serde(default = "default_initial_backoff_ms")]
    #[schemars(range(min = 1, max = 60000))]
    pub initial_backoff_ms: i32,
    /// Per-provider circuit breaker.
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerPolicy,
}

impl Default for Resilience {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            circuit_breaker: CircuitBreakerPolicy::default(),
        }
    }
}

/// Scheduling and identity overrides for the runner pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Extra labels on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Node labels the pods must be scheduled on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Affinity rules for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// The ServiceAccount the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub service_account_name: Option<String>,
    /// The pods' PriorityClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Secrets for pulling `image`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
}

fn default_replicas() -> i32 {
    1
}

/// An agent: its role, prompt, model chain, tools, peers, memory and limits.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "agentry.dev",
    version = "v1alpha1",
    kind = "Agent",
    namespaced,
    status = "AgentStatus",
    shortname = "ag",
    category = "agentry",
    doc = "An AI agent run by the operator as agent-runner pods, answering on NATS subject agentry.<namespace>.agent.<name>.query.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelRef"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Runners Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Role", type_ = "string", json_path = ".spec.role", priority = 1),
    printcolumn(name = "Subject", type_ = "string", json_path = ".status.subject", priority = 1),
    printcolumn(name = "Cost today", type_ = "number", json_path = ".status.usage.costUsd", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("!self.metadata.name.contains('.')").message("metadata.name must not contain '.': an Agent's name is a NATS subject token (agentry.<namespace>.agent.<name>.query)"),
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name must be at most 63 characters: it names the agent's Deployment and Service")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(self.modelRef in self.fallbackModelRefs)").message("fallbackModelRefs must not repeat modelRef: a fallback is a different model").field_path(".fallbackModelRefs")
)]
pub struct AgentSpec {
    /// The part the agent plays.
    pub role: AgentRole,
    /// What the agent is for, as peers and people read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// What the agent can do, as short phrases peers use to pick it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub capabilities: Vec<String>,
    /// Instructions placed first in every prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub system_prompt: Option<String>,
    /// The Model answering first.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub model_ref: String,
    /// Models tried in order when the one before fails or its circuit is open.
    #[serde(default)]
    #[schemars(length(max = 8), inner(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub fallback_model_refs: Vec<String>,
    /// Names of the Tools the agent may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128), inner(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub tools: Vec<String>,
    /// Names of the Agents this agent may message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128), inner(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub peers: Vec<String>,
    /// Long-term memory and always-present context blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<AgentMemory>,
    /// Runner pods; they share the agent's queue group.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Scale to zero without deleting anything.
    #[serde(default)]
    pub paused: bool,
    /// Bounds on requests and spend.
    #[serde(default)]
    pub limits: AgentLimits,
    /// Retries and circuit breaking for model calls.
    #[serde(default)]
    pub resilience: Resilience,
    /// CPU and memory of each runner container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The runner image; defaults to the operator's own version of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// Scheduling and identity overrides for the runner pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodOverrides>,
}

/// Where an Agent stands, at a glance.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AgentPhase {
    /// Waiting for references to resolve or pods to start.
    Pending,
    /// Every replica is ready.
    Ready,
    /// Running, but with fewer ready replicas than asked or a reference lost.
    Degraded,
    /// Scaled to zero by `paused`.
    Paused,
    /// Cannot run until the spec or its references change.
    Failed,
}

/// What the operator last observed of an Agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the Agent stands, at a glance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AgentPhase>,
    /// `Ready` (it answers: references resolved, enough runners available), `ModelResolved`,
    /// `ToolsResolved`, `MemoryBound` and `Available` (every runner ready with the current config).
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Runner pods that exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Runner pods ready to answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// The NATS subject answering queries to this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Hash of the rendered runner configuration the pods run with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// What the agent's replicas together spent today (UTC), refreshed about once a minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<AgentUsage>,
}

/// An Agent's tokens, spend and requests on one UTC day, summed over its replicas.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentUsage {
    /// The UTC day counted, `YYYY-MM-DD`.
    #[schemars(pattern(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub day: String,
    /// Tokens and cost of the day.
    #[serde(flatten)]
    pub usage: Usage,
    /// Requests answered (or failed).
    #[schemars(range(min = 0))]
    pub requests: i64,
}
