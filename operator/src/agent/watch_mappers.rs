//! Which Agents to reconcile again when something they depend on changes: their Models, Tools,
//! MemoryStore, the Secrets those read, and their own children.

use std::sync::Arc;

use agentry_crds::{Agent, MemoryStore, Model, Tool};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

/// Agents in `namespace` for which `uses` holds.
fn agents_where(
    agents: &[Arc<Agent>],
    namespace: Option<&str>,
    uses: impl Fn(&Agent) -> bool,
) -> Vec<ObjectRef<Agent>> {
    agents
        .iter()
        .filter(|a| a.namespace().as_deref() == namespace && uses(a))
        .map(|a| ObjectRef::from_obj(&**a))
        .collect()
}

/// The Agents whose model chain names `model`.
pub fn agents_for_model(agents: &[Arc<Agent>], model: &Model) -> Vec<ObjectRef<Agent>> {
    let name = model.name_any();
    agents_where(agents, model.namespace().as_deref(), |a| {
        a.spec.model_ref == name || a.spec.fallback_model_refs.contains(&name)
    })
}

/// The Agents that name `tool`.
pub fn agents_for_tool(agents: &[Arc<Agent>], tool: &Tool) -> Vec<ObjectRef<Agent>> {
    let name = tool.name_any();
    agents_where(agents, tool.namespace().as_deref(), |a| a.spec.tools.contains(&name))
}

/// The Agents whose memory lives in `store`.
pub fn agents_for_store(agents: &[Arc<Agent>], store: &MemoryStore) -> Vec<ObjectRef<Agent>> {
    let name = store.name_any();
    agents_where(agents, store.namespace().as_deref(), |a| {
        a.spec.memory.as_ref().and_then(|m| m.store_ref.as_ref()) == Some(&name)
    })
}

/// The Agents whose pods read the Secret `secret` in `namespace`: through a Model's API key or a
/// Tool's `headersFrom`.
pub fn agents_for_secret(
    agents: &[Arc<Agent>],
    models: &[Arc<Model>],
    tools: &[Arc<Tool>],
    namespace: Option<&str>,
    secret: &str,
) -> Vec<ObjectRef<Agent>> {
    let models: Vec<String> = models
        .iter()
        .filter(|m| m.namespace().as_deref() == namespace)
        .filter(|m| m.spec.api_key_secret_ref.as_ref().is_some_and(|r| r.name == secret))
        .map(|m| m.name_any())
        .collect();
    let tools: Vec<String> = tools
        .iter()
        .filter(|t| t.namespace().as_deref() == namespace)
        .filter(|t| t.spec.http.iter().flat_map(|h| &h.headers_from).any(|h| h.secret_key_ref.name == secret))
        .map(|t| t.name_any())
        .collect();
    agents_where(agents, namespace, |a| {
        models.contains(&a.spec.model_ref)
            || a.spec.fallback_model_refs.iter().any(|m| models.contains(m))
            || a.spec.tools.iter().any(|t| tools.contains(t))
    })
}

/// The Agent that controls `child` (a deleted child is written again by its Agent).
pub fn owner_agent<K: Resource>(child: &K) -> Vec<ObjectRef<Agent>> {
    let namespace = child.namespace().unwrap_or_default();
    child
        .owner_references()
        .iter()
        .filter(|o| o.kind == "Agent" && o.controller == Some(true))
        .map(|o| ObjectRef::<Agent>::new(&o.name).within(&namespace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    fn object<K: serde::de::DeserializeOwned>(
        kind: &str,
        ns: &str,
        name: &str,
        spec: serde_json::Value,
    ) -> Arc<K> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": kind,
                "metadata": {"name": name, "namespace": ns}, "spec": spec
            }))
            .expect(kind),
        )
    }

    fn agent(
        ns: &str,
        name: &str,
        model: &str,
        fallback: &[&str],
        tools: &[&str],
        store: Option<&str>,
    ) -> Arc<Agent> {
        let memory = store.map(|s| json!({"storeRef": s}));
        object(
            "Agent",
            ns,
            name,
            json!({"role": "worker", "systemPrompt": "p", "modelRef": model,
            "fallbackModelRefs": fallback, "tools": tools, "memory": memory}),
        )
    }

    fn fleet() -> Vec<Arc<Agent>> {
        vec![
            agent("a", "primary", "gpt", &[], &["search"], Some("mem")),
            agent("a", "fallback", "other", &["gpt"], &[], None),
            agent("a", "neither", "other", &[], &["calc"], None),
            agent("b", "primary", "gpt", &[], &["search"], Some("mem")),
        ]
    }

    fn names(refs: Vec<ObjectRef<Agent>>) -> Vec<String> {
        refs.into_iter().map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name)).collect()
    }

    #[test]
    fn models_tools_and_stores_map_to_the_agents_of_their_namespace_that_use_them() {
        let model: Arc<Model> = object("Model", "a", "gpt", json!({"provider": "openai", "model": "m"}));
        assert_eq!(names(agents_for_model(&fleet(), &model)), ["a/primary", "a/fallback"]);
        let tool: Arc<Tool> = object(
            "Tool",
            "a",
            "search",
            json!({"type": "builtin", "description": "d", "builtin": {"name": "calculator"}}),
        );
        assert_eq!(names(agents_for_tool(&fleet(), &tool)), ["a/primary"]);
        let store: Arc<MemoryStore> = object(
            "MemoryStore",
            "b",
            "mem",
            json!({"postgres": {"connectionSecretRef": {"name": "db", "key": "uri"}}, "embedding": {"provider": "hashing", "dimensions": 256}}),
        );
        assert_eq!(names(agents_for_store(&fleet(), &store)), ["b/primary"]);
    }

    #[test]
    fn a_secret_maps_through_models_and_tools_that_read_it() {
        let models: Vec<Arc<Model>> = vec![object(
            "Model",
            "a",
            "gpt",
            json!({"provider": "openai", "model": "m", "apiKeySecretRef": {"name": "key", "key": "k"}}),
        )];
        let tools: Vec<Arc<Tool>> = vec![object(
            "Tool",
            "a",
            "calc",
            json!({"type": "http", "description": "d",
            "http": {"url": "https://h/", "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "token", "key": "k"}}]}}),
        )];
        assert_eq!(
            names(agents_for_secret(&fleet(), &models, &tools, Some("a"), "key")),
            ["a/primary", "a/fallback"]
        );
        assert_eq!(names(agents_for_secret(&fleet(), &models, &tools, Some("a"), "token")), ["a/neither"]);
        assert!(agents_for_secret(&fleet(), &models, &tools, Some("b"), "key").is_empty());
    }

    #[test]
    fn a_child_maps_to_its_controlling_agent_only() {
        let child: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "a", "ownerReferences": [
                {"apiVersion": "agentry.dev/v1alpha1", "kind": "Agent", "name": "bot", "uid": "1", "controller": true},
                {"apiVersion": "agentry.dev/v1alpha1", "kind": "Agent", "name": "other", "uid": "2"}
            ]}
        }))
        .expect("config map");
        assert_eq!(names(owner_agent(&child)), ["a/bot"]);
    }
}
