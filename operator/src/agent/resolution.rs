//! Resolving what an Agent refers to (Models, Tools, MemoryStore) from the controller's caches,
//! without calling the API server: a pure step, tested on its own.

use std::collections::BTreeMap;

use agentry_crds::{Agent, ConditionStatus, MemoryStore, Model, Tool, condition_types, reasons};
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

/// What the reconcile found for each reference.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The model chain, primary first, or why it cannot be resolved.
    pub models: Result<Vec<Model>, Unresolved>,
    /// The tools in the Agent's order, or why not.
    pub tools: Result<Vec<Tool>, Unresolved>,
    /// The MemoryStore (`None` when the Agent has no long-term memory), or why not.
    pub memory: Result<Option<MemoryStore>, Unresolved>,
}

impl Resolution {
    /// Whether everything the runner needs is there. Long-term memory is not needed: without
    /// it the runners answer from the prompt alone (`MemoryBound` says why it is missing).
    pub fn is_complete(&self) -> bool {
        self.models.is_ok() && self.tools.is_ok()
    }
}

/// A reference that does not resolve: the condition reason and a message naming the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// CamelCase reason (`ModelNotFound`, `ToolNotReady`, …); `…Pending` while the referenced
    /// object has not been checked by its controller yet (a passing state, not worth an Event).
    pub reason: &'static str,
    /// What is wrong and what to do, naming the object.
    pub message: String,
}

impl Unresolved {
    fn new(reason: &'static str, message: String) -> Self {
        Self { reason, message }
    }
}

/// Lookups by name within the Agent's namespace.
pub trait References {
    /// The Model called `name`.
    fn model(&self, name: &str) -> Option<Model>;
    /// The Tool called `name`.
    fn tool(&self, name: &str) -> Option<Tool>;
    /// The MemoryStore called `name`.
    fn memory_store(&self, name: &str) -> Option<MemoryStore>;
}

/// The `Ready` condition of an object's status, as (status, reason, message).
fn readiness(conditions: &[agentry_crds::Condition]) -> Option<(ConditionStatus, &str, &str)> {
    conditions
        .iter()
        .find(|c| c.type_ == condition_types::READY)
        .map(|c| (c.status, c.reason.as_str(), c.message.as_str()))
}

/// Resolves every reference of `agent` through `refs`.
pub fn resolve(agent: &Agent, refs: &impl References) -> Resolution {
    let ns = agent.namespace().unwrap_or_default();
    Resolution {
        models: resolve_models(agent, refs, &ns),
        tools: resolve_tools(agent, refs, &ns),
        memory: resolve_memory(agent, refs, &ns),
    }
}

fn resolve_models(agent: &Agent, refs: &impl References, ns: &str) -> Result<Vec<Model>, Unresolved> {
    let names = std::iter::once(&agent.spec.model_ref).chain(agent.spec.fallback_model_refs.iter());
    let mut chain = Vec::new();
    for name in names {
        let Some(model) = refs.model(name) else {
            return Err(Unresolved::new(
                reasons::MODEL_NOT_FOUND,
                format!("Model {name} not found in namespace {ns}; create it or fix the reference"),
            ));
        };
        match model.status.as_ref().and_then(|s| readiness(&s.conditions)) {
            Some((ConditionStatus::True, _, _)) => chain.push(model),
            Some((_, reason, message)) => {
                return Err(Unresolved::new(
                    reasons::MODEL_NOT_READY,
                    format!("Model {name} is not ready ({reason}): {message}"),
                ));
            }
            None => {
                return Err(Unresolved::new(
                    reasons::MODEL_PENDING,
                    format!("Model {name} has not been checked yet by the operator"),
                ));
            }
        }
    }
    Ok(chain)
}

