//! Turning text into vectors: the built-in hashing embedder (no model, no network) and an
//! OpenAI-compatible `/embeddings` client reached through a Model.

mod hashing;
mod openai;

pub use hashing::HashingEmbedder;
pub use openai::{EmbeddingEndpoint, OpenAiEmbedder};

use crate::error::MemoryError;

/// Largest vector length accepted, as the MemoryStore CRD bounds `embedding.dimensions`.
pub const MAX_DIMENSIONS: usize = 8192;

/// Makes vectors of one fixed length.
#[derive(Clone, Debug)]
pub enum Embedder {
    /// Feature hashing of words and character trigrams.
    Hashing(HashingEmbedder),
    /// An OpenAI-compatible embeddings endpoint.
    OpenAi(OpenAiEmbedder),
}

impl Embedder {
    /// The length of every vector it makes.
    pub fn dimensions(&self) -> usize {
        match self {
            Self::Hashing(embedder) => embedder.dimensions(),
            Self::OpenAi(embedder) => embedder.dimensions(),
        }
    }

    /// One L2-normalised vector per text, in order.
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, MemoryError> {
        match self {
            Self::Hashing(embedder) => Ok(texts.iter().map(|text| embedder.embed(text)).collect()),
            Self::OpenAi(embedder) => embedder.embed(texts).await,
        }
    }

    /// The vector of one text.
    pub async fn embed_one(&self, text: &str) -> Result<Vec<f32>, MemoryError> {
        let mut vectors = self.embed(&[text]).await?;
        vectors.pop().ok_or_else(|| MemoryError::Embedding("the embedder returned no vector".into()))
    }
}

/// Scales `vector` to unit length in place; a zero vector stays zero.
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Checks a requested vector length: 1..=[`MAX_DIMENSIONS`].
pub fn check_dimensions(dimensions: usize) -> Result<(), MemoryError> {
    if (1..=MAX_DIMENSIONS).contains(&dimensions) {
        Ok(())
    } else {
        Err(MemoryError::Invalid(format!("dimensions {dimensions} is not within 1..{MAX_DIMENSIONS}")))
    }
}
