//! An Agent's long-term memories and memory blocks (its MemoryStore, `spec.memory.storeRef`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filter and page of a memory list.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MemoryListQuery {
    /// Only this type: `semantic`, `episodic`, `procedural` or `working`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One memory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryItem {
    /// Its id (a UUID).
    pub id: String,
    /// `semantic`, `episodic`, `procedural` or `working`.
    pub r#type: String,
    /// The text remembered.
    pub content: String,
    /// How much it matters, 0 to 1.
    pub importance: f32,
    /// Its labels.
    pub tags: Vec<String>,
    /// When it was stored, RFC 3339.
    pub created_at: String,
    /// When it expires, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A page of memories, newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryList {
    /// The memories.
    pub items: Vec<MemoryItem>,
    /// The cursor of the next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A memory to store for the Agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreMemoryRequest {
    /// `semantic` (default), `episodic`, `procedural` or `working`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// The text, 1 byte to 16 KiB.
    pub content: String,
    /// How much it matters, 0 to 1 (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<f32>,
    /// Up to 32 labels of 1 to 64 bytes.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Seconds until it expires; absent: kept until pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// A search of the Agent's memories by text.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryQueryRequest {
    /// What to look for.
    pub query: String,
    /// How many memories, 1 to 100 (default: the Agent's `memory.topK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Least cosine similarity, -1 to 1 (default: the Agent's `memory.minScore`, else 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
}

/// A memory a search found, with how it scored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoredMemoryItem {
    /// The memory.
    pub memory: MemoryItem,
    /// Cosine similarity to the query.
    pub similarity: f32,
    /// The ranking score: similarity weighted by importance and recency (docs/memory.md).
    pub score: f32,
}

/// The memories a search found, best first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryQueryResult {
    /// The memories.
    pub items: Vec<ScoredMemoryItem>,
}

/// The new text of a memory block.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryBlockRequest {
    /// The text, 1 byte to 16 KiB.
    pub content: String,
    /// Higher comes first in the prompt, 0 to 100 (default 0).
    #[serde(default)]
    pub priority: i32,
}

/// A memory block as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryBlockItem {
    /// Its label.
    pub label: String,
    /// The text.
    pub content: String,
    /// Higher comes first.
    pub priority: i32,
    /// When it was last written, RFC 3339.
    pub updated_at: String,
}

/// The Agent's memory blocks, highest priority first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryBlockList {
    /// The blocks.
    pub items: Vec<MemoryBlockItem>,
}
