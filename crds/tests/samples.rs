//! Every sample in `config/samples/` is a manifest the API server accepts and our types read.

mod admission;

use agentry_crds::{Agent, MemoryStore, Model, Session, Tool};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads `value` as `T`, then checks the typed value written back is admitted too, so the Rust
/// types and the schema agree in both directions.
fn read_as<T: DeserializeOwned + serde::Serialize>(value: &Value, what: &str) -> Value {
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|err| panic!("{what} does not deserialize into its Rust type: {err}"));
    serde_json::to_value(&typed).expect("typed value serializes")
}

/// Every value of `sent` is in `stored` unchanged (defaults may add fields, nothing may go).
fn assert_kept(sent: &Value, stored: &Value, path: &str, what: &str) {
    match (sent, stored) {
        (Value::Object(sent), Value::Object(stored)) => {
            for (key, value) in sent {
                let at = format!("{path}.{key}");
                let kept = stored.get(key).unwrap_or_else(|| panic!("{what}: {at} was pruned"));
                assert_kept(value, kept, &at, what);
            }
        }
        (Value::Array(sent), Value::Array(stored)) => {
            assert_eq!(sent.len(), stored.len(), "{what}: {path} lost items");
            for (i, (value, kept)) in sent.iter().zip(stored).enumerate() {
                assert_kept(value, kept, &format!("{path}[{i}]"), what);
            }
        }
        (sent, stored) => assert_eq!(sent, stored, "{what}: {path} changed"),
    }
}

/// Fields the schema does not know, added at the top of `spec` and inside one of its objects,
/// are pruned on admission (and named as unknown), while the sample's own fields stay.
fn assert_unknown_fields_pruned(schema: &agentry_devcluster::CrdSchema, doc: &Value, what: &str) {
    let mut polluted = doc.clone();
    let spec = polluted["spec"].as_object_mut().unwrap_or_else(|| panic!("{what}: spec is not an object"));
    // The free-form fields keep what they are given (crds/tests/structural.rs lists them).
    let nested = spec
        .iter_mut()
        .find(|(name, value)| value.is_object() && !["inputSchema", "context"].contains(&name.as_str()))
        .map(|(name, value)| {
            value["bogusField"] = Value::Bool(true);
            format!("spec.{name}.bogusField")
        });
    spec.insert("bogusField".into(), Value::String("pruned".into()));
    let mut expected: Vec<String> = ["spec.bogusField".to_string()].into_iter().chain(nested).collect();
    expected.sort();
    let mut unknown = schema.unknown_fields(&polluted);
    unknown.sort();
    assert_eq!(unknown, expected, "{what}");
    let admitted = schema.admit(&polluted, None).unwrap_or_else(|err| panic!("{what} polluted: {err}"));
    assert_eq!(admitted, schema.admit(doc, None).expect("admitted before"), "{what}: unknown fields kept");
}

#[test]
fn every_sample_is_admitted_and_deserializes() {
    let schemas = admission::schemas();
    let dir = admission::repo_root().join("config/samples");
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for (file, _, doc) in admission::documents(&dir) {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let what = format!("{} {} in {}", kind, doc["metadata"]["name"], file.display());
        let Some(schema) = schemas.get(&kind) else {
            assert_ne!(doc["apiVersion"], "agentry.dev/v1alpha1", "{what}: no CRD for this kind");
            continue;
        };
        let admitted = schema.admit(&doc, None).unwrap_or_else(|err| panic!("{what} refused: {err}"));
        // Nothing the sample says is pruned: a field the schema lacks would vanish silently.
        assert_eq!(
            schema.unknown_fields(&doc),
            Vec::<String>::new(),
            "{what}: fields the schema would prune"
        );
        assert_kept(&doc, &admitted, "", &what);
        assert_unknown_fields_pruned(schema, &doc, &what);
        let round_trip = match kind.as_str() {
            "Model" => read_as::<Model>(&admitted, &what),
            "Tool" => read_as::<Tool>(&admitted, &what),
            "Agent" => read_as::<Agent>(&admitted, &what),
            "MemoryStore" => read_as::<MemoryStore>(&admitted, &what),
            "Session" => read_as::<Session>(&admitted, &what),
            other => panic!("{what}: the test does not know kind {other}"),
        };
        schema
            .admit(&round_trip, None)
            .unwrap_or_else(|err| panic!("{what} written back from its Rust type is refused: {err}"));
        *checked.entry(kind).or_default() += 1;
    }
    println!("samples admitted: {checked:?}");
    for kind in ["Model", "Tool", "Agent", "MemoryStore", "Session"] {
        assert!(checked.get(kind).copied().unwrap_or(0) > 0, "no sample of kind {kind}");
    }
    assert_eq!(checked["Agent"], 3, "the sample fleet has three agents");
    assert_eq!(checked["Model"], 2, "a primary and a fallback Model");
}

#[test]
fn schema_defaults_match_the_rust_defaults() {
    // A minimal Agent: what the API server stores after defaulting must equal what the Rust
    // type fills in, or the operator and `kubectl get -o yaml` would disagree.
    let schemas = admission::schemas();
    let minimal = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": "solo", "namespace": "default"},
        "spec": {"role": "worker", "modelRef": "gpt-4o-mini"}
    });
    let admitted = schemas["Agent"].admit(&minimal, None).expect("minimal agent admitted");
    let from_server: Agent = serde_json::from_value(admitted).expect("defaulted agent deserializes");
    let from_rust: Agent = serde_json::from_value(minimal).expect("minimal agent deserializes");
    assert_eq!(from_server.spec, from_rust.spec);
    assert_eq!(from_server.spec.replicas, 1);
    assert_eq!(from_server.spec.limits.max_turns, 10);
    assert_eq!(from_server.spec.resilience.circuit_breaker.failure_threshold, 5);
}

#[test]
fn a_session_spec_cannot_change_after_creation() {
    let schemas = admission::schemas();
    let dir = admission::repo_root().join("config/samples");
    let (_, _, session) = admission::documents(&dir)
        .into_iter()
        .find(|(_, _, d)| d["kind"] == "Session")
        .expect("a sample Session");
    let created = schemas["Session"].admit(&session, None).expect("sample session admitted");
    let mut changed = created.clone();
    changed["spec"]["input"] = Value::String("Something else entirely.".into());
    let err = schemas["Session"].admit(&changed, Some(&created)).expect_err("spec change refused");
    assert!(err.to_string().contains("spec is immutable"), "unexpected refusal: {err}");
    let mut status_only = created.clone();
    status_only["status"] = serde_json::json!({"phase": "Running"});
    schemas["Session"].admit(&status_only, Some(&created)).expect("a status change is allowed");
}
