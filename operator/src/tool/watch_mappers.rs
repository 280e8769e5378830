//! Which Tools to reconcile again when something they depend on changes.

use std::sync::Arc;

use agentry_crds::{Agent, Tool};
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

/// The Tools whose `usedBy` an Agent change may alter: those in its namespace that it names or
/// that list it already.
pub fn tools_for_agent(tools: &[Arc<Tool>], agent: &Agent) -> Vec<ObjectRef<Tool>> {
    let (ns, agent_name) = (agent.namespace(), agent.name_any());
    tools
        .iter()
        .filter(|t| t.namespace() == ns)
        .filter(|t| {
            agent.spec.tools.contains(&t.name_any())
                || t.status.as_ref().is_some_and(|s| s.used_by.contains(&agent_name))
        })
        .map(|t| ObjectRef::from_obj(&**t))
        .collect()
}

/// The Tools in `namespace` whose `headersFrom` name the Secret `secret`.
pub fn tools_for_secret(tools: &[Arc<Tool>], namespace: Option<&str>, secret: &str) -> Vec<ObjectRef<Tool>> {
    tools
        .iter()
        .filter(|t| t.namespace().as_deref() == namespace)
        .filter(|t| t.spec.http.iter().flat_map(|h| &h.headers_from).any(|h| h.secret_key_ref.name == secret))
        .map(|t| ObjectRef::from_obj(&**t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(ns: &str, name: &str, used_by: &[&str], secret: Option<&str>) -> Arc<Tool> {
        let http = secret.map(|s| {
            json!({"url": "https://h/", "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": s, "key": "k"}}]})
        });
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"type": "http", "description": "d", "http": http.unwrap_or(json!({"url": "https://h/"}))},
                "status": {"usedBy": used_by, "conditions": []}
            }))
            .expect("tool"),
        )
    }

    fn agent(ns: &str, name: &str, tools: &[&str]) -> Agent {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"role": "worker", "systemPrompt": "p", "modelRef": "m", "tools": tools}
        }))
        .expect("agent")
    }

    #[test]
    fn an_agent_maps_to_the_tools_it_names_or_that_list_it() {
        let tools = vec![
            tool("a", "named", &[], None),
            tool("a", "listing", &["bot"], None),
            tool("a", "unrelated", &["other"], None),
            tool("b", "named", &[], None),
        ];
        let refs = tools_for_agent(&tools, &agent("a", "bot", &["named"]));
        assert_eq!(refs, vec![ObjectRef::new("named").within("a"), ObjectRef::new("listing").within("a")]);
    }

    #[test]
    fn a_secret_maps_to_the_tools_of_its_namespace_that_read_it() {
        let tools = vec![
            tool("a", "reads", &[], Some("token")),
            tool("a", "other", &[], Some("x")),
            tool("b", "reads", &[], Some("token")),
        ];
        assert_eq!(tools_for_secret(&tools, Some("a"), "token"), vec![ObjectRef::new("reads").within("a")]);
    }
}
