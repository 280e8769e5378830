//! Which agents may call an Agent: those of its namespace that list it among their `peers`. The
//! runner refuses any other agent caller (`allowedAgents` in its config), so the rule holds on the
//! wire even where the bus has no per-agent credentials; where it has them, the server enforces
//! the same rule from the callers' permissions.

use std::sync::Arc;

use agentry_crds::Agent;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::agent::runner_config::Rendered;

/// Names of the Agents of `agent`'s namespace whose `peers` include it, sorted.
pub fn callers_of(agents: &[Arc<Agent>], agent: &Agent) -> Vec<String> {
    let (namespace, name) = (agent.namespace(), agent.name_any());
    let mut callers: Vec<String> = agents
        .iter()
        .filter(|other| other.namespace() == namespace && other.name_any() != name)
        .filter(|other| other.spec.peers.contains(&name))
        .map(|other| other.name_any())
        .collect();
    callers.sort();
    callers
}

/// Sets the runner's `allowedAgents` to `callers` and renders its JSON again.
pub fn attach(rendered: &mut Rendered, callers: Vec<String>) {
    rendered.config.allowed_agents = Some(callers);
    rendered.json = serde_json::to_string_pretty(&rendered.config).unwrap_or_default();
}

/// The Agents `changed` lists as peers: their callers changed with it. (An Agent dropped from
/// the peers learns it at its next resync.)
pub fn peers_of(changed: &Agent) -> Vec<ObjectRef<Agent>> {
    let namespace = changed.namespace();
    changed
        .spec
        .peers
        .iter()
        .map(|peer| {
            let reference = ObjectRef::new(peer);
            match &namespace {
                Some(ns) => reference.within(ns),
                None => reference,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(ns: &str, name: &str, peers: &[&str]) -> Arc<Agent> {
        let value = serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"role": "worker", "modelRef": "gpt", "peers": peers}
        });
        Arc::new(serde_json::from_value(value).expect("agent"))
    }

    #[test]
    fn the_callers_are_the_agents_of_the_namespace_listing_it_as_a_peer() {
        let target = agent("fleet", "finance", &[]);
        let agents = vec![
            agent("fleet", "sales", &["finance"]),
            agent("fleet", "manager", &["finance", "sales"]),
            agent("fleet", "ops", &["sales"]),
            agent("other", "intruder", &["finance"]),
            target.clone(),
        ];
        assert_eq!(callers_of(&agents, &target), ["manager", "sales"]);
        let refs = peers_of(&agents[1]);
        assert_eq!(
            refs,
            [ObjectRef::new("finance").within("fleet"), ObjectRef::new("sales").within("fleet")]
        );
    }
}
