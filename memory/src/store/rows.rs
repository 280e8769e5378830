//! Memory rows as read from the table, and the exact ranking of candidates.

use uuid::Uuid;

use crate::error::MemoryError;
use crate::model::{Memory, ScoredMemory};
use crate::quantised::dot_f32;
use crate::scoring::score;

/// The columns every memory query selects, in [`MemoryRow`]'s order; times as epoch seconds.
pub(super) const MEMORY_COLUMNS: &str = "id, agent, type, content, importance, tags, \
     extract(epoch FROM created_at)::float8, extract(epoch FROM expires_at)::float8, array_send(embedding), \
     extract(epoch FROM now())::float8";

/// id, agent, type, content, importance, tags, created_at, expires_at, embedding (as
/// [`real_array`] reads it), now.
pub(super) type MemoryRow =
    (Uuid, String, String, String, f32, Vec<String>, f64, Option<f64>, Option<Vec<u8>>, f64);

/// A row's vector and the database's clock when it was read.
type VectorAndNow = (Option<Vec<f32>>, f64);

/// The memory of a row, with its vector and the database's clock.
pub(super) fn memory_of(row: MemoryRow) -> Result<(Memory, VectorAndNow), MemoryError> {
    let (id, agent, kind, content, importance, tags, created_at, expires_at, embedding, now) = row;
    let memory = Memory { id, agent, kind: kind.parse()?, content, importance, tags, created_at, expires_at };
    Ok((memory, (embedding.as_deref().and_then(real_array), now)))
}

/// The PostgreSQL element type `real` (`float4`).
const FLOAT4_OID: u32 = 700;

/// A `real[]` in PostgreSQL's binary form (`array_send`): dimension count, null flag, element
/// type, (length, lower bound) per dimension, then each element as a length and four big-endian
/// bytes. `None` for anything else, or an array holding NULLs.
///
/// Vectors are read this way rather than as sqlx's `Vec<f32>`, which decodes element by element
/// through its generic machinery: for the 50 candidates of a search at 1,536 dimensions
/// (77,000 elements) that decoding was a measurable part of the search (docs/memory.md).
pub(crate) fn real_array(bytes: &[u8]) -> Option<Vec<f32>> {
    let word = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let (dimensions, has_nulls, element) = (word(0)?, word(4)?, word(8)?);
    if dimensions == 0 {
        return Some(Vec::new());
    }
    if dimensions != 1 || has_nulls != 0 || element != FLOAT4_OID {
        return None;
    }
    let length = usize::try_from(word(12)?).ok()?;
    let body = bytes.get(20..)?;
    if body.len() != length.checked_mul(8)? {
        return None;
    }
    body.chunks_exact(8)
        .map(|item| {
            let size = u32::from_be_bytes([item[0], item[1], item[2], item[3]]);
            (size == 4).then(|| f32::from_be_bytes([item[4], item[5], item[6], item[7]]))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(values: &[Option<f32>], element: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let has_nulls = u32::from(values.iter().any(Option::is_none));
        let length = u32::try_from(values.len()).expect("short");
        for word in [1, has_nulls, element, length, 1] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        for value in values {
            match value {
                Some(v) => {
                    out.extend_from_slice(&4u32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn real_arrays_decode_and_anything_else_is_refused() {
        assert_eq!(real_array(&binary(&[Some(0.5), Some(-1.25)], FLOAT4_OID)), Some(vec![0.5, -1.25]));
        assert_eq!(real_array(&[0; 12]), Some(Vec::new()));
        assert_eq!(real_array(&binary(&[Some(0.5), None], FLOAT4_OID)), None);
        assert_eq!(real_array(&binary(&[Some(0.5)], 701)), None, "double precision is another type");
        let mut cut = binary(&[Some(0.5), Some(1.0)], FLOAT4_OID);
        cut.truncate(cut.len() - 1);
        assert_eq!(real_array(&cut), None);
    }
}
