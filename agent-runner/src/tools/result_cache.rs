//! Reusing a tool's successful results (the Tool's `cacheTtlSeconds`): a call with the same tool
//! and the same arguments within the TTL is answered from here, without running the tool.
//!
//! A runner serves one agent, so one cache per [`super::ToolBox`] is a cache per agent. The key
//! is the tool's name and the arguments as canonical JSON (object keys sorted, no whitespace), so
//! `{"a":1,"b":2}` and `{"b":2,"a":1}` share an entry. Only successful results are kept; an
//! error is never replayed. The cache is bounded in entries and bytes: when full, expired entries
//! go first, then those closest to expiry. One result larger than a sixteenth of the byte bound
//! is not kept, so one big answer cannot flush everything else.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

/// Most results kept per agent.
pub(crate) const MAX_ENTRIES: usize = 1024;
/// Most bytes of results (and keys) kept per agent.
pub(crate) const MAX_BYTES: usize = 8 * 1024 * 1024;

/// The key of one call: tool name and canonical arguments.
type Key = (String, String);

struct Entry {
    content: String,
    expires: Instant,
    bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    bytes: usize,
}

/// What a lookup found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The tool's results are not cached.
    Uncached,
    /// A result within its TTL.
    Hit(String),
    /// Nothing usable: run the tool, then [`ResultCache::store`] a success under this key.
    Miss(CacheKey),
}

/// The key a miss hands back for storing the result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CacheKey {
    key: Key,
    ttl: Duration,
}

/// An agent's cached tool results.
pub(crate) struct ResultCache {
    entries: Mutex<Entries>,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for ResultCache {
    fn default() -> Self {
        Self::new(MAX_ENTRIES, MAX_BYTES)
    }
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache").field("entries", &self.lock().map.len()).finish_non_exhaustive()
    }
}

impl ResultCache {
    /// A cache of at most `max_entries` results and `max_bytes` bytes.
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self { entries: Mutex::default(), max_entries, max_bytes }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Entries are replaced whole under the lock; a panic cannot leave one half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks up a call of `tool` with `arguments`; `ttl` is the tool's (`None`: not cached).
    pub(crate) fn lookup(&self, tool: &str, ttl: Option<Duration>, arguments: &Value) -> Lookup {
        let Some(ttl) = ttl else { return Lookup::Uncached };
        let key = (tool.to_string(), canonical_json(arguments));
        let mut entries = self.lock();
        match entries.map.get(&key) {
            Some(entry) if entry.expires > Instant::now() => Lookup::Hit(entry.content.clone()),
            Some(_) => {
                if let Some(gone) = entries.map.remove(&key) {
                    entries.bytes -= gone.bytes;
                }
                Lookup::Miss(CacheKey { key, ttl })
            }
            None => Lookup::Miss(CacheKey { key, ttl }),
        }
    }

    /// Keeps a successful `content` under the key a miss gave.
    pub(crate) fn store(&self, key: CacheKey, content: &str) {
        let bytes = key.key.0.len() + key.key.1.len() + content.len();
        if bytes > self.max_bytes / 16 {
            return;
        }
        let now = Instant::now();
        let entry = Entry { content: content.to_string(), expires: now + key.ttl, bytes };
        let mut entries = self.lock();
        if let Some(old) = entries.map.remove(&key.key) {
            entries.bytes -= old.bytes;
        }
        if entries.map.len() >= self.max_entries || entries.bytes + bytes > self.max_bytes {
            let before = entries.map.len();
            entries.map.retain(|_, e| e.expires > now);
            if entries.map.len() != before {
                entries.bytes = entries.map.values().map(|e| e.bytes).sum();
            }
        }
        while entries.map.len() >= self.max_entries || entries.bytes + bytes > self.max_bytes {
            let Some(soonest) = entries.map.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = entries.map.remove(&soonest) {
                entries.bytes -= gone.bytes;
            }
        }
        entries.bytes += bytes;
        entries.map.insert(key.key, entry);
    }

    /// Results kept, expired ones included until they are looked up or evicted.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// `value` as JSON with every object's keys sorted and no whitespace.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TTL: Option<Duration> = Some(Duration::from_secs(60));

    fn miss(cache: &ResultCache, tool: &str, arguments: &Value) -> CacheKey {
        match cache.lookup(tool, TTL, arguments) {
            Lookup::Miss(key) => key,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": [1, {"y": 2, "x": "é"}], "a": null});
        assert_eq!(canonical_json(&a), r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#);
        assert_eq!(canonical_json(&json!({"a": 1, "b": 2})), canonical_json(&json!({"b": 2, "a": 1})));
    }

    #[tokio::test(start_paused = true)]
    async fn hits_within_the_ttl_per_tool_and_arguments_only() {
        let cache = ResultCache::default();
        assert_eq!(cache.lookup("weather", None, &json!({})), Lookup::Uncached);
        let key = miss(&cache, "weather", &json!({"city": "Paris", "units": "C"}));
        cache.store(key, "12 C");
        assert_eq!(
            cache.lookup("weather", TTL, &json!({"units": "C", "city": "Paris"})),
            Lookup::Hit("12 C".into())
        );
        miss(&cache, "weather", &json!({"city": "Lyon", "units": "C"}));
        miss(&cache, "forecast", &json!({"city": "Paris", "units": "C"}));
        tokio::time::advance(Duration::from_secs(61)).await;
        miss(&cache, "weather", &json!({"city": "Paris", "units": "C"}));
        assert_eq!(cache.len(), 0, "the expired entry went on lookup");
    }

    #[tokio::test(start_paused = true)]
    async fn full_caches_drop_expired_then_soonest_to_expire() {
        let cache = ResultCache::new(2, 1 << 20);
        let short = Some(Duration::from_secs(5));
        let Lookup::Miss(key) = cache.lookup("t", short, &json!(1)) else { panic!("miss") };
        cache.store(key, "one");
        cache.store(miss(&cache, "t", &json!(2)), "two");
        cache.store(miss(&cache, "t", &json!(3)), "three");
        assert_eq!(cache.len(), 2);
        miss(&cache, "t", &json!(1));
        assert_eq!(cache.lookup("t", TTL, &json!(3)), Lookup::Hit("three".into()));
        // Too big for a sixteenth of the byte bound: not kept.
        let small = ResultCache::new(10, 1600);
        small.store(miss(&small, "t", &json!(1)), &"x".repeat(200));
        assert_eq!(small.len(), 0);
    }
}
