//! Binding an Agent's long-term memory into its runner config: which MemoryStore the runners
//! are given, and how (issue 14). A pure step, tested on its own.
//!
//! Degrade, don't block: a MemoryStore that is down never keeps an Agent from answering. The
//! `MemoryBound` condition reports the operator's own probe of the store (the MemoryStore
//! controller connects to it on every refresh and says why it cannot), while the runners keep
//! the store in their config, answer without memory while it is unreachable and reconnect with
//! backoff on their own. So an outage neither rolls the runners out nor in: the config only
//! changes when the store's connection details do. A store whose connection cannot even be handed
//! to a pod (no Secret, no key, a malformed URI, refused credentials, …), or that has not been
//! checked yet, is left out of the config: the runners then answer without long-term memory.

use agentry_crds::{Agent, ConditionStatus, EmbeddingProvider, MemoryStore, Model, condition_types};
use agentry_protocol::runner_config::{DEFAULT_MEMORY_PROMPT_CHARS, MemoryConfig, MemoryEmbedding};
use kube::ResourceExt;

use crate::agent::runner_config::{Rendered, SecretEnv};

/// The environment variable the runner reads the store's `postgres://` URL from.
pub const MEMORY_URL_ENV: &str = "AGENTRY_MEMORY_URL";
/// The environment variable the runner reads the embedding endpoint's key from.
pub const EMBEDDING_KEY_ENV: &str = "AGENTRY_MEMORY_EMBEDDING_KEY";

/// MemoryStore `Ready` reasons of a store that is configured right but cannot be reached now:
/// its runners keep it and reconnect when it returns.
const OUTAGE_REASONS: &[&str] = &["Unreachable", "QueryFailed", "TlsFailed"];

/// The store the runners of `agent` are given, if any: `store` when it is bound (Ready) or only
/// down for now (an outage reason).
pub fn usable_store(store: Option<&MemoryStore>) -> Option<&MemoryStore> {
    let store = store?;
    let ready = store.status.as_ref()?.conditions.iter().find(|c| c.type_ == condition_types::READY)?;
    let usable = ready.status == ConditionStatus::True || OUTAGE_REASONS.contains(&ready.reason.as_str());
    usable.then_some(store)
}

/// Adds `store` (with `embedding_model` when it embeds through a Model) to the rendered config
/// and the Secret keys the pod must receive; nothing when the store's embedding Model is missing.
pub fn attach(rendered: &mut Rendered, agent: &Agent, store: &MemoryStore, embedding_model: Option<&Model>) {
    let Some(embedding) = embedding(store, embedding_model, rendered) else {
        return;
    };
    let settings = agent.spec.memory.as_ref();
    let postgres = &store.spec.postgres;
    rendered.secret_env.push(SecretEnv {
        env: MEMORY_URL_ENV.into(),
        secret: postgres.connection_secret_ref.name.clone(),
        key: postgres.connection_secret_ref.key.clone(),
    });
    rendered.secret_env.sort();
    rendered.secret_env.dedup();
    rendered.config.memory = Some(MemoryConfig {
        store: store.name_any(),
        url_env: MEMORY_URL_ENV.into(),
        schema: postgres.schema.clone(),
        embedding,
        // Agents of a namespace share memories only when a store says so; none does yet.
        shared: false,
        top_k: settings.and_then(|m| usize::try_from(m.top_k).ok()).unwrap_or(5),
        // The API bounds minScore to 0..=1, which f32 holds to well within a similarity's precision.
        #[allow(clippy::cast_possible_truncation)]
        min_score: settings.and_then(|m| m.min_score).unwrap_or(0.0) as f32,
        max_prompt_chars: DEFAULT_MEMORY_PROMPT_CHARS,
        episodic: true,
    });
    rendered.json = serde_json::to_string_pretty(&rendered.config).unwrap_or_default();
}

