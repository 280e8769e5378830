//! The agent's long-term memory as the runner uses it (issue 14, docs/memory.md): the
//! connection to its MemoryStore, the memories recalled into each prompt, the episodic memory
//! written after each answer, and what the `memory_search` and `memory_store` tools reach.
//!
//! Degrade, don't block: the store is opened in the background and reopened with backoff
//! whenever it fails, while requests are answered without long-term memory (counted in
//! `agentry_memory_unavailable_total`, logged). Readiness never depends on it: an agent that
//! cannot remember can still answer.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use agentry_memory::{
    Embedder, EmbeddingEndpoint, HashingEmbedder, MemoryError, MemoryScope, MemoryStore, MemoryType,
    NewMemory, OpenAiEmbedder, ScoredMemory, StoreOptions,
};
use agentry_protocol::runner_config::{MemoryBlock, MemoryConfig, MemoryEmbedding};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::metrics::RunnerMetrics;

/// Connections the runner keeps to its store: a search is a few short queries.
const POOL_CONNECTIONS: u32 = 4;
/// How long one memory operation may take before the store is taken as unreachable: a recall
/// delays every answer, so it must not wait out PostgreSQL's connect timeouts.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// First wait before reopening a store that failed; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between attempts to reopen the store.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Bytes of the user's turn and of the answer kept in an episodic memory.
const EPISODE_PART_CHARS: usize = 1500;
/// Importance of episodic memories: below facts stored on purpose (0.5 by default).
const EPISODE_IMPORTANCE: f32 = 0.3;

/// Why long-term memory could not be set up at all; the runner refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum MemoryConfigError {
    /// The environment variable that should hold the store's URL is absent or empty.
    #[error("memory store {store}: environment variable {env} (the connection URL) is not set or empty")]
    MissingUrl {
        /// The MemoryStore.
        store: String,
        /// The variable.
        env: String,
    },
    /// The URL, embedding or limits are unusable.
    #[error("memory store {store}: {source}")]
    Invalid {
        /// The MemoryStore.
        store: String,
        /// What is wrong (never the URL's password).
        #[source]
        source: MemoryError,
    },
}

/// Why a memory operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MemoryUnavailable {
    /// The store cannot be reached now; the runner keeps trying to reopen it.
    #[error("long-term memory is unavailable right now ({0}); answer without it")]
    Down(String),
    /// The input was refused (content, importance, tags, …).
    #[error("{0}")]
    Refused(String),
}

/// The store's state as the runner sees it.
enum Link {
    Open(Arc<MemoryStore>),
    Down(String),
}

/// The memories recalled for one request, as placed in its prompt.
#[derive(Debug, Default)]
pub struct Recalled {
    /// The prompt section, empty when nothing was recalled.
    pub section: String,
    /// Ids of the memories in it, best first.
    pub ids: Vec<String>,
}

/// One agent's long-term memory.
pub struct LongTermMemory {
    config: MemoryConfig,
    scope: MemoryScope,
    url: String,
    embedder: Embedder,
    link: Mutex<Link>,
    /// Wakes the reconnecting task when an operation found the store down.
    failed: Notify,
    /// Whether the first attempt to open the store has ended: requests arriving before wait for
    /// it (bounded), so a runner's first request is not answered without memory for no reason.
    settled: watch::Sender<bool>,
    metrics: Arc<RunnerMetrics>,
}

impl std::fmt::Debug for LongTermMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds the password: left out.
        f.debug_struct("LongTermMemory").field("store", &self.config.store).finish_non_exhaustive()
    }
}

