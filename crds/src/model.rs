//! `Model`: a reusable model endpoint that Agents and MemoryStores refer to.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, conditions_schema};
use crate::secret_ref::SecretKeyRef;

/// Which API the endpoint speaks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModelProvider {
    /// OpenAI's Chat Completions API.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Any server speaking the OpenAI Chat Completions API at `baseUrl` (vLLM, Ollama, …).
    OpenaiCompatible,
}

/// Price per million tokens, used to compute each request's cost.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    /// USD per million input (prompt) tokens.
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub input_per_million_tokens: f64,
    /// USD per million output (completion) tokens.
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub output_per_million_tokens: f64,
}

fn default_timeout_seconds() -> i32 {
    60
}

/// A model endpoint: provider, model name, where it lives, its key and default parameters.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "agentry.dev",
    version = "v1alpha1",
    kind = "Model",
    namespaced,
    status = "ModelStatus",
    shortname = "mdl",
    category = "agentry",
    doc = "A model endpoint (provider, model, base URL, API key Secret, default parameters, pricing) that Agents use.",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.model"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.provider != 'openai-compatible' || has(self.baseUrl)").message("baseUrl is required when provider is openai-compatible").field_path(".baseUrl"),
    validation = Rule::new("self.provider == 'openai-compatible' || has(self.apiKeySecretRef)").message("apiKeySecretRef is required for the openai and anthropic providers").field_path(".apiKeySecretRef")
)]
pub struct ModelSpec {
    /// The API the endpoint speaks.
    pub provider: ModelProvider,
    /// The provider's model name, e.g. `gpt-4o-mini` or `claude-sonnet-4-5`.
    #[schemars(length(min = 1, max = 256))]
    pub model: String,
    /// Base URL of the API; defaults to the provider's public endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(r"^https?://[^\s]+$"))]
    pub base_url: Option<String>,
    /// The Secret key holding the API key. Optional only for openai-compatible endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
    /// Default sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Default nucleus-sampling probability mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f64>,
    /// Default cap on output tokens per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_tokens: Option<i32>,
    /// Default presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -2.0, max = 2.0))]
    pub presence_penalty: Option<f64>,
    /// Default frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -2.0, max = 2.0))]
    pub frequency_penalty: Option<f64>,
    /// Token prices; without them, cost is reported as zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// How long one call may take before it counts as failed and is retried.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: i32,
}

/// What the operator last observed of a Model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the API-key Secret exists and holds the key.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}
