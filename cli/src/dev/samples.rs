//! The samples of `config/samples/` (built into the binary), adapted to a machine: moved into
//! one namespace, the memory Secret pointing at the local PostgreSQL, the Models at
//! `--model-url` with the API key from the environment. The sample Session is left out: it
//! would start work (and spend) as soon as it is applied.

use anyhow::Context;
use serde_json::Value;

use crate::dev::settings::{DevArgs, Instance};

/// The samples' own namespace, used unless `-n` names another.
pub(crate) const NAMESPACE: &str = "fleet";
/// What the API-key Secret holds when the key's environment variable is unset: local
/// OpenAI-compatible servers accept any key.
const NO_KEY: &str = "no-key-set";

/// The sample files, in the order `config/samples/kustomization.yaml` lists them.
const FILES: [(&str, &str); 6] = [
    ("namespace.yaml", include_str!("../../../config/samples/namespace.yaml")),
    ("secrets.yaml", include_str!("../../../config/samples/secrets.yaml")),
    ("models.yaml", include_str!("../../../config/samples/models.yaml")),
    ("tools.yaml", include_str!("../../../config/samples/tools.yaml")),
    ("memorystore.yaml", include_str!("../../../config/samples/memorystore.yaml")),
    ("agents.yaml", include_str!("../../../config/samples/agents.yaml")),
];

/// Where the samples go and what they point at.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The namespace of every sample.
    pub(crate) namespace: String,
    /// The OpenAI-compatible endpoint of every Model.
    pub(crate) model_url: String,
    /// The model every Model asks for, when not the samples' own.
    pub(crate) model_name: Option<String>,
    /// The API key for the endpoint.
    pub(crate) api_key: String,
    /// The PostgreSQL URL of the MemoryStore's Secret.
    pub(crate) database_url: String,
    /// The MemoryStore's schema.
    pub(crate) memory_schema: String,
}

impl Settings {
    /// From the flags, reading the API key from the variable `--api-key-env` names.
    pub(crate) fn from_args(args: &DevArgs, instance: &Instance, namespace: &str) -> Self {
        let api_key = std::env::var(&args.api_key_env).ok().filter(|key| !key.is_empty());
        if api_key.is_none() {
            println!(
                "agentry dev: {} is not set; the sample Models send a placeholder API key",
                args.api_key_env
            );
        }
        Self {
            namespace: namespace.to_string(),
            model_url: args.model_url.clone(),
            model_name: args.model_name.clone(),
            api_key: api_key.unwrap_or_else(|| NO_KEY.to_string()),
            database_url: args.database_url.clone(),
            memory_schema: instance.memory_schema(),
        }
    }
}

/// Every sample document but the Session, adapted to `settings`.
pub(crate) fn adapted(settings: &Settings) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for (file, text) in FILES {
        for doc in serde_yaml::Deserializer::from_str(text) {
            let mut value: Value =
                serde::Deserialize::deserialize(doc).with_context(|| format!("parsing sample {file}"))?;
            if !value.is_null() {
                adapt(&mut value, settings);
                docs.push(value);
            }
        }
    }
    Ok(docs)
}

fn adapt(doc: &mut Value, settings: &Settings) {
    if doc["kind"] == "Namespace" {
        doc["metadata"]["name"] = settings.namespace.clone().into();
        return;
    }
    doc["metadata"]["namespace"] = settings.namespace.clone().into();
    let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
    match (doc["kind"].as_str().unwrap_or_default(), name.as_str()) {
        ("Secret", "openai-credentials") => doc["stringData"]["api-key"] = settings.api_key.clone().into(),
        ("Secret", "fleet-memory-db") => doc["stringData"]["uri"] = settings.database_url.clone().into(),
        ("Model", _) => {
            doc["spec"]["baseUrl"] = settings.model_url.clone().into();
            if let Some(model) = &settings.model_name {
                doc["spec"]["model"] = model.clone().into();
            }
        }
        ("MemoryStore", _) => doc["spec"]["postgres"]["schema"] = settings.memory_schema.clone().into(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            namespace: "demo".into(),
            model_url: "http://127.0.0.1:9999/v1".into(),
            model_name: Some("llama3.2".into()),
            api_key: "sk-local".into(),
            database_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            memory_schema: "agentry_t_memory".into(),
        }
    }

    fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
        docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name).expect("the sample")
    }

    #[test]
    fn every_sample_moves_into_the_namespace_and_points_at_local_services() {
        let docs = adapted(&settings()).expect("samples parse");
        assert_eq!(docs[0]["kind"], "Namespace", "the namespace comes first");
        assert_eq!(docs[0]["metadata"]["name"], "demo");
        assert!(docs[1..].iter().all(|d| d["metadata"]["namespace"] == "demo"));
        assert!(docs.iter().all(|d| d["kind"] != "Session"), "no Session: it would start work");
        assert_eq!(find(&docs, "Secret", "openai-credentials")["stringData"]["api-key"], "sk-local");
        let uri = &find(&docs, "Secret", "fleet-memory-db")["stringData"]["uri"];
        assert_eq!(uri, "postgres://postgres@127.0.0.1:5432/postgres");
        for model in ["gpt-4o-mini", "llama-local"] {
            let spec = &find(&docs, "Model", model)["spec"];
            assert_eq!(spec["baseUrl"], "http://127.0.0.1:9999/v1", "{model}");
            assert_eq!(spec["model"], "llama3.2", "{model}");
        }
        assert_eq!(
            find(&docs, "MemoryStore", "fleet-memory")["spec"]["postgres"]["schema"],
            "agentry_t_memory"
        );
        let agents = docs.iter().filter(|d| d["kind"] == "Agent").count();
        assert_eq!(agents, 3, "the three sample Agents");
    }

    #[test]
    fn without_a_model_name_the_samples_keep_their_own() {
        let docs = adapted(&Settings { model_name: None, ..settings() }).expect("samples parse");
        assert_eq!(find(&docs, "Model", "gpt-4o-mini")["spec"]["model"], "gpt-4o-mini");
    }
}
