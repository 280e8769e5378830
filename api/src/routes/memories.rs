//! `…/agents/{name}/memories` (list, store), `…/memories/query` (search by text) and
//! `…/memory-blocks` (list, write one): an Agent's long-term memory (docs/memory.md).

use agentry_api_contract::memories::{
    MemoryBlockItem, MemoryBlockList, MemoryBlockRequest, MemoryItem, MemoryList, MemoryListQuery,
    MemoryQueryRequest, MemoryQueryResult, ScoredMemoryItem, StoreMemoryRequest,
};
use agentry_api_contract::paths;
use agentry_memory::store::{MAX_TOP_K, StoredBlock};
use agentry_memory::{Memory, MemoryType, NewMemory};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::memory_access::{self, memory_error};
use crate::query_bounds::{input_text, object_name, page_size};
use crate::routes::failures::Failures;
use crate::routes::query_params::Params;

/// The Agent's memories, newest first, optionally of one type. Needs `list memories`.
#[utoipa::path(get, path = paths::AGENT_MEMORIES, tag = "memory",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent"),
        MemoryListQuery),
    responses((status = 200, body = MemoryList), Failures))]
pub(crate) async fn list_memories(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    Params(query): Params<MemoryListQuery>,
) -> Result<Json<MemoryList>, ApiError> {
    names(&ns, &name)?;
    let limit = page_size(query.limit)?;
    let kind = query.r#type.as_deref().map(memory_type).transpose()?;
    state.access_reviews.require(&caller, Access::new("list", "memories", &ns)).await?;
    let memory = memory_access::open(&state, &ns, &name).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let page = memory
        .store
        .list(&memory.scope, kind, limit, query.cursor.as_deref())
        .await
        .map_err(|e| memory_error("cursor", e))?;
    Ok(Json(MemoryList { items: page.items.iter().map(item).collect(), next: page.next }))
}

/// Stores a memory for the Agent. Needs `create memories`.
#[utoipa::path(post, path = paths::AGENT_MEMORIES, tag = "memory",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    request_body = StoreMemoryRequest,
    responses((status = 201, body = MemoryItem), Failures))]
pub(crate) async fn store_memory(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<StoreMemoryRequest>,
) -> Result<(StatusCode, Json<MemoryItem>), ApiError> {
    names(&ns, &name)?;
    let new = NewMemory {
        kind: body.r#type.as_deref().map(memory_type).transpose()?.unwrap_or(MemoryType::Semantic),
        content: body.content,
        importance: body.importance.unwrap_or(0.5),
        tags: body.tags,
        expires_in_seconds: body.expires_in_seconds,
    };
    new.validate().map_err(|e| memory_error(field_of(&e.to_string()), e))?;
    state.access_reviews.require(&caller, Access::new("create", "memories", &ns)).await?;
    let memory = memory_access::open(&state, &ns, &name).await?;
    let stored = memory.store.remember(&memory.scope, &new).await.map_err(|e| memory_error("content", e))?;
    Ok((StatusCode::CREATED, Json(item(&stored))))
}

/// The Agent's memories best matching a text (similarity weighted by importance and recency).
/// Needs `list memories`.
#[utoipa::path(post, path = paths::AGENT_MEMORY_QUERY, tag = "memory",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    request_body = MemoryQueryRequest,
    responses((status = 200, body = MemoryQueryResult), Failures))]
pub(crate) async fn query_memories(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<MemoryQueryRequest>,
) -> Result<Json<MemoryQueryResult>, ApiError> {
    names(&ns, &name)?;
    input_text("query", &body.query)?;
    let top_k = body.top_k.map(|k| usize::try_from(k).unwrap_or(usize::MAX));
    if let Some(k) = top_k.filter(|k| !(1..=MAX_TOP_K).contains(k)) {
        return Err(ApiError::bad_field("topK", format!("topK must be 1 to {MAX_TOP_K}, not {k}")));
    }
    if let Some(score) = body.min_score.filter(|s| !(-1.0..=1.0).contains(s)) {
        return Err(ApiError::bad_field("minScore", format!("minScore must be -1 to 1, not {score}")));
    }
    state.access_reviews.require(&caller, Access::new("list", "memories", &ns)).await?;
    let memory = memory_access::open(&state, &ns, &name).await?;
    let top_k = top_k.unwrap_or(memory.top_k).clamp(1, MAX_TOP_K);
    let min_score = body.min_score.or(memory.min_score).unwrap_or(0.0);
    let found = memory
        .store
        .recall(&memory.scope, &body.query, top_k, min_score)
        .await
        .map_err(|e| memory_error("query", e))?;
    let items = found
        .iter()
        .map(|m| ScoredMemoryItem { memory: item(&m.memory), similarity: m.similarity, score: m.score })
        .collect();
    Ok(Json(MemoryQueryResult { items }))
}

