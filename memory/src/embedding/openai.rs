//! An OpenAI-compatible embeddings client: `POST {baseUrl}/embeddings` with the Model's key as a
//! bearer token (`baseUrl` includes the version path, e.g. `https://api.openai.com/v1`, as for
//! chat completions). Every vector's length is checked against the store's dimensions.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::error::MemoryError;

use super::{check_dimensions, normalise};

/// How long one embeddings call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest body read from the endpoint.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Longest excerpt of an error body quoted in an error.
const EXCERPT_BYTES: usize = 300;

/// Where embeddings come from: a Model's endpoint and key, and the model name.
#[derive(Clone)]
pub struct EmbeddingEndpoint {
    /// The Model's `baseUrl`.
    pub base_url: String,
    /// The embedding model's name.
    pub model: String,
    /// The bearer token; never logged, never part of an error.
    pub api_key: Option<String>,
    /// Send `dimensions` in the request (models that can shorten their vectors, such as
    /// text-embedding-3-*); off for servers that refuse the field.
    pub request_dimensions: bool,
}

impl fmt::Debug for EmbeddingEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddingEndpoint")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The client.
#[derive(Clone, Debug)]
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    url: Url,
    endpoint: EmbeddingEndpoint,
    dimensions: usize,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// A client for `endpoint` expecting vectors of `dimensions`; `http` is the process's client
    /// (its TLS set-up is the caller's).
    pub fn new(
        http: reqwest::Client,
        endpoint: EmbeddingEndpoint,
        dimensions: usize,
    ) -> Result<Self, MemoryError> {
        check_dimensions(dimensions)?;
        let base = endpoint.base_url.trim_end_matches('/');
        let url = Url::parse(&format!("{base}/embeddings"))
            .map_err(|e| MemoryError::Invalid(format!("embedding baseUrl {base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(MemoryError::Invalid(format!(
                "embedding baseUrl {base:?}: the scheme must be http or https"
            )));
        }
        if endpoint.model.trim().is_empty() {
            return Err(MemoryError::Invalid("the embedding model name is empty".into()));
        }
        Ok(Self { http, url, endpoint, dimensions })
    }

    /// Its vector length.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// One unit vector per text, in order.
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, MemoryError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = serde_json::json!({ "model": self.endpoint.model, "input": texts });
        if self.endpoint.request_dimensions {
            body["dimensions"] = self.dimensions.into();
        }
        let mut request = self.http.post(self.url.clone()).timeout(CALL_TIMEOUT).json(&body);
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.failed(&chain(&e)))?;
        let status = response.status();
        let bytes = read_capped(response).await.map_err(|e| self.failed(&e))?;
        if !status.is_success() {
            return Err(self.failed(&format!("HTTP {}: {}", status.as_u16(), self.excerpt(&bytes))));
        }
        let parsed: EmbeddingsResponse = serde_json::from_slice(&bytes)
            .map_err(|e| self.failed(&format!("malformed answer ({e}): {}", self.excerpt(&bytes))))?;
        self.vectors(parsed, texts.len())
    }

    fn vectors(&self, mut parsed: EmbeddingsResponse, expected: usize) -> Result<Vec<Vec<f32>>, MemoryError> {
        if parsed.data.len() != expected {
            return Err(self.failed(&format!("{} vectors for {expected} inputs", parsed.data.len())));
        }
        parsed.data.sort_by_key(|item| item.index);
        parsed
            .data
            .into_iter()
            .map(|mut item| {
                if item.embedding.len() != self.dimensions {
                    return Err(MemoryError::DimensionMismatch {
                        expected: self.dimensions,
                        actual: item.embedding.len(),
                        source_name: format!("embedding model {}", self.endpoint.model),
                    });
                }
                if item.embedding.iter().any(|x| !x.is_finite()) {
                    return Err(self.failed("a vector holds a non-finite number"));
                }
                normalise(&mut item.embedding);
                Ok(item.embedding)
            })
            .collect()
    }

    fn failed(&self, detail: &str) -> MemoryError {
        let detail = match &self.endpoint.api_key {
            Some(key) if !key.is_empty() => detail.replace(key.as_str(), "***"),
            _ => detail.to_string(),
        };
        MemoryError::Embedding(format!("POST {}: {detail}", self.url))
    }

    fn excerpt(&self, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let mut end = text.len().min(EXCERPT_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    }
}

/// A reqwest error with its causes ("connection refused" hides in the source chain).
fn chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| chain(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("answer larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
