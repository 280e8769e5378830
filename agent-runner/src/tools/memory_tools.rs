//! The `memory_search` and `memory_store` builtins: the agent's own long-term memory (or its
//! namespace's, when the MemoryStore shares memories), searched and written by the model.

use agentry_memory::{MemoryType, NewMemory};
use serde_json::{Value, json};

use super::ToolError;
use crate::memory_recall::{LongTermMemory, MemoryUnavailable};

/// Most memories one `memory_search` call returns.
const MAX_SEARCH_RESULTS: u64 = 20;
/// Memories a search returns when the model names no number.
const DEFAULT_SEARCH_RESULTS: u64 = 5;

/// The JSON Schema of `memory_search`'s arguments.
pub(crate) fn search_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "description": "What to look for, in words."},
            "topK": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS,
                     "description": "How many memories to return (5 when absent)."},
            "type": {"type": "string", "enum": ["semantic", "episodic", "procedural", "working"],
                     "description": "Only memories of this kind."}
        },
        "required": ["query"],
        "additionalProperties": false
    })
}

/// The JSON Schema of `memory_store`'s arguments.
pub(crate) fn store_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "content": {"type": "string", "minLength": 1, "maxLength": agentry_memory::model::MAX_CONTENT_BYTES,
                        "description": "The fact, event or procedure to remember."},
            "type": {"type": "string", "enum": ["semantic", "episodic", "procedural", "working"],
                     "description": "semantic (a fact, the default), episodic (something that happened), procedural (how to do something), working (short-lived)."},
            "importance": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "How much it matters, 0 to 1 (0.5 when absent)."},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": agentry_memory::model::MAX_TAGS},
            "expiresInSeconds": {"type": "integer", "minimum": 1,
                                 "description": "Forget it after this many seconds."}
        },
        "required": ["content"],
        "additionalProperties": false
    })
}

/// Runs `memory_search` with arguments already checked against [`search_schema`].
pub(crate) async fn search(memory: Option<&LongTermMemory>, arguments: &Value) -> Result<String, ToolError> {
    let memory = memory.ok_or_else(no_store)?;
    let query = arguments.get("query").and_then(Value::as_str).unwrap_or_default();
    let top_k = arguments.get("topK").and_then(Value::as_u64).unwrap_or(DEFAULT_SEARCH_RESULTS);
    let kind = kind_of(arguments)?;
    // With a type filter, more are fetched so that the filter still leaves up to `topK`.
    let fetch = if kind.is_some() { top_k.saturating_mul(4).min(100) } else { top_k };
    let found =
        memory.search(query, usize::try_from(fetch).unwrap_or(5), "search").await.map_err(unavailable)?;
    let memories: Vec<Value> = found
        .iter()
        .filter(|scored| kind.is_none_or(|kind| scored.memory.kind == kind))
        .take(usize::try_from(top_k).unwrap_or(5))
        .map(|scored| {
            let m = &scored.memory;
            json!({"id": m.id.to_string(), "type": m.kind, "content": m.content, "importance": m.importance,
                   "tags": m.tags, "similarity": scored.similarity, "createdAt": m.created_at})
        })
        .collect();
    Ok(json!({"memories": memories}).to_string())
}

/// Runs `memory_store` with arguments already checked against [`store_schema`].
pub(crate) async fn store(memory: Option<&LongTermMemory>, arguments: &Value) -> Result<String, ToolError> {
    let memory = memory.ok_or_else(no_store)?;
    let content = arguments.get("content").and_then(Value::as_str).unwrap_or_default();
    let mut new = NewMemory::semantic(content);
    if let Some(kind) = kind_of(arguments)? {
        new.kind = kind;
    }
    if let Some(importance) = arguments.get("importance").and_then(Value::as_f64) {
        // The schema bounds it to 0..=1; f32 is the store's precision.
        #[allow(clippy::cast_possible_truncation)]
        let importance = importance as f32;
        new.importance = importance;
    }
    if let Some(tags) = arguments.get("tags").and_then(Value::as_array) {
        new.tags = tags.iter().filter_map(Value::as_str).map(str::to_string).collect();
    }
    new.expires_in_seconds = arguments.get("expiresInSeconds").and_then(Value::as_u64);
    let id = memory.remember(&new, "store").await.map_err(unavailable)?;
    Ok(json!({"stored": id}).to_string())
}

fn kind_of(arguments: &Value) -> Result<Option<MemoryType>, ToolError> {
    match arguments.get("type").and_then(Value::as_str) {
        None => Ok(None),
        Some(name) => name
            .parse()
            .map(Some)
            .map_err(|e: agentry_memory::MemoryError| ToolError::invalid_arguments(e.to_string())),
    }
}

fn no_store() -> ToolError {
    ToolError::error(
        "this agent has no long-term memory: its Agent names no MemoryStore (spec.memory.storeRef)",
    )
}

fn unavailable(error: MemoryUnavailable) -> ToolError {
    match error {
        MemoryUnavailable::Refused(why) => ToolError::invalid_arguments(why),
        down @ MemoryUnavailable::Down(_) => ToolError::error(down.to_string()),
    }
}