/// The Agent's memory blocks, highest priority first. Needs `get memoryblocks`.
#[utoipa::path(get, path = paths::AGENT_MEMORY_BLOCKS, tag = "memory",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    responses((status = 200, body = MemoryBlockList), Failures))]
pub(crate) async fn list_blocks(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<MemoryBlockList>, ApiError> {
    names(&ns, &name)?;
    state.access_reviews.require(&caller, Access::new("get", "memoryblocks", &ns)).await?;
    let memory = memory_access::open(&state, &ns, &name).await?;
    let blocks = memory.store.blocks(&memory.scope).await.map_err(|e| memory_error("name", e))?;
    Ok(Json(MemoryBlockList { items: blocks.into_iter().map(block_item).collect() }))
}

/// Writes one memory block (created or replaced). Needs `update memoryblocks`.
#[utoipa::path(put, path = paths::AGENT_MEMORY_BLOCK, tag = "memory",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent"),
        ("label" = String, Path, description = "Block label")),
    request_body = MemoryBlockRequest,
    responses((status = 200, body = MemoryBlockItem), Failures))]
pub(crate) async fn put_block(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name, label)): Path<(String, String, String)>,
    BoundedJson(body): BoundedJson<MemoryBlockRequest>,
) -> Result<Json<MemoryBlockItem>, ApiError> {
    names(&ns, &name)?;
    state.access_reviews.require(&caller, Access::new("update", "memoryblocks", &ns)).await?;
    let memory = memory_access::open(&state, &ns, &name).await?;
    let block = memory
        .store
        .set_block(&memory.scope, &label, &body.content, body.priority)
        .await
        .map_err(|e| memory_error(field_of(&e.to_string()), e))?;
    Ok(Json(block_item(block)))
}

fn names(ns: &str, name: &str) -> Result<(), ApiError> {
    object_name("namespace", ns)?;
    object_name("name", name)?;
    Ok(())
}

fn memory_type(text: &str) -> Result<MemoryType, ApiError> {
    text.parse().map_err(|e: agentry_memory::MemoryError| memory_error("type", e))
}

/// The request field a validation message is about (the model's messages start with it).
fn field_of(message: &str) -> &'static str {
    let message = message.trim_start_matches("invalid memory input: ");
    ["content", "importance", "tags", "tag", "expiresInSeconds", "label", "priority"]
        .into_iter()
        .find(|field| message.starts_with(field) || message.contains(&format!(" {field} ")))
        .map_or("body", |field| if field == "tag" { "tags" } else { field })
}

fn item(memory: &Memory) -> MemoryItem {
    MemoryItem {
        id: memory.id.to_string(),
        r#type: memory.kind.as_str().to_owned(),
        content: memory.content.clone(),
        importance: memory.importance,
        tags: memory.tags.clone(),
        created_at: rfc3339(memory.created_at),
        expires_at: memory.expires_at.map(rfc3339),
    }
}

fn block_item(block: StoredBlock) -> MemoryBlockItem {
    MemoryBlockItem {
        label: block.label,
        content: block.content,
        priority: block.priority,
        updated_at: rfc3339(block.updated_at),
    }
}

/// Epoch seconds as RFC 3339 in UTC, to the microsecond.
fn rfc3339(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation)] // Epoch microseconds fit an i64.
    let micros = (seconds * 1e6).round() as i64;
    jiff::Timestamp::from_microsecond(micros).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}
