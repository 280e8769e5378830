//! Which agents may call an Agent: those of its namespace that list it among their `peers`. The
//! runner refuses any other agent caller (`allowedAgents` in its config), so the rule holds on the
//! wire even where the bus has no per-agent credentials; where it has them, the server enforces
//! the same rule from the callers' permissions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Maps Agent changes to [`peers_of`], but only when an Agent's spec changed (a new generation):
/// its status changes often (usage, conditions) and never change its peers' callers.
#[derive(Clone, Default)]
pub struct PeersOnSpecChange {
    seen: Arc<Mutex<HashMap<ObjectRef<Agent>, Option<i64>>>>,
}

impl PeersOnSpecChange {
    /// The Agents to reconcile for this event on `changed`.
    pub fn map(&self, changed: &Agent) -> Vec<ObjectRef<Agent>> {
        let generation = changed.metadata.generation;
        let previous = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ObjectRef::from_obj(changed), generation);
        if previous == Some(generation) { Vec::new() } else { peers_of(changed) }
    }

    /// The Agents to reconcile now that `gone` is deleted (and forgets it).
    pub fn forget(&self, gone: &Agent) -> Vec<ObjectRef<Agent>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).remove(&ObjectRef::from_obj(gone));
        peers_of(gone)
    }
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

    #[test]
    fn only_a_new_generation_wakes_the_peers() {
        let watch = PeersOnSpecChange::default();
        let mut manager = (*agent("fleet", "manager", &["finance"])).clone();
        manager.metadata.generation = Some(1);
        assert_eq!(watch.map(&manager).len(), 1, "first seen");
        assert!(watch.map(&manager).is_empty(), "a status change keeps the generation");
        manager.metadata.generation = Some(2);
        assert_eq!(watch.map(&manager).len(), 1, "a spec change");
        assert_eq!(watch.forget(&manager).len(), 1, "a deletion");
        assert_eq!(watch.map(&manager).len(), 1, "seen anew after its deletion");
    }
}