impl LongTermMemory {
    /// Sets up `agent`'s memory of `config` (its URL and embedding key read through `secrets`)
    /// and starts opening the store in the background; returns at once.
    pub fn start(
        config: &MemoryConfig,
        namespace: &str,
        agent: &str,
        secrets: &(dyn Fn(&str) -> Option<String> + Sync),
        metrics: Arc<RunnerMetrics>,
    ) -> Result<Arc<Self>, MemoryConfigError> {
        let invalid = |source| MemoryConfigError::Invalid { store: config.store.clone(), source };
        let url = secrets(&config.url_env).filter(|url| !url.is_empty()).ok_or_else(|| {
            MemoryConfigError::MissingUrl { store: config.store.clone(), env: config.url_env.clone() }
        })?;
        // Checks the URL now, so a malformed one is one clear start-up error.
        drop(agentry_memory::store::pool(&url, &config.schema, 1).map_err(invalid)?);
        if !(1..=agentry_memory::store::MAX_TOP_K).contains(&config.top_k) {
            let max = agentry_memory::store::MAX_TOP_K;
            return Err(invalid(MemoryError::Invalid(format!(
                "topK {} is not within 1..{max}",
                config.top_k
            ))));
        }
        let embedder = embedder(&config.embedding, secrets).map_err(invalid)?;
        let scope = MemoryScope { namespace: namespace.into(), agent: agent.into(), shared: config.shared };
        let memory = Arc::new(Self {
            config: config.clone(),
            scope,
            url,
            embedder,
            link: Mutex::new(Link::Down("not opened yet".into())),
            failed: Notify::new(),
            settled: watch::Sender::new(false),
            metrics,
        });
        let span = tracing::info_span!("memory_store", store = %config.store);
        tokio::spawn(keep_open(Arc::downgrade(&memory)).instrument(span));
        Ok(memory)
    }

    /// Whether episodic memories are written after each answer.
    pub fn episodic(&self) -> bool {
        self.config.episodic
    }

