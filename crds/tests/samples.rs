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
        assert_eq!(admitted["spec"]["nonExistent"], Value::Null);
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
