//! Where a streamed answer's text goes as it arrives, and how an attempt knows whether any did.

use std::sync::atomic::{AtomicBool, Ordering};

/// Receives a streamed answer's text as it arrives.
pub trait TokenSink: Send + Sync {
    /// `text` is the next piece of the model's answer.
    fn token(&self, text: &str);
}

/// A sink that remembers whether one attempt passed anything on: once it has, the attempt's
/// failure cannot be retried without the caller seeing text twice.
pub(crate) struct WatchedTokens<'a> {
    inner: &'a dyn TokenSink,
    passed_on: AtomicBool,
}

impl<'a> WatchedTokens<'a> {
    pub(crate) fn new(inner: &'a dyn TokenSink) -> Self {
        Self { inner, passed_on: AtomicBool::new(false) }
    }

    /// Whether any text went to the sink.
    pub(crate) fn passed_on(&self) -> bool {
        self.passed_on.load(Ordering::Relaxed)
    }
}

impl TokenSink for WatchedTokens<'_> {
    fn token(&self, text: &str) {
        if !text.is_empty() {
            self.passed_on.store(true, Ordering::Relaxed);
            self.inner.token(text);
        }
    }
}

/// A sink keeping what it received, for tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct RecordedTokens(std::sync::Mutex<Vec<String>>);

#[cfg(test)]
impl RecordedTokens {
    pub(crate) fn tokens(&self) -> Vec<String> {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
impl TokenSink for RecordedTokens {
    fn token(&self, text: &str) {
        if let Ok(mut tokens) = self.0.lock() {
            tokens.push(text.to_string());
        }
    }
}
