//! The in-process index of one scope's vectors (one agent, or a namespace when memories are
//! shared): sign codes and int8 codes, no f32 copies. A search
//!
//! 1. ranks every vector by Hamming distance between sign codes and keeps the nearest
//!    `sign_candidates` (skipped when the index holds fewer),
//! 2. scores those with the int8 dot product and keeps the best `int8_candidates`,
//!
//! and the store then re-ranks these exactly, in f32, with the vectors read from PostgreSQL.
//! Per vector it costs `dimensions / 8` bytes of sign code, `dimensions` bytes of int8 code and
//! about 60 bytes of id, scale and lookup entry.

use std::collections::HashMap;

use uuid::Uuid;

use crate::quantised::{dot_i8, hamming_all, int8_code, sign_code};

/// How many candidates survive each stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchTuning {
    /// Kept after the Hamming stage.
    pub sign_candidates: usize,
    /// Kept after the int8 stage, for the exact re-rank.
    pub int8_candidates: usize,
}

impl Default for SearchTuning {
    /// The figures docs/memory.md measures: recall@10 ≥ 0.95 at 384 and 1,536 dimensions.
    fn default() -> Self {
        Self { sign_candidates: 3_000, int8_candidates: 50 }
    }
}

/// One scope's vectors.
#[derive(Debug)]
pub struct VectorIndex {
    dimensions: usize,
    words: usize,
    centre: Vec<f32>,
    ids: Vec<Uuid>,
    scales: Vec<f32>,
    int8: Vec<i8>,
    signs: Vec<u64>,
    position: HashMap<Uuid, usize>,
}

impl VectorIndex {
    /// An empty index of `dimensions` whose sign codes are taken against `centre` (the mean
    /// of the vectors expected; zeros when nothing is known yet).
    pub fn new(dimensions: usize, centre: Vec<f32>) -> Self {
        let centre = if centre.len() == dimensions { centre } else { vec![0.0; dimensions] };
        Self {
            dimensions,
            words: dimensions.div_ceil(64),
            centre,
            ids: Vec::new(),
            scales: Vec::new(),
            int8: Vec::new(),
            signs: Vec::new(),
            position: HashMap::new(),
        }
    }

    /// How many vectors it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes held by its codes, ids and lookup table (an estimate of the heap it uses).
    pub fn heap_bytes(&self) -> usize {
        let lookup_entry = std::mem::size_of::<(Uuid, usize)>() + 8;
        self.int8.capacity()
            + self.signs.capacity() * 8
            + self.scales.capacity() * 4
            + self.ids.capacity() * 16
            + self.position.capacity() * lookup_entry
            + self.centre.capacity() * 4
    }

    /// Adds `vector` under `id`, replacing what `id` had. Vectors of another length are ignored
    /// (the store checks lengths before they get here).
    pub fn upsert(&mut self, id: Uuid, vector: &[f32]) {
        if vector.len() != self.dimensions {
            return;
        }
        let (code, scale) = int8_code(vector);
        let signs = sign_code(vector, &self.centre);
        if let Some(&at) = self.position.get(&id) {
            self.int8[at * self.dimensions..(at + 1) * self.dimensions].copy_from_slice(&code);
            self.signs[at * self.words..(at + 1) * self.words].copy_from_slice(&signs);
            self.scales[at] = scale;
            return;
        }
        self.position.insert(id, self.ids.len());
        self.ids.push(id);
        self.scales.push(scale);
        self.int8.extend_from_slice(&code);
        self.signs.extend_from_slice(&signs);
    }

