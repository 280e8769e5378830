//! Memory rows as read from the table, and the exact ranking of candidates.

use uuid::Uuid;

use crate::error::MemoryError;
use crate::model::{Memory, ScoredMemory};
use crate::quantised::dot_f32;
use crate::scoring::score;

/// The columns every memory query selects, in [`MemoryRow`]'s order; times as epoch seconds.
pub(super) const MEMORY_COLUMNS: &str = "id, agent, type, content, importance, tags, \
     extract(epoch FROM created_at)::float8, extract(epoch FROM expires_at)::float8, embedding, \
     extract(epoch FROM now())::float8";

/// id, agent, type, content, importance, tags, created_at, expires_at, embedding, now.
pub(super) type MemoryRow =
    (Uuid, String, String, String, f32, Vec<String>, f64, Option<f64>, Option<Vec<f32>>, f64);

/// A row's vector and the database's clock when it was read.
type VectorAndNow = (Option<Vec<f32>>, f64);

/// The memory of a row, with its vector and the database's clock.
pub(super) fn memory_of(row: MemoryRow) -> Result<(Memory, VectorAndNow), MemoryError> {
    let (id, agent, kind, content, importance, tags, created_at, expires_at, embedding, now) = row;
    let memory = Memory { id, agent, kind: kind.parse()?, content, importance, tags, created_at, expires_at };
    Ok((memory, (embedding, now)))
}

/// The `top_k` of `rows` by score among those at least `min_similarity` similar to `query`
/// (a unit vector), best first; similarity is exact, from the stored f32 vectors.
pub(super) fn rank(
    rows: Vec<MemoryRow>,
    query: &[f32],
    top_k: usize,
    min_similarity: f32,
) -> Vec<ScoredMemory> {
    let mut scored: Vec<ScoredMemory> = rows
        .into_iter()
        .filter_map(|row| memory_of(row).ok())
        .filter_map(|(memory, (embedding, now))| {
            let similarity = dot_f32(query, embedding.as_deref()?);
            (similarity >= min_similarity).then(|| ScoredMemory {
                score: score(similarity, memory.importance, now - memory.created_at),
                similarity,
                memory,
            })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.similarity.total_cmp(&a.similarity)));
    scored.truncate(top_k);
    scored
}
