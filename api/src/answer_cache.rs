//! A small cache of answers that hold for a while: what TokenReviews and SubjectAccessReviews
//! said, so a burst of requests costs one review.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Answers kept at most; beyond it the expired go, then all (the cluster is asked again).
const MAX_ANSWERS: usize = 10_000;

/// Answers by key, each until its own expiry. Clones share the answers.
#[derive(Clone)]
pub(crate) struct AnswerCache<K, V> {
    answers: Arc<Mutex<HashMap<K, (Instant, V)>>>,
}

impl<K: Eq + Hash, V: Clone> AnswerCache<K, V> {
    pub(crate) fn new() -> Self {
        Self { answers: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// The answer for `key`, unless it has expired.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let answers = self.answers.lock().ok()?;
        answers.get(key).filter(|(until, _)| *until > Instant::now()).map(|(_, answer)| answer.clone())
    }

    /// Keeps `answer` for `key` during `ttl`.
    pub(crate) fn insert(&self, key: K, answer: V, ttl: Duration) {
        let Ok(mut answers) = self.answers.lock() else { return };
        if answers.len() >= MAX_ANSWERS {
            let now = Instant::now();
            answers.retain(|_, (until, _)| *until > now);
            if answers.len() >= MAX_ANSWERS {
                answers.clear();
            }
        }
        answers.insert(key, (Instant::now() + ttl, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_the_size_is_bounded() {
        let cache = AnswerCache::new();
        cache.insert(1, "a", Duration::from_secs(60));
        cache.insert(2, "b", Duration::ZERO);
        assert_eq!(cache.get(&1), Some("a"));
        assert_eq!(cache.get(&2), None, "expired");
        for key in 0..MAX_ANSWERS + 5 {
            cache.insert(key, "x", Duration::from_secs(60));
        }
        assert!(cache.answers.lock().map(|a| a.len()).unwrap_or(0) <= MAX_ANSWERS);
    }
}
