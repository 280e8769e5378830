//! The object store: every object of every resource, keyed by resource, namespace and name, with
//! one global `resourceVersion` counter (as etcd's revision is global) and a bounded history of
//! changes per resource from which watches resume.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::resources::StorageKey;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub(crate) type ObjectKey = (String, String);

/// What happened to an object, as a watch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed from the store.
    Deleted,
    /// Not an object change: every open watch must end with `410 Gone` (the test hook that
    /// simulates the apiserver's watch cache dropping behind, forcing clients to relist).
    Expired,
}

/// One change, as kept in the history and sent to open watches.
#[derive(Debug)]
pub(crate) struct ChangeRecord {
    /// The resource.
    pub(crate) key: StorageKey,
    /// The store's `resourceVersion` after this change.
    pub(crate) rv: u64,
    /// What happened.
    pub(crate) change: Change,
    /// The object after the change (for `Deleted`, its last state).
    pub(crate) object: Value,
    /// The object before a `Modified` change, so selector-filtered watches can tell an object
    /// leaving their selection (reported as `DELETED`) from one changing within it.
    pub(crate) previous: Option<Value>,
}

/// The history of one resource.
#[derive(Default)]
struct History {
    records: VecDeque<Arc<ChangeRecord>>,
    /// Changes up to and including this `resourceVersion` are no longer kept.
    evicted_through: u64,
}

/// A watch asked to resume from a `resourceVersion` older than the kept history.
#[derive(Debug)]
pub(crate) struct TooOld {
    /// The oldest `resourceVersion` a watch can still resume from.
    pub(crate) oldest: u64,
}

/// All objects, with history.
pub(crate) struct Store {
    rv: u64,
    objects: BTreeMap<StorageKey, BTreeMap<ObjectKey, Value>>,
    history: BTreeMap<StorageKey, History>,
    history_limit: usize,
    sender: broadcast::Sender<Arc<ChangeRecord>>,
}

impl Store {
    /// An empty store keeping the last `history_limit` changes of each resource.
    pub(crate) fn new(history_limit: usize) -> Self {
        let (sender, _) = broadcast::channel(16 * 1024);
        Self { rv: 1, objects: BTreeMap::new(), history: BTreeMap::new(), history_limit, sender }
    }

    /// The current `resourceVersion`.
    pub(crate) fn current_rv(&self) -> u64 {
        self.rv
    }

    /// One object.
    pub(crate) fn get(&self, key: &StorageKey, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(key)?.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The objects of a resource, in key order (namespace, then name), optionally in one namespace.
    pub(crate) fn list<'a>(
        &'a self,
        key: &StorageKey,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> {
        self.objects
            .get(key)
            .into_iter()
            .flat_map(|objects| objects.iter())
            .filter(move |((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, object)| object)
    }

    /// Every resource with stored objects.
    pub(crate) fn keys(&self) -> Vec<StorageKey> {
        self.objects.iter().filter(|(_, o)| !o.is_empty()).map(|(k, _)| k.clone()).collect()
    }

    /// Store a created (`Added`) or updated (`Modified`) object, giving it the next
    /// `resourceVersion`; returns it as stored.
    pub(crate) fn put(&mut self, key: &StorageKey, mut object: Value, change: Change) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let object_key = object_key(&object);
        let previous = self.objects.entry(key.clone()).or_default().insert(object_key, object.clone());
        self.record(key, change, object.clone(), previous.filter(|_| change == Change::Modified));
        object
    }

    /// Remove an object; its last state carries the `resourceVersion` of its deletion.
    pub(crate) fn remove(&mut self, key: &StorageKey, namespace: &str, name: &str) -> Option<Value> {
        let mut object = self.objects.get_mut(key)?.remove(&(namespace.to_owned(), name.to_owned()))?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(key, Change::Deleted, object.clone(), None);
        Some(object)
    }

    fn record(&mut self, key: &StorageKey, change: Change, object: Value, previous: Option<Value>) {
        let record = Arc::new(ChangeRecord { key: key.clone(), rv: self.rv, change, object, previous });
        let history = self.history.entry(key.clone()).or_default();
        history.records.push_back(record.clone());
        while history.records.len() > self.history_limit {
            if let Some(evicted) = history.records.pop_front() {
                history.evicted_through = evicted.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(record);
    }

    /// The changes of `key` after `rv`, or `TooOld` when some of them are no longer kept.
    pub(crate) fn changes_since(&self, key: &StorageKey, rv: u64) -> Result<Vec<Arc<ChangeRecord>>, TooOld> {
        let Some(history) = self.history.get(key) else {
            return Ok(Vec::new());
        };
        if rv < history.evicted_through {
            return Err(TooOld { oldest: history.evicted_through + 1 });
        }
        Ok(history.records.iter().filter(|r| r.rv > rv).cloned().collect())
    }

    /// Receive every change from now on. Subscribe while holding the store's lock, together with
    /// `changes_since`, so that no change is missed or seen twice.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeRecord>> {
        self.sender.subscribe()
    }

    /// Forget all history (so watches resuming from before now get `410 Gone`) and end every
    /// open watch with `410 Gone`, as when kube-apiserver's watch cache is re-initialised.
    pub(crate) fn expire_watches(&mut self) {
        for history in self.history.values_mut() {
            history.records.clear();
            history.evicted_through = self.rv;
        }
        let record = Arc::new(ChangeRecord {
            key: StorageKey { group: String::new(), plural: String::new() },
            rv: self.rv,
            change: Change::Expired,
            object: Value::Null,
            previous: None,
        });
        let _ = self.sender.send(record);
    }
}

/// The store key of an object, from its metadata.
pub(crate) fn object_key(object: &Value) -> ObjectKey {
    let meta = &object["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_owned(),
        meta["name"].as_str().unwrap_or_default().to_owned(),
    )
}