fn resolve_tools(agent: &Agent, refs: &impl References, ns: &str) -> Result<Vec<Tool>, Unresolved> {
    let labels: BTreeMap<String, String> = agent.labels().clone();
    let mut tools = Vec::new();
    for name in &agent.spec.tools {
        let Some(tool) = refs.tool(name) else {
            return Err(Unresolved::new(
                reasons::TOOL_NOT_FOUND,
                format!("Tool {name} not found in namespace {ns}; create it or remove it from spec.tools"),
            ));
        };
        if let Some(selector) = &tool.spec.allowed_agents {
            let allowed = Selector::try_from(selector.clone()).map(|s| s.matches(&labels)).unwrap_or(false);
            if !allowed {
                return Err(Unresolved::new(
                    reasons::TOOL_NOT_ALLOWED,
                    format!(
                        "Tool {name} does not allow this Agent: its labels do not match the Tool's allowedAgents"
                    ),
                ));
            }
        }
        match tool.status.as_ref().and_then(|s| readiness(&s.conditions)) {
            Some((ConditionStatus::True, _, _)) => tools.push(tool),
            Some((_, reason, message)) => {
                return Err(Unresolved::new(
                    reasons::TOOL_NOT_READY,
                    format!("Tool {name} is not ready ({reason}): {message}"),
                ));
            }
            None => {
                return Err(Unresolved::new(
                    reasons::TOOL_PENDING,
                    format!("Tool {name} has not been checked yet by the operator"),
                ));
            }
        }
    }
    Ok(tools)
}

fn resolve_memory(
    agent: &Agent,
    refs: &impl References,
    ns: &str,
) -> Result<Option<MemoryStore>, Unresolved> {
    let Some(name) = agent.spec.memory.as_ref().and_then(|m| m.store_ref.as_ref()) else {
        return Ok(None);
    };
    let Some(store) = refs.memory_store(name) else {
        return Err(Unresolved::new(
            reasons::MEMORY_STORE_NOT_FOUND,
            format!(
                "MemoryStore {name} not found in namespace {ns}; create it or fix spec.memory.storeRef \
                 (the Agent answers without long-term memory meanwhile)"
            ),
        ));
    };
    match store.status.as_ref().and_then(|s| readiness(&s.conditions)) {
        Some((ConditionStatus::True, _, _)) => Ok(Some(store)),
        Some((_, reason, message)) => Err(Unresolved::new(
            reasons::MEMORY_STORE_NOT_READY,
            format!(
                "MemoryStore {name} is not ready ({reason}): {message} (the Agent answers without \
                 long-term memory until it is)"
            ),
        )),
        None => Err(Unresolved::new(
            reasons::MEMORY_STORE_PENDING,
            format!("MemoryStore {name} has not been checked yet by the operator"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The objects a test's Agent can refer to, by name.
    #[derive(Default)]
    struct Fixed {
        models: Vec<Model>,
        tools: Vec<Tool>,
        stores: Vec<MemoryStore>,
    }

    impl References for Fixed {
        fn model(&self, name: &str) -> Option<Model> {
            self.models.iter().find(|m| m.name_any() == name).cloned()
        }
        fn tool(&self, name: &str) -> Option<Tool> {
            self.tools.iter().find(|t| t.name_any() == name).cloned()
        }
        fn memory_store(&self, name: &str) -> Option<MemoryStore> {
            self.stores.iter().find(|s| s.name_any() == name).cloned()
        }
    }

    fn object<K: serde::de::DeserializeOwned>(kind: &str, name: &str, spec: serde_json::Value) -> K {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": "ns"}, "spec": spec
        }))
        .expect(kind)
    }

    #[test]
    fn references_no_controller_has_checked_yet_are_pending_and_named() {
        let agent: Agent = object(
            "Agent",
            "bot",
            json!({"role": "worker", "systemPrompt": "p", "modelRef": "gpt", "tools": ["calc"],
                "memory": {"storeRef": "mem"}}),
        );
        let refs = Fixed {
            models: vec![object("Model", "gpt", json!({"provider": "openai", "model": "m"}))],
            tools: vec![object(
                "Tool",
                "calc",
                json!({"type": "builtin", "description": "d", "builtin": {"name": "calculator"}}),
            )],
            stores: vec![object(
                "MemoryStore",
                "mem",
                json!({"postgres": {"connectionSecretRef": {"name": "db", "key": "uri"}},
                    "embedding": {"provider": "hashing", "dimensions": 256}}),
            )],
        };
        let resolution = resolve(&agent, &refs);
        let model = resolution.models.expect_err("a Model without status");
        assert_eq!(model.reason, "ModelPending");
        assert!(model.message.contains("Model gpt"), "{}", model.message);
        let tool = resolution.tools.expect_err("a Tool without status");
        assert_eq!(tool.reason, "ToolPending");
        assert!(tool.message.contains("Tool calc"), "{}", tool.message);
        let memory = resolution.memory.expect_err("a MemoryStore without status");
        assert_eq!(memory.reason, "MemoryStorePending");
        assert!(memory.message.contains("MemoryStore mem"), "{}", memory.message);
    }
}