    /// Whether the store is open now.
    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), Link::Open(_))
    }

    /// The `topK` memories most relevant to `query`, at least `minScore` similar, as a prompt
    /// section of at most `maxPromptChars`; nothing (counted) while the store is unreachable.
    pub async fn recall_for_prompt(&self, query: &str) -> Recalled {
        let span = tracing::info_span!(
            "agentry.memory_recall",
            agentry.memory_store = %self.config.store,
            agentry.memories = tracing::field::Empty,
        );
        let started = Instant::now();
        match self.search(query, self.config.top_k, "recall").instrument(span.clone()).await {
            Ok(found) => {
                self.metrics.memory_query_duration.observe(started.elapsed().as_secs_f64());
                let recalled = prompt_section(&found, self.config.max_prompt_chars);
                span.record("agentry.memories", recalled.ids.len());
                recalled
            }
            Err(error) => {
                tracing::info!(%error, "answering without long-term memory");
                Recalled::default()
            }
        }
    }

    /// The memory blocks written to the store for this agent (through the API), highest
    /// priority first; none while the store is unreachable (counted).
    pub async fn stored_blocks(&self) -> Vec<MemoryBlock> {
        let read = async {
            let store = self.open_store("blocks").await?;
            self.bounded("blocks", store.blocks(&self.scope)).await
        };
        match read.await {
            Ok(blocks) => blocks
                .into_iter()
                .map(|b| MemoryBlock { label: b.label, content: b.content, priority: b.priority })
                .collect(),
            Err(error) => {
                tracing::info!(%error, "answering without the store's memory blocks");
                Vec::new()
            }
        }
    }

    /// The `top_k` memories of the agent's scope best for `query`; `operation` names the caller
    /// in the unavailability count.
    pub async fn search(
        &self,
        query: &str,
        top_k: usize,
        operation: &'static str,
    ) -> Result<Vec<ScoredMemory>, MemoryUnavailable> {
        let store = self.open_store(operation).await?;
        let searched = store.recall(&self.scope, query, top_k, self.config.min_score);
        let found = self.bounded(operation, searched).await?;
        Ok(found)
    }

    /// Stores `memory` as the agent's; returns its id.
    pub async fn remember(
        &self,
        memory: &NewMemory,
        operation: &'static str,
    ) -> Result<String, MemoryUnavailable> {
        memory.validate().map_err(|e| MemoryUnavailable::Refused(e.to_string()))?;
        let store = self.open_store(operation).await?;
        let stored = self.bounded(operation, store.remember(&self.scope, memory)).await?;
        Ok(stored.id.to_string())
    }

    /// Writes the episodic memory of one answered request: the user's turn and the answer,
    /// each cut to a bounded length (a deterministic summary: no model call).
    pub async fn remember_episode(&self, input: &str, answer: &str, session_id: Option<&str>) {
        let content = format!(
            "User said: {}\nAgent answered: {}",
            truncate(input.trim(), EPISODE_PART_CHARS),
            truncate(answer.trim(), EPISODE_PART_CHARS)
        );
        let mut episode = NewMemory {
            kind: MemoryType::Episodic,
            importance: EPISODE_IMPORTANCE,
            ..NewMemory::semantic(&content)
        };
        if let Some(session) = session_id.filter(|s| !s.is_empty() && s.len() <= 56) {
            episode.tags.push(format!("session:{session}"));
        }
        if let Err(error) = self.remember(&episode, "episodic").await {
            tracing::info!(%error, "episodic memory not stored");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Link> {
        // The link is replaced whole under the lock, never left half-written.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open store, or `Down` (counted) while it is not.
    async fn open_store(&self, operation: &'static str) -> Result<Arc<MemoryStore>, MemoryUnavailable> {
        let mut settled = self.settled.subscribe();
        let _ = tokio::time::timeout(OPERATION_TIMEOUT, settled.wait_for(|done| *done)).await;
        match &*self.lock() {
            Link::Open(store) => Ok(store.clone()),
            Link::Down(reason) => {
                self.metrics.memory_unavailable.with_label_values(&[operation]).inc();
                Err(MemoryUnavailable::Down(reason.clone()))
            }
        }
    }

    /// Runs one store operation within [`OPERATION_TIMEOUT`]; a database or embedding failure
    /// marks the store down (the reconnecting task reopens it), an input error does not.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, MemoryError>>,
    ) -> Result<T, MemoryUnavailable> {
        let error = match tokio::time::timeout(OPERATION_TIMEOUT, work).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(MemoryError::Invalid(why))) => return Err(MemoryUnavailable::Refused(why)),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} s", OPERATION_TIMEOUT.as_secs()),
        };
        self.metrics.memory_unavailable.with_label_values(&[operation]).inc();
        tracing::warn!(operation, %error, "memory store failed; reopening it in the background");
        *self.lock() = Link::Down(error.clone());
        self.failed.notify_one();
        Err(MemoryUnavailable::Down(error))
    }

    /// Opens the store on a fresh pool (after an outage the old pool's connections are dead);
    /// why not, fit for logs (no password).
    async fn open(&self) -> Result<MemoryStore, String> {
        let pool = agentry_memory::store::pool(&self.url, &self.config.schema, POOL_CONNECTIONS)
            .map_err(|e| e.to_string())?;
        let options = StoreOptions {
            shared: self.config.shared,
            ..StoreOptions::new(self.config.embedding.dimensions())
        };
        let opening = MemoryStore::open(pool.clone(), self.embedder.clone(), options);
        let failure = match tokio::time::timeout(OPERATION_TIMEOUT, opening).await {
            Ok(Ok(store)) => return Ok(store),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} s", OPERATION_TIMEOUT.as_secs()),
        };
        pool.close().await;
        Err(failure)
    }
}

