//! Reading a scope's memories page by page, and its memory blocks (the API's views of a store).

use uuid::Uuid;

use crate::error::MemoryError;
use crate::model::{Memory, MemoryScope, MemoryType};

use super::MemoryStore;
use super::in_process::scope_filter;
use super::rows::{MEMORY_COLUMNS, MemoryRow, memory_of};

/// Longest memory-block label, in bytes (the Agent's `memory.blocks` allow 63).
pub const MAX_BLOCK_LABEL_BYTES: usize = 63;
/// Longest memory-block content, in bytes (as the Agent's `memory.blocks`).
pub const MAX_BLOCK_BYTES: usize = 16 * 1024;

/// One page of memories, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPage {
    /// The memories.
    pub items: Vec<Memory>,
    /// Where the next page starts, when there is one: pass it back as `after`.
    pub next: Option<String>,
}

/// A memory block: labelled text the agent always sees in its prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredBlock {
    /// Its label, unique per agent.
    pub label: String,
    /// The text.
    pub content: String,
    /// Higher comes first in the prompt.
    pub priority: i32,
    /// When it was last written, seconds since the Unix epoch.
    pub updated_at: f64,
}

/// The position after a memory in the newest-first order: its creation time in microseconds
/// and its id, as `micros.uuid`.
fn cursor_of(memory: &Memory) -> String {
    #[allow(clippy::cast_possible_truncation)] // Epoch microseconds fit an i64 for 292,000 years.
    let micros = (memory.created_at * 1e6).round() as i64;
    format!("{micros}.{}", memory.id)
}

fn parse_cursor(text: &str) -> Result<(i64, Uuid), MemoryError> {
    let invalid = || MemoryError::Invalid(format!("cursor {text:?} is not one this store handed out"));
    let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
    Ok((micros.parse().map_err(|_| invalid())?, id.parse().map_err(|_| invalid())?))
}

impl MemoryStore {
    /// Up to `limit` live memories of `scope` (of `kind`, when given), newest first, after the
    /// cursor `after` from a previous page.
    pub async fn list(
        &self,
        scope: &MemoryScope,
        kind: Option<MemoryType>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<MemoryPage, MemoryError> {
        let after = after.map(parse_cursor).transpose()?;
        let agent = (!scope.shared).then_some(scope.agent.as_str());
        // Whole microseconds, as the cursor holds them: the order and the filter agree.
        let sql = format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = $1 AND {} \
             AND (expires_at IS NULL OR expires_at > now()) AND ($3::text IS NULL OR type = $3) \
             AND ($4::bigint IS NULL OR (round(extract(epoch FROM created_at) * 1000000)::bigint, id) < ($4, $5)) \
             ORDER BY round(extract(epoch FROM created_at) * 1000000)::bigint DESC, id DESC LIMIT $6",
            scope_filter(scope, 2)
        );
        let rows: Vec<MemoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&scope.namespace)
            .bind(agent)
            .bind(kind.map(MemoryType::as_str))
            .bind(after.map(|(micros, _)| micros))
            .bind(after.map(|(_, id)| id))
            .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let more = rows.len() > limit;
        let items: Vec<Memory> = rows
            .into_iter()
            .take(limit)
            .map(|row| memory_of(row).map(|(m, _)| m))
            .collect::<Result<_, _>>()?;
        let next = if more { items.last().map(cursor_of) } else { None };
        Ok(MemoryPage { items, next })
    }

    /// Writes memory block `label` of `scope`'s agent (created or replaced).
    pub async fn set_block(
        &self,
        scope: &MemoryScope,
        label: &str,
        content: &str,
        priority: i32,
    ) -> Result<StoredBlock, MemoryError> {
        check_block(label, content, priority)?;
        let (label, content, priority, updated_at) = sqlx::query_as(
            "INSERT INTO memory_blocks (namespace, agent, label, content, priority) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (namespace, agent, label) DO UPDATE \
               SET content = EXCLUDED.content, priority = EXCLUDED.priority, updated_at = now() \
             RETURNING label, content, priority, extract(epoch FROM updated_at)::float8",
        )
        .bind(&scope.namespace)
        .bind(&scope.agent)
        .bind(label)
        .bind(content)
        .bind(priority)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        Ok(StoredBlock { label, content, priority, updated_at })
    }

    /// The memory blocks of `scope`'s agent, highest priority first, then by label.
    pub async fn blocks(&self, scope: &MemoryScope) -> Result<Vec<StoredBlock>, MemoryError> {
        let rows: Vec<(String, String, i32, f64)> = sqlx::query_as(
            "SELECT label, content, priority, extract(epoch FROM updated_at)::float8 FROM memory_blocks \
             WHERE namespace = $1 AND agent = $2 ORDER BY priority DESC, label",
        )
        .bind(&scope.namespace)
        .bind(&scope.agent)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        Ok(rows
            .into_iter()
            .map(|(label, content, priority, updated_at)| StoredBlock {
                label,
                content,
                priority,
                updated_at,
            })
            .collect())
    }
}

/// A block as the Agent's `memory.blocks` allow it: label `^[a-z][a-z0-9_-]*$` of at most 63
/// bytes, content 1 byte to 16 KiB, priority 0..=100.
fn check_block(label: &str, content: &str, priority: i32) -> Result<(), MemoryError> {
    let invalid = |why: String| Err(MemoryError::Invalid(why));
    let label_ok = label.len() <= MAX_BLOCK_LABEL_BYTES
        && label.starts_with(|c: char| c.is_ascii_lowercase())
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !label_ok {
        return invalid(format!(
            "label {label:?} must be 1 to {MAX_BLOCK_LABEL_BYTES} of a-z 0-9 _ -, starting with a letter"
        ));
    }
    if content.trim().is_empty() || content.len() > MAX_BLOCK_BYTES {
        return invalid(format!("content must be 1 to {MAX_BLOCK_BYTES} bytes, not {}", content.len()));
    }
    if !(0..=100).contains(&priority) {
        return invalid(format!("priority {priority} is not within 0..100"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_named() {
        let id = Uuid::new_v4();
        let memory = Memory {
            id,
            agent: "a".into(),
            kind: MemoryType::Semantic,
            content: "c".into(),
            importance: 0.5,
            tags: Vec::new(),
            created_at: 1_764_525_600.123_456,
            expires_at: None,
        };
        assert_eq!(parse_cursor(&cursor_of(&memory)).expect("cursor"), (1_764_525_600_123_456, id));
        let error = parse_cursor("nonsense").expect_err("bad");
        assert!(error.to_string().contains("cursor"), "{error}");
    }

    #[test]
    fn blocks_are_checked_naming_the_field() {
        assert!(check_block("persona", "You are terse.", 10).is_ok());
        for (label, content, priority, field) in
            [("Persona", "x", 0, "label"), ("persona", " ", 0, "content"), ("persona", "x", 101, "priority")]
        {
            let error = check_block(label, content, priority).expect_err(field);
            assert!(error.to_string().contains(field), "{error}");
        }
    }
}
