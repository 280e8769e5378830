//! What the MemoryStore controller keeps between reconciles: one PostgreSQL pool per store, so a
//! reconcile does not open a connection every time, and each store's consecutive failures, for
//! the retry backoff.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// Identifies a MemoryStore across reconciles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StoreKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// A pool and what it was opened for.
struct CachedPool {
    /// Hash of the URI and schema: when either changes, the pool is replaced.
    fingerprint: [u8; 32],
    pool: PgPool,
}

/// Failures since the last success, for the generation they happened at: a new spec starts the
/// backoff afresh.
struct Failures {
    generation: Option<i64>,
    count: u32,
}

/// What the controller keeps between reconciles: one pool per store, so a reconcile does not
/// open a connection every time, and failure counts for the backoff.
///
/// It lives in the MemoryStore controller's context, so the pools (and any database locks their
/// connections hold) go with the operator that opened them;
/// reconciles of one store never overlap (the Controller serialises them), and the lock is never
/// held across an await.
#[derive(Default)]
pub(crate) struct ControllerState {
    inner: Mutex<StateMaps>,
}

#[derive(Default)]
struct StateMaps {
    pools: HashMap<StoreKey, CachedPool>,
    failures: HashMap<StoreKey, Failures>,
}

impl ControllerState {
    fn maps(&self) -> MutexGuard<'_, StateMaps> {
        // A panic elsewhere cannot leave these maps inconsistent in a way that matters.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached pool of `key` if it was opened for the same URI and schema.
    pub(crate) fn pool(&self, key: &StoreKey, fingerprint: &[u8; 32]) -> Option<PgPool> {
        let mut maps = self.maps();
        match maps.pools.get(key) {
            Some(cached) if &cached.fingerprint == fingerprint => Some(cached.pool.clone()),
            Some(_) => {
                // The URI or schema changed: the old pool points at the wrong place.
                if let Some(stale) = maps.pools.remove(key) {
                    close_in_background(stale.pool);
                }
                None
            }
            None => None,
        }
    }

    /// The cached pool of `key`, whatever it was opened for (the probe just checked that).
    pub(crate) fn current_pool(&self, key: &StoreKey) -> Option<PgPool> {
        self.maps().pools.get(key).map(|cached| cached.pool.clone())
    }

    pub(crate) fn keep_pool(&self, key: &StoreKey, fingerprint: [u8; 32], pool: PgPool) {
        if let Some(old) = self.maps().pools.insert(key.clone(), CachedPool { fingerprint, pool }) {
            close_in_background(old.pool);
        }
    }

    pub(crate) fn forget_pool(&self, key: &StoreKey) {
        if let Some(old) = self.maps().pools.remove(key) {
            close_in_background(old.pool);
        }
    }

    pub(crate) fn forget(&self, key: &StoreKey) {
        let mut maps = self.maps();
        maps.failures.remove(key);
        if let Some(old) = maps.pools.remove(key) {
            close_in_background(old.pool);
        }
    }

    pub(crate) fn retain(&self, keep: impl Fn(&StoreKey) -> bool) {
        let mut maps = self.maps();
        maps.failures.retain(|key, _| keep(key));
        let gone: Vec<StoreKey> = maps.pools.keys().filter(|key| !keep(key)).cloned().collect();
        for key in gone {
            if let Some(old) = maps.pools.remove(&key) {
                close_in_background(old.pool);
            }
        }
    }

    /// Records the outcome of a reconcile; returns the consecutive failures so far (0 after a
    /// success).
    pub(crate) fn record(&self, key: &StoreKey, generation: Option<i64>, success: bool) -> u32 {
        let mut maps = self.maps();
        if success {
            maps.failures.remove(key);
            return 0;
        }
        let entry = maps.failures.entry(key.clone()).or_insert(Failures { generation, count: 0 });
        if entry.generation != generation {
            *entry = Failures { generation, count: 0 };
        }
        entry.count = entry.count.saturating_add(1);
        entry.count
    }
}

/// Closes a pool without making the caller wait: its connections end gracefully once idle.
fn close_in_background(pool: PgPool) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move { pool.close().await });
        }
        // Outside a runtime, dropping the pool closes its sockets.
        Err(_) => drop(pool),
    }
}

/// Identifies what a pool was opened for: the URI and the schema.
pub(crate) fn fingerprint(uri: &str, schema: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(uri.as_bytes());
    hash.update([0]);
    hash.update(schema.as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_counts_reset_on_success_and_on_a_new_generation() {
        let state = ControllerState::default();
        let key = StoreKey { namespace: "ns".into(), name: "a".into() };
        assert_eq!(state.record(&key, Some(1), false), 1);
        assert_eq!(state.record(&key, Some(1), false), 2);
        assert_eq!(state.record(&key, Some(2), false), 1);
        assert_eq!(state.record(&key, Some(2), true), 0);
        assert_eq!(state.record(&key, Some(2), false), 1);
        state.retain(|_| false);
        assert_eq!(state.record(&key, Some(2), false), 1);
    }

    #[test]
    fn fingerprint_changes_with_uri_or_schema() {
        let base = fingerprint("postgres://a@h/db", "s");
        assert_eq!(base, fingerprint("postgres://a@h/db", "s"));
        assert_ne!(base, fingerprint("postgres://a:x@h/db", "s"));
        assert_ne!(base, fingerprint("postgres://a@h/db", "t"));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
    }
}
