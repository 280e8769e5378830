//! The memory model: what a memory is, whose it is, and the checks a new one passes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::MemoryError;

/// Longest memory content kept, in bytes: a memory is a fact or an episode's summary, not a document.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Most tags on one memory.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;

/// The kinds of memory the seed framework distinguishes (DESIGN.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryType {
    /// Facts and knowledge ("the customer's plan is Pro").
    Semantic,
    /// Things that happened (a session's summary).
    Episodic,
    /// How to do something (a learned procedure).
    Procedural,
    /// Short-lived scratch context, usually with an expiry.
    Working,
}

impl MemoryType {
    /// The name stored in the `type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Semantic => "semantic",
            Self::Episodic => "episodic",
            Self::Procedural => "procedural",
            Self::Working => "working",
        }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryType {
    type Err = MemoryError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "semantic" => Ok(Self::Semantic),
            "episodic" => Ok(Self::Episodic),
            "procedural" => Ok(Self::Procedural),
            "working" => Ok(Self::Working),
            other => Err(MemoryError::Invalid(format!(
                "type {other:?} is not one of semantic, episodic, procedural, working"
            ))),
        }
    }
}

/// Whose memories a search sees and a write belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemoryScope {
    /// The agents' namespace.
    pub namespace: String,
    /// The agent; memories of other agents are invisible to it unless `shared`.
    pub agent: String,
    /// The store shares memories between the agents of the namespace: searches see every agent's.
    pub shared: bool,
}

impl MemoryScope {
    /// One agent's own memories.
    pub fn agent(namespace: &str, agent: &str) -> Self {
        Self { namespace: namespace.to_string(), agent: agent.to_string(), shared: false }
    }

    /// The key of the index serving this scope: per agent, or per namespace when shared.
    pub(crate) fn index_key(&self) -> (String, Option<String>) {
        (self.namespace.clone(), (!self.shared).then(|| self.agent.clone()))
    }
}

/// A memory to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: MemoryType,
    /// The text remembered.
    pub content: String,
    /// How much it matters, 0..=1; weighs its score (see [`crate::scoring`]).
    pub importance: f32,
    /// Free labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Seconds until it expires and is no longer found; `None` keeps it.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

impl NewMemory {
    /// A semantic memory of `content` with importance 0.5, no tags, no expiry.
    pub fn semantic(content: &str) -> Self {
        Self {
            kind: MemoryType::Semantic,
            content: content.to_string(),
            importance: 0.5,
            tags: Vec::new(),
            expires_in_seconds: None,
        }
    }

    /// Checks the content, importance and tags, naming what is wrong.
    pub fn validate(&self) -> Result<(), MemoryError> {
        let invalid = |why: String| Err(MemoryError::Invalid(why));
        if self.content.trim().is_empty() {
            return invalid("content is empty".into());
        }
        if self.content.len() > MAX_CONTENT_BYTES {
            return invalid(format!(
                "content is {} bytes, more than {MAX_CONTENT_BYTES}",
                self.content.len()
            ));
        }
        if !(0.0..=1.0).contains(&self.importance) {
            return invalid(format!("importance {} is not within 0..1", self.importance));
        }
        if self.tags.len() > MAX_TAGS {
            return invalid(format!("{} tags, more than {MAX_TAGS}", self.tags.len()));
        }
        if let Some(tag) = self.tags.iter().find(|t| t.is_empty() || t.len() > MAX_TAG_BYTES) {
            return invalid(format!("tag {tag:?} must be 1..{MAX_TAG_BYTES} bytes"));
        }
        if self.expires_in_seconds == Some(0) {
            return invalid("expiresInSeconds must be at least 1".into());
        }
        Ok(())
    }
}

/// A stored memory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Memory {
    /// Its id.
    #[serde(serialize_with = "uuid_text")]
    pub id: Uuid,
    /// The agent that stored it.
    pub agent: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: MemoryType,
    /// The text.
    pub content: String,
    /// How much it matters, 0..=1.
    pub importance: f32,
    /// Its labels.
    pub tags: Vec<String>,
    /// When it was stored, seconds since the Unix epoch.
    pub created_at: f64,
    /// When it expires, seconds since the Unix epoch.
    pub expires_at: Option<f64>,
}

fn uuid_text<S: serde::Serializer>(id: &Uuid, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

/// A memory found by a search, with how it scored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoredMemory {
    /// The memory.
    pub memory: Memory,
    /// Cosine similarity between the query and the memory, -1..=1.
    pub similarity: f32,
    /// The ranking score: similarity weighted by importance and recency.
    pub score: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_and_unknown_ones_are_named() {
        for kind in [MemoryType::Semantic, MemoryType::Episodic, MemoryType::Procedural, MemoryType::Working]
        {
            assert_eq!(kind.as_str().parse::<MemoryType>().expect("parses"), kind);
        }
        let error = "longterm".parse::<MemoryType>().expect_err("unknown");
        assert!(error.to_string().contains("longterm"), "{error}");
    }

    #[test]
    fn validation_names_the_field() {
        assert!(NewMemory::semantic("the sky is blue").validate().is_ok());
        type Spoil = fn(&mut NewMemory);
        let cases: [(Spoil, &str); 5] = [
            (|m| m.content = "  ".into(), "content"),
            (|m| m.importance = 1.5, "importance"),
            (|m| m.tags = vec![String::new()], "tag"),
            (|m| m.tags = vec!["t".into(); 40], "tags"),
            (|m| m.expires_in_seconds = Some(0), "expiresInSeconds"),
        ];
        for (spoil, field) in cases {
            let mut memory = NewMemory::semantic("fact");
            spoil(&mut memory);
            let error = memory.validate().expect_err(field);
            assert!(error.to_string().contains(field), "{error}");
        }
    }
}
