//! `events.k8s.io/v1` Events are the core/v1 Events seen through another schema, as in
//! kube-apiserver: one storage, converted field by field, so `kubectl describe` (core/v1) shows
//! the events a controller records with kube-runtime's `Recorder` (events.k8s.io/v1).

use serde_json::{Map, Value};

/// Field renames between events.k8s.io/v1 (left) and core/v1 (right).
const RENAMES: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedCount", "count"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("reportingController", "reportingComponent"),
];

/// Whether a resource is the events.k8s.io view of core Events.
pub(crate) fn is_events_view(group: &str, plural: &str) -> bool {
    group == "events.k8s.io" && plural == "events"
}

/// An events.k8s.io/v1 Event in its stored (core/v1) form.
pub(crate) fn to_core(event: Value) -> Value {
    rename(event, |(new, old)| (new, old))
}

/// A stored (core/v1) Event as events.k8s.io/v1 shows it.
pub(crate) fn from_core(event: Value) -> Value {
    rename(event, |(new, old)| (old, new))
}

fn rename(
    event: Value,
    direction: impl Fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Value {
    let Value::Object(mut map) = event else { return event };
    let mut out = Map::new();
    for pair in RENAMES {
        let (from, to) = direction(pair);
        if let Some(value) = map.remove(from) {
            out.insert(to.to_owned(), value);
        }
    }
    for (key, value) in map {
        out.entry(key).or_insert(value);
    }
    Value::Object(out)
}
