//! The Agent controller's wiring: what it reads from the shared caches, and what wakes it.

use std::future::Future;
use std::sync::Arc;

use agentry_crds::{Agent, MemoryStore, Model, Tool};
use futures::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use crate::agent::reconcile::reconcile;
use crate::agent::resolution::References;
use crate::agent::runner_config::Rendered;
use crate::agent::usage::UsageReader;
use crate::agent::watch_mappers::{
    agents_for_model, agents_for_secret, agents_for_store, agents_for_tool, owner_agent,
};
use crate::agent::{callers, children};
use crate::reconciler::controller_kit::{ControllerKit, StopSignal, WithKit, drive};
use crate::runtime::context::OperatorContext;
use crate::runtime::secret_caches::SecretStores;
use crate::runtime::shared_caches::SharedCaches;

/// Everything the Agent controller reads.
pub struct AgentContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Metrics, span and backoff.
    pub kit: ControllerKit,
    /// Agents (who lists whom among its peers).
    pub agents: Store<Agent>,
    /// Models.
    pub models: Store<Model>,
    /// Tools.
    pub tools: Store<Tool>,
    /// MemoryStores.
    pub memory_stores: Store<MemoryStore>,
    /// Secret metadata (resourceVersions roll the pods when a key changes).
    pub secrets: SecretStores,
    /// The runner Deployments.
    pub deployments: Store<Deployment>,
    /// The runner ConfigMaps (metadata).
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// The runner Services (metadata).
    pub services: Store<PartialObjectMeta<Service>>,
    /// The runner NetworkPolicies (metadata).
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
    /// Reads the Agents' usage today.
    pub usage: UsageReader,
}

impl WithKit for AgentContext {
    fn kit(&self) -> &ControllerKit {
        &self.kit
    }
}

/// Look-ups of an Agent's references in the caches, within its namespace.
pub struct CachedReferences<'a> {
    ctx: &'a AgentContext,
    namespace: &'a str,
}

impl References for CachedReferences<'_> {
    fn model(&self, name: &str) -> Option<Model> {
        self.ctx.models.get(&ObjectRef::new(name).within(self.namespace)).map(|m| (*m).clone())
    }
    fn tool(&self, name: &str) -> Option<Tool> {
        self.ctx.tools.get(&ObjectRef::new(name).within(self.namespace)).map(|t| (*t).clone())
    }
    fn memory_store(&self, name: &str) -> Option<MemoryStore> {
        self.ctx.memory_stores.get(&ObjectRef::new(name).within(self.namespace)).map(|s| (*s).clone())
    }
}

impl AgentContext {
    /// Whether every cache has been listed once (until then a reference may look missing).
    pub fn caches_listed(&self) -> bool {
        [
            self.models.wait_until_ready().now_or_never(),
            self.tools.wait_until_ready().now_or_never(),
            self.memory_stores.wait_until_ready().now_or_never(),
            self.secrets.wait_until_ready().now_or_never(),
            self.deployments.wait_until_ready().now_or_never(),
            self.config_maps.wait_until_ready().now_or_never(),
            self.services.wait_until_ready().now_or_never(),
            self.network_policies.wait_until_ready().now_or_never(),
        ]
        .iter()
        .all(Option::is_some)
    }

    /// An Agent's references, looked up in the caches.
    pub fn references<'a>(&'a self, namespace: &'a str) -> CachedReferences<'a> {
        CachedReferences { ctx: self, namespace }
    }

    /// Whether the ConfigMap, Service and NetworkPolicy of `agent` exist.
    pub fn children_exist(&self, agent: &Agent, ns: &str) -> bool {
        let name = agent.name_any();
        self.config_maps.get(&ObjectRef::new(&children::config_map_name(agent)).within(ns)).is_some()
            && self.services.get(&ObjectRef::new(&name).within(ns)).is_some()
            && self.network_policies.get(&ObjectRef::new(&name).within(ns)).is_some()
    }

