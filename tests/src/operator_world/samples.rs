//! The manifests of `config/samples/`, moved into a test's namespace and pointed at the test's
//! services.

use std::path::Path;

/// Every document of `config/samples/` but the Namespace and the Session, in file order, moved
/// into `ns`: Models pointed at `model_url`, the MemoryStore's Secret at `database_url` and its
/// schema named after the namespace (so tests sharing one PostgreSQL never share tables). The
/// Session is left out because it would run (and use the scripted model) in every test that
/// applies the samples; [`session_sample`] gives it.
///
/// # Panics
/// When the samples cannot be read or parsed: they are part of this repository.
pub fn samples(ns: &str, model_url: &str, database_url: &str) -> Vec<serde_json::Value> {
    all_samples(ns, model_url, database_url).into_iter().filter(|doc| doc["kind"] != "Session").collect()
}

/// The sample Session of `config/samples/session.yaml`, moved into `ns`.
///
/// # Panics
/// When the samples cannot be read or hold no Session.
pub fn session_sample(ns: &str) -> serde_json::Value {
    all_samples(ns, "", "").into_iter().find(|doc| doc["kind"] == "Session").expect("a sample Session")
}

fn all_samples(ns: &str, model_url: &str, database_url: &str) -> Vec<serde_json::Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("sample");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml");
            if value.is_null() || value["kind"] == "Namespace" {
                continue;
            }
            value["metadata"]["namespace"] = ns.into();
            match value["kind"].as_str() {
                Some("Model") => value["spec"]["baseUrl"] = model_url.into(),
                Some("Secret") if value["metadata"]["name"] == "fleet-memory-db" => {
                    value["stringData"]["uri"] = database_url.into();
                }
                Some("MemoryStore") => {
                    value["spec"]["postgres"]["schema"] = schema_for(ns).into();
                }
                _ => {}
            }
            docs.push(value);
        }
    }
    docs
}

/// The PostgreSQL schema a test namespace's MemoryStores use.
pub fn schema_for(ns: &str) -> String {
    format!("agentry_{}", ns.replace('-', "_"))
}

/// `docs` without the MemoryStore, and the Agents without their reference to it.
pub fn without_memory(docs: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    docs.into_iter()
        .filter(|doc| doc["kind"] != "MemoryStore")
        .map(|mut doc| {
            if doc["kind"] == "Agent"
                && let Some(memory) = doc["spec"]["memory"].as_object_mut()
            {
                memory.remove("storeRef");
            }
            doc
        })
        .collect()
}