    /// Gives back the spare capacity of its arrays (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.scales.shrink_to_fit();
        self.int8.shrink_to_fit();
        self.signs.shrink_to_fit();
        self.position.shrink_to_fit();
    }

    /// Removes `id`; the last entry moves into its place.
    pub fn remove(&mut self, id: Uuid) {
        let Some(at) = self.position.remove(&id) else { return };
        let last = self.ids.len() - 1;
        if at != last {
            let moved = self.ids[last];
            self.ids[at] = moved;
            self.scales[at] = self.scales[last];
            self.int8.copy_within(last * self.dimensions..(last + 1) * self.dimensions, at * self.dimensions);
            self.signs.copy_within(last * self.words..(last + 1) * self.words, at * self.words);
            self.position.insert(moved, at);
        }
        self.ids.truncate(last);
        self.scales.truncate(last);
        self.int8.truncate(last * self.dimensions);
        self.signs.truncate(last * self.words);
    }

    /// The best `tuning.int8_candidates` ids for the unit vector `query`, with their
    /// approximate cosine, best first.
    pub fn candidates(&self, query: &[f32], tuning: SearchTuning) -> Vec<(Uuid, f32)> {
        if query.len() != self.dimensions || self.ids.is_empty() {
            return Vec::new();
        }
        let shortlist = self.sign_shortlist(query, tuning.sign_candidates);
        let (code, scale) = int8_code(query);
        let mut scored: Vec<(usize, f32)> = shortlist
            .into_iter()
            .map(|at| {
                let stored = &self.int8[at * self.dimensions..(at + 1) * self.dimensions];
                // i32 → f32 rounds only beyond 2^24, a relative error of 1e-7: far below the codes' own.
                #[allow(clippy::cast_precision_loss)]
                let dot = dot_i8(&code, stored) as f32;
                (at, dot * scale * self.scales[at])
            })
            .collect();
        keep_best(&mut scored, tuning.int8_candidates, |a, b| b.1.total_cmp(&a.1));
        scored.into_iter().map(|(at, similarity)| (self.ids[at], similarity)).collect()
    }

    /// Positions of the `wanted` vectors nearest by sign code, or of all when it holds fewer.
    fn sign_shortlist(&self, query: &[f32], wanted: usize) -> Vec<usize> {
        if self.ids.len() <= wanted {
            return (0..self.ids.len()).collect();
        }
        let code = sign_code(query, &self.centre);
        let mut distances = Vec::with_capacity(self.ids.len());
        hamming_all(&code, &self.signs, self.words, &mut distances);
        let mut positions: Vec<(usize, u32)> = distances.into_iter().enumerate().collect();
        keep_best(&mut positions, wanted, |a, b| a.1.cmp(&b.1));
        positions.into_iter().map(|(at, _)| at).collect()
    }
}

/// Keeps the `wanted` best of `items` by `order` (best first), sorted.
fn keep_best<T>(items: &mut Vec<T>, wanted: usize, order: impl Fn(&T, &T) -> std::cmp::Ordering + Copy) {
    if items.len() > wanted && wanted > 0 {
        items.select_nth_unstable_by(wanted - 1, order);
    }
    items.truncate(wanted);
    items.sort_by(order);
}

/// The mean of `vectors`, the centre sign codes are taken against.
pub fn centre_of<'a>(dimensions: usize, vectors: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum = vec![0.0f64; dimensions];
    let mut count = 0usize;
    for vector in vectors.filter(|v| v.len() == dimensions) {
        sum.iter_mut().zip(vector).for_each(|(s, x)| *s += f64::from(*x));
        count += 1;
    }
    // A mean of f32 values fits f32; the precision lost is far below the codes' own.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    sum.into_iter().map(|s| if count == 0 { 0.0 } else { (s / count as f64) as f32 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::HashingEmbedder;

    #[test]
    fn finds_the_nearest_and_forgets_removed_ones() {
        let embedder = HashingEmbedder::new(256).expect("valid");
        let texts = ["alpha beta gamma", "delta epsilon", "beta gamma delta", "zeta eta theta", "alpha beta"];
        let mut index = VectorIndex::new(256, Vec::new());
        let ids: Vec<Uuid> = texts.iter().map(|_| Uuid::new_v4()).collect();
        for (id, text) in ids.iter().zip(texts) {
            index.upsert(*id, &embedder.embed(text));
        }
        let tuning = SearchTuning { sign_candidates: 3, int8_candidates: 2 };
        let found = index.candidates(&embedder.embed("alpha beta"), tuning);
        assert_eq!(found[0].0, ids[4]);
        assert!(found[0].1 > 0.98, "{found:?}");
        index.remove(ids[4]);
        assert_eq!(index.len(), 4);
        let found = index.candidates(&embedder.embed("alpha beta"), tuning);
        assert_eq!(found[0].0, ids[0], "{found:?}");
        assert!(found.iter().all(|(id, _)| *id != ids[4]));
        index.upsert(ids[0], &embedder.embed("zeta"));
        let found = index.candidates(&embedder.embed("zeta"), tuning);
        assert_eq!(found.len(), 2);
        assert!(found.iter().any(|(id, s)| *id == ids[0] && *s > 0.98), "{found:?}");
    }
}