    /// The resourceVersions of the Secrets the pod reads, in a stable order.
    pub fn secret_versions(&self, ns: &str, rendered: &Rendered) -> Vec<(String, String)> {
        let mut names: Vec<&str> = rendered.secret_env.iter().map(|s| s.secret.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|secret| {
                let version = self
                    .secrets
                    .get(&ObjectRef::new(secret).within(ns))
                    .and_then(|s| s.resource_version())
                    .unwrap_or_else(|| "absent".into());
                (secret.to_string(), version)
            })
            .collect()
    }
}

/// The Agent controller: reconciles on Agent changes, on its children, and on the Models, Tools,
/// MemoryStores and Secrets its Agents use (mapped through the caches, not polled).
pub fn controller<S: StopSignal>(
    operator: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl Future<Output = ()> + use<S> {
    let agents = caches.agents.store.clone();
    let by_model = move |model: Arc<Model>| agents_for_model(&agents.state(), &model);
    let agents = caches.agents.store.clone();
    let by_tool = move |tool: Arc<Tool>| agents_for_tool(&agents.state(), &tool);
    let agents = caches.agents.store.clone();
    let by_store = move |store: Arc<MemoryStore>| agents_for_store(&agents.state(), &store);
    let (agents, models, tools) =
        (caches.agents.store.clone(), caches.models.store.clone(), caches.tools.store.clone());
    let by_secret = move |secret: Arc<PartialObjectMeta<Secret>>| {
        let (namespace, name) = (secret.namespace(), secret.name_any());
        agents_for_secret(&agents.state(), &models.state(), &tools.state(), namespace.as_deref(), &name)
    };
    // An Agent's callers are the Agents listing it as a peer: a change of their peers changes
    // its allowedAgents (a deleted caller always counts).
    let spec_changes = callers::PeersOnSpecChange::default();
    let deletions = spec_changes.clone();
    let by_caller = move |caller: Arc<Agent>| spec_changes.map(&caller);
    let by_deleted_caller = move |caller: Arc<Agent>| deletions.forget(&caller);
    fn owner<K: Resource>(child: Arc<K>) -> Vec<ObjectRef<Agent>> {
        owner_agent(&*child)
    }
    let ctx = Arc::new(AgentContext {
        kit: ControllerKit::new("agent", operator.metrics.clone()),
        operator,
        agents: caches.agents.store.clone(),
        models: caches.models.store.clone(),
        tools: caches.tools.store.clone(),
        memory_stores: caches.memory_stores.store.clone(),
        secrets: caches.secrets.store.clone(),
        deployments: caches.deployments.store.clone(),
        config_maps: caches.config_maps.store.clone(),
        services: caches.services.store.clone(),
        network_policies: caches.network_policies.store.clone(),
        usage: UsageReader::default(),
    });
    let controller = Controller::for_shared_stream(caches.agents.subscribe(), caches.agents.store.clone())
        .owns_shared_stream(caches.deployments.subscribe())
        .reconcile_on(caches.deployments.on_delete(owner))
        .reconcile_on(caches.config_maps.on_delete(owner))
        .reconcile_on(caches.services.on_delete(owner))
        .reconcile_on(caches.network_policies.on_delete(owner))
        .watches_shared_stream(caches.agents.subscribe(), by_caller)
        .reconcile_on(caches.agents.on_delete(by_deleted_caller))
        .watches_shared_stream(caches.models.subscribe(), by_model.clone())
        .reconcile_on(caches.models.on_delete(by_model))
        .watches_shared_stream(caches.tools.subscribe(), by_tool.clone())
        .reconcile_on(caches.tools.on_delete(by_tool))
        .watches_shared_stream(caches.memory_stores.subscribe(), by_store.clone())
        .reconcile_on(caches.memory_stores.on_delete(by_store))
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown);
    drive(controller, reconcile, ctx)
}