/// Opens the store, and reopens it with backoff each time an operation finds it failed; ends
/// when the memory is dropped.
async fn keep_open(memory: Weak<LongTermMemory>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Some(this) = memory.upgrade() else { return };
        if this.is_open() {
            // Woken by a failure; the timeout lets the task notice the memory was dropped.
            let _ = tokio::time::timeout(MAX_BACKOFF, this.failed.notified()).await;
            continue;
        }
        match this.open().await {
            Ok(store) => {
                tracing::info!("memory store open");
                *this.lock() = Link::Open(Arc::new(store));
                this.settled.send_replace(true);
                backoff = FIRST_BACKOFF;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_s = backoff.as_secs_f64(), "memory store unreachable");
                *this.lock() = Link::Down(error);
                this.settled.send_replace(true);
                drop(this);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The embedder of `embedding`, its API key read through `secrets`.
fn embedder(
    embedding: &MemoryEmbedding,
    secrets: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Embedder, MemoryError> {
    match embedding {
        MemoryEmbedding::Hashing { dimensions } => Ok(Embedder::Hashing(HashingEmbedder::new(*dimensions)?)),
        MemoryEmbedding::OpenaiCompatible { dimensions, base_url, model, api_key_env } => {
            let api_key = match api_key_env {
                Some(env) => Some(secrets(env).filter(|key| !key.is_empty()).ok_or_else(|| {
                    MemoryError::Invalid(format!(
                        "environment variable {env} (the embedding key) is not set or empty"
                    ))
                })?),
                None => None,
            };
            crate::model::install_crypto_provider();
            let http = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| MemoryError::Invalid(format!("cannot build the embeddings HTTP client: {e}")))?;
            let endpoint = EmbeddingEndpoint {
                base_url: base_url.clone(),
                model: model.clone(),
                api_key,
                request_dimensions: false,
            };
            Ok(Embedder::OpenAi(OpenAiEmbedder::new(http, endpoint, *dimensions)?))
        }
    }
}

/// The prompt section of `found`, best first, within `max_chars` (a memory that does not fit
/// whole is cut, and the rest left out).
fn prompt_section(found: &[ScoredMemory], max_chars: usize) -> Recalled {
    const HEAD: &str =
        "<long_term_memory>\nWhat you remember that may bear on this request, most relevant first:";
    const TAIL: &str = "\n</long_term_memory>";
    let mut section = String::from(HEAD);
    let mut ids = Vec::new();
    let mut left = max_chars.saturating_sub(HEAD.len() + TAIL.len());
    for scored in found {
        let memory = &scored.memory;
        // Seconds since the epoch as the store gives them; a date needs no fraction.
        #[allow(clippy::cast_possible_truncation)]
        let date = jiff::Timestamp::from_second(memory.created_at.floor() as i64)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let line = format!("\n- ({}, {date}) {}", memory.kind, memory.content.replace('\n', " "));
        let count = line.chars().count();
        if left < 40 {
            break;
        }
        section.push_str(&truncate(&line, left));
        ids.push(memory.id.to_string());
        left = left.saturating_sub(count);
    }
    if ids.is_empty() {
        return Recalled::default();
    }
    section.push_str(TAIL);
    Recalled { section, ids }
}

/// `text` cut to at most `max` characters, with `…` marking a cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_memory::Memory;

    fn scored(content: &str) -> ScoredMemory {
        ScoredMemory {
            memory: Memory {
                id: uuid::Uuid::new_v4(),
                agent: "a".into(),
                kind: MemoryType::Semantic,
                content: content.into(),
                importance: 0.5,
                tags: vec![],
                created_at: 1_796_000_000.0,
                expires_at: None,
            },
            similarity: 0.9,
            score: 0.8,
        }
    }

    #[test]
    fn the_prompt_section_lists_memories_best_first_within_its_budget() {
        let found =
            [scored("The invoice limit is 5000 EUR."), scored(&"x".repeat(10_000)), scored("never reached")];
        let recalled = prompt_section(&found, 400);
        assert!(recalled.section.chars().count() <= 400, "{}", recalled.section);
        assert!(recalled.section.contains("- (semantic, 2026-"), "{}", recalled.section);
        assert!(recalled.section.contains("The invoice limit is 5000 EUR."));
        assert!(recalled.section.ends_with("…\n</long_term_memory>"), "{}", recalled.section);
        assert_eq!(recalled.ids.len(), 2, "the third does not fit");
        assert!(prompt_section(&[], 400).section.is_empty());
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("ééé", 3), "ééé");
        assert_eq!(truncate("éééé", 3), "éé…");
    }
}
