//! Feature hashing ("the hashing trick"): every lower-cased word and every character trigram of
//! a word adds ±weight at a slot chosen by a stable hash; the vector is then L2-normalised.
//! Texts sharing words and word pieces come out similar; there is no semantics beyond that, but
//! it needs no model, no network and no state, and is the same in every process and release.

use crate::error::MemoryError;

use super::{check_dimensions, normalise};

/// Weight of a whole word.
const WORD_WEIGHT: f32 = 1.0;
/// Weight of each character trigram: pieces let "invoice" meet "invoices" without drowning words.
const TRIGRAM_WEIGHT: f32 = 0.35;

/// The built-in embedder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashingEmbedder {
    dimensions: usize,
}

impl HashingEmbedder {
    /// An embedder making vectors of `dimensions` (1..=8192).
    pub fn new(dimensions: usize) -> Result<Self, MemoryError> {
        check_dimensions(dimensions)?;
        Ok(Self { dimensions })
    }

    /// Its vector length.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The unit vector of `text` (all zeros when it has no letters or digits).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimensions];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let word = word.to_lowercase();
            self.add(&mut vector, b"w", word.as_bytes(), WORD_WEIGHT);
            let padded: Vec<char> =
                std::iter::once(' ').chain(word.chars()).chain(std::iter::once(' ')).collect();
            for gram in padded.windows(3) {
                let gram: String = gram.iter().collect();
                self.add(&mut vector, b"g", gram.as_bytes(), TRIGRAM_WEIGHT);
            }
        }
        normalise(&mut vector);
        vector
    }

    fn add(&self, vector: &mut [f32], kind: &[u8], feature: &[u8], weight: f32) {
        let hash = fnv1a(kind, feature);
        // The slot from the low bits, the sign from the top bit: signed hashing keeps collisions
        // from adding up to a bias.
        let slot = usize::try_from(hash % self.dimensions as u64).unwrap_or(0);
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        vector[slot] += sign * weight;
    }
}

/// 64-bit FNV-1a over `kind` then `feature`: stable across processes, platforms and releases
/// (the std hasher is seeded per process).
fn fnv1a(kind: &[u8], feature: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in kind.iter().chain(feature) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let embedder = HashingEmbedder::new(384).expect("valid");
        let vector = embedder.embed("The customer's plan is Pro");
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert_eq!(vector, embedder.embed("the CUSTOMER'S plan is pro"));
        assert!(embedder.embed("  ... ").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn shared_words_are_closer_than_unrelated_text() {
        let embedder = HashingEmbedder::new(384).expect("valid");
        let fact = embedder.embed("Alice's favourite colour is teal");
        let question = embedder.embed("what is Alice's favourite colour?");
        let unrelated = embedder.embed("deploy the invoice service on Tuesday");
        assert!(cosine(&fact, &question) > 0.5, "{}", cosine(&fact, &question));
        assert!(cosine(&fact, &unrelated) < 0.2, "{}", cosine(&fact, &unrelated));
    }

    #[test]
    fn dimensions_are_bounded() {
        assert!(HashingEmbedder::new(0).is_err());
        assert!(HashingEmbedder::new(8193).is_err());
        assert_eq!(HashingEmbedder::new(1).expect("valid").embed("a b c").len(), 1);
    }
}