/// The runner's embedding for `store`; `None` for an `openai-compatible` one whose Model is
/// not there (the runners then go without memory until it is).
fn embedding(store: &MemoryStore, model: Option<&Model>, rendered: &mut Rendered) -> Option<MemoryEmbedding> {
    let spec = &store.spec.embedding;
    let dimensions = usize::try_from(spec.dimensions).unwrap_or(0);
    match spec.provider {
        EmbeddingProvider::Hashing => Some(MemoryEmbedding::Hashing { dimensions }),
        EmbeddingProvider::OpenaiCompatible => {
            let model = model?;
            let base_url = model.spec.base_url.clone().unwrap_or_else(|| "https://api.openai.com/v1".into());
            rendered.egress_ports.extend(crate::agent::runner_config::url_port(&base_url));
            let api_key_env = model.spec.api_key_secret_ref.as_ref().map(|r| {
                rendered.secret_env.push(SecretEnv {
                    env: EMBEDDING_KEY_ENV.into(),
                    secret: r.name.clone(),
                    key: r.key.clone(),
                });
                EMBEDDING_KEY_ENV.to_string()
            });
            Some(MemoryEmbedding::OpenaiCompatible {
                dimensions,
                base_url,
                model: spec.model.clone().unwrap_or_else(|| model.spec.model.clone()),
                api_key_env,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::agent::runner_config::{CONFIG_KEY, render};
    use crate::runtime::settings::OperatorSettings;

    fn store(ready: Option<(&str, &str)>, embedding: serde_json::Value) -> MemoryStore {
        let mut value = json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "MemoryStore",
            "metadata": {"name": "mem", "namespace": "ns"},
            "spec": {"postgres": {"connectionSecretRef": {"name": "db", "key": "uri"}, "schema": "agents"},
                     "embedding": embedding}
        });
        if let Some((status, reason)) = ready {
            value["status"] = json!({"conditions": [{"type": "Ready", "status": status, "reason": reason,
                "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        }
        serde_json::from_value(value).expect("store")
    }

    fn agent() -> Agent {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "a", "namespace": "ns"},
            "spec": {"role": "worker", "modelRef": "m", "memory": {"storeRef": "mem", "topK": 7, "minScore": 0.25}}
        }))
        .expect("agent")
    }

    #[test]
    fn a_store_down_for_now_stays_in_the_config_and_a_misconfigured_one_does_not() {
        let hashing = json!({"provider": "hashing", "dimensions": 256});
        for (ready, usable) in [
            (Some(("True", "Migrated")), true),
            (Some(("False", "Unreachable")), true),
            (Some(("False", "SecretNotFound")), false),
            (Some(("False", "AuthenticationFailed")), false),
            (None, false),
        ] {
            let store = store(ready, hashing.clone());
            assert_eq!(usable_store(Some(&store)).is_some(), usable, "{ready:?}");
        }
    }

    #[test]
    fn the_url_comes_from_the_secret_never_the_config() {
        let store = store(Some(("True", "Migrated")), json!({"provider": "hashing", "dimensions": 256}));
        let mut rendered =
            render(&agent(), &[], &[], &OperatorSettings::new("runner:dev", "nats://nats.agentry:4222"));
        attach(&mut rendered, &agent(), &store, None);
        let memory = rendered.config.memory.clone().expect("memory");
        assert_eq!((memory.top_k, memory.min_score, memory.schema.as_str()), (7, 0.25, "agents"));
        assert_eq!(memory.embedding, MemoryEmbedding::Hashing { dimensions: 256 });
        let env = SecretEnv { env: MEMORY_URL_ENV.into(), secret: "db".into(), key: "uri".into() };
        assert!(rendered.secret_env.contains(&env), "{:?}", rendered.secret_env);
        assert!(
            rendered.json.contains(MEMORY_URL_ENV) && !rendered.json.contains("postgres://"),
            "{CONFIG_KEY}"
        );
    }

    #[test]
    fn an_openai_compatible_embedding_uses_its_models_endpoint_and_key() {
        let embedding = json!({"provider": "openai-compatible", "modelRef": "embedder", "model": "text-embedding-3-small", "dimensions": 1536});
        let store = store(Some(("True", "Migrated")), embedding);
        let model: Model = serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "embedder", "namespace": "ns"},
            "spec": {"provider": "openai-compatible", "model": "x", "baseUrl": "https://llm.example:8443/v1",
                     "apiKeySecretRef": {"name": "llm", "key": "token"}}
        }))
        .expect("model");
        let mut rendered =
            render(&agent(), &[], &[], &OperatorSettings::new("runner:dev", "nats://nats.agentry:4222"));
        let mut without = rendered.clone();
        attach(&mut without, &agent(), &store, None);
        assert_eq!(without.config.memory, None, "no Model, no memory");
        attach(&mut rendered, &agent(), &store, Some(&model));
        let Some(MemoryEmbedding::OpenaiCompatible { model, api_key_env, .. }) =
            rendered.config.memory.map(|m| m.embedding)
        else {
            panic!("openai-compatible embedding expected");
        };
        assert_eq!(
            (model.as_str(), api_key_env.as_deref()),
            ("text-embedding-3-small", Some(EMBEDDING_KEY_ENV))
        );
        assert!(rendered.egress_ports.contains(&8443));
        assert!(rendered.secret_env.iter().any(|s| s.env == EMBEDDING_KEY_ENV && s.secret == "llm"));
    }
}
