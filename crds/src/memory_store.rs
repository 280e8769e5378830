//! `MemoryStore`: where agents' long-term memory lives.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, conditions_schema};
use crate::names::DNS_SUBDOMAIN_PATTERN;
use crate::secret_ref::SecretKeyRef;

fn default_schema() -> String {
    "agentry".to_string()
}

/// A PostgreSQL database holding the memory tables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresStore {
    /// The Secret key holding a `postgres://` connection URI, credentials included.
    pub connection_secret_ref: SecretKeyRef,
    /// The PostgreSQL schema the tables are created in.
    #[serde(default = "default_schema")]
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z_][a-z0-9_]*$"))]
    pub schema: String,
}

/// How memories are turned into vectors.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingProvider {
    /// An OpenAI-compatible `/embeddings` endpoint, reached through a Model.
    OpenaiCompatible,
    /// Feature hashing inside the runner: no model, no network, lexical similarity only.
    Hashing,
}

/// The embedding used for similarity search.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.dimensions >= 1 && self.dimensions <= 8192").message("embedding.dimensions must be within 1..8192").field_path(".dimensions"),
    validation = Rule::new("self.provider != 'openai-compatible' || has(self.modelRef)").message("embedding.modelRef is required when provider is openai-compatible: it names the Model whose endpoint and key are used").field_path(".modelRef")
)]
pub struct EmbeddingSpec {
    /// How vectors are made.
    pub provider: EmbeddingProvider,
    /// The Model whose endpoint and key serve embeddings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub model_ref: Option<String>,
    /// The embedding model's name, when it differs from the Model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub model: Option<String>,
    /// Vector length; changing it needs a new store.
    pub dimensions: i32,
}

/// Which memories are pruned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Memories older than this are pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub max_age_days: Option<i32>,
    /// Memories less important than this are pruned first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_importance: Option<f64>,
    /// Per agent, the least important memories beyond this count are pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000000))]
    pub max_per_agent: Option<i64>,
}

/// When memories are consolidated and pruned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Consolidation {
    /// A five-field cron expression or a macro such as `@daily`.
    #[schemars(
        length(min = 1, max = 128),
        pattern(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+( \S+){4})$")
    )]
    pub schedule: String,
}

/// Where agents' long-term memory lives, how it is embedded and how long it is kept.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "agentry.dev",
    version = "v1alpha1",
    kind = "MemoryStore",
    namespaced,
    status = "MemoryStoreStatus",
    shortname = "mem",
    category = "agentry",
    doc = "Long-term memory for Agents: a PostgreSQL database, an embedding, and retention rules.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Memories", type_ = "integer", json_path = ".status.memoryCount"),
    printcolumn(name = "Embedding", type_ = "string", json_path = ".spec.embedding.provider", priority = 1),
    printcolumn(name = "Last Pruned", type_ = "date", json_path = ".status.lastPrunedAt", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStoreSpec {
    /// The PostgreSQL database.
    pub postgres: PostgresStore,
    /// How memories are embedded.
    pub embedding: EmbeddingSpec,
    /// Which memories are pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// When pruning and consolidation run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidation: Option<Consolidation>,
}

/// What the operator last observed of a MemoryStore.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStoreStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: connected and migrated.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Memories held, across agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_count: Option<i64>,
    /// When retention last ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pruned_at: Option<Time>,
}
