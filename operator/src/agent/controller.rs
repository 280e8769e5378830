//! Agent controller: resolves an Agent's references, renders its runner config, applies its
//! ConfigMap, Deployment, Service and NetworkPolicy, and reports where it stands.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{
    Agent, AgentPhase, AgentStatus, Condition, ConditionStatus, MemoryStore, Model, Tool, set_condition,
};
use agentry_protocol::subjects::{self, SubjectToken};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};

use crate::agent::children::{self, CONFIG_HASH_ANNOTATION};
use crate::agent::resolution::{References, Resolution, Unresolved, resolve};
use crate::agent::runner_config::{self, Rendered};
use crate::agent::status::{self, Rollout};
use crate::reconciler::apply::{apply_object, apply_status, same_conditions};
use crate::reconciler::error::ReconcileError;
use crate::reconciler::instrumented::instrumented;
use crate::runtime::context::OperatorContext;
use crate::runtime::shared_caches::SharedCaches;

/// Every object is looked at again this often, to catch anything a missed event left behind.
const RESYNC: Duration = Duration::from_secs(600);

/// How soon a reconcile that found the caches not yet listed comes back.
const CACHES_NOT_LISTED_RETRY: Duration = Duration::from_millis(200);

const CONTROLLER: &str = "agent";

/// Everything the Agent controller reads.
pub struct AgentContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Models.
    pub models: Store<Model>,
    /// Tools.
    pub tools: Store<Tool>,
    /// MemoryStores.
    pub memory_stores: Store<MemoryStore>,
    /// Secret metadata (resourceVersions roll the pods when a key changes).
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// The runner Deployments.
    pub deployments: Store<Deployment>,
    /// The runner ConfigMaps (metadata).
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// The runner Services (metadata).
    pub services: Store<PartialObjectMeta<Service>>,
    /// The runner NetworkPolicies (metadata).
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
}

struct CachedReferences<'a> {
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

fn resolved_condition<T>(
    type_: &str,
    result: &Result<T, Unresolved>,
    ok: &str,
    generation: Option<i64>,
) -> Condition {
    match result {
        Ok(_) => Condition::new(type_, ConditionStatus::True, "Resolved", ok, generation),
        Err(u) => Condition::new(type_, ConditionStatus::False, u.reason, &u.message, generation),
    }
}

/// Reconciles one Agent.
pub async fn reconcile(agent: Arc<Agent>, ctx: Arc<AgentContext>) -> Result<Action, ReconcileError> {
    if agent.meta().deletion_timestamp.is_some() {
        // Children carry owner references; the garbage collector removes them.
        return Ok(Action::await_change());
    }
    // Until every cache has been listed once, a reference may look missing that is not: come
    // back shortly rather than report it (never wait here: a reconcile must not block on a watch).
    let listed = [
        ctx.models.wait_until_ready().now_or_never(),
        ctx.tools.wait_until_ready().now_or_never(),
        ctx.memory_stores.wait_until_ready().now_or_never(),
        ctx.secrets.wait_until_ready().now_or_never(),
        ctx.deployments.wait_until_ready().now_or_never(),
        ctx.config_maps.wait_until_ready().now_or_never(),
        ctx.services.wait_until_ready().now_or_never(),
        ctx.network_policies.wait_until_ready().now_or_never(),
    ];
    if listed.iter().any(Option::is_none) {
        return Ok(Action::requeue(CACHES_NOT_LISTED_RETRY));
    }
    let ns = agent.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = agent.name_any();
    let generation = agent.meta().generation;
    let client = &ctx.operator.client;
    let settings = &ctx.operator.settings;
    let old = agent.status.clone().unwrap_or_default();

    let resolution = resolve(&agent, &CachedReferences { ctx: &ctx, namespace: &ns });
    let mut conditions = old.conditions.clone();
    set_condition(
        &mut conditions,
        resolved_condition(
            "ModelResolved",
            &resolution.models,
            "every Model in the chain is ready",
            generation,
        ),
    );
    set_condition(
        &mut conditions,
        resolved_condition("ToolsResolved", &resolution.tools, "every Tool is ready", generation),
    );
    let memory_message = match &resolution.memory {
        Ok(Some(store)) => format!("bound to MemoryStore {}", store.name_any()),
        _ => "no long-term memory configured".to_string(),
    };
    set_condition(
        &mut conditions,
        resolved_condition("MemoryBound", &resolution.memory, &memory_message, generation),
    );

    let deployment_ref = ObjectRef::<Deployment>::new(&name).within(&ns);
    let mut apply_refused: Option<String> = None;
    let mut config_hash = old.config_hash.clone();
    if let Resolution { models: Ok(models), tools: Ok(tools), memory: Ok(memory) } = &resolution {
        let rendered = runner_config::render(&agent, models, tools, settings);
        // The image and the builders' version are part of what the pods run: an operator upgrade
        // that changes either must roll them too.
        let image = agent.spec.image.clone().unwrap_or_else(|| settings.runner_image.clone());
        let inputs = format!("{}\n{image}\n{}", children::CHILDREN_VERSION, rendered.json);
        let hash = runner_config::config_hash(&inputs, &secret_versions(&ctx, &ns, &rendered));
        let current = ctx.deployments.get(&deployment_ref);
        let children_exist =
            ctx.config_maps.get(&ObjectRef::new(&children::config_map_name(&agent)).within(&ns)).is_some()
                && ctx.services.get(&ObjectRef::new(&name).within(&ns)).is_some()
                && ctx.network_policies.get(&ObjectRef::new(&name).within(&ns)).is_some();
        let up_to_date = children_exist
            && current.as_ref().is_some_and(|d| deployment_matches(d, &agent, &hash))
            && old.observed_generation == generation
            && old.config_hash.as_deref() == Some(hash.as_str());
        if !up_to_date {
            match apply_children(&agent, &rendered, &hash, memory.is_some(), &ctx).await {
                Ok(()) => {}
                // The API server refused what the spec asks for (an invalid toleration, limits
                // below requests): no retry fixes that, the spec must change. Say so in status.
                Err(ReconcileError::Kube(kube::Error::Api(refusal))) if matches!(refusal.code, 400 | 422) => {
                    let message = format!("the runner's objects were refused: {}", refusal.message);
                    apply_refused = Some(message.clone());
                    if !old.conditions.iter().any(|c| c.reason == "ApplyRefused" && c.message == message) {
                        publish(&ctx, &agent, EventType::Warning, "ApplyRefused", message).await;
                    }
                }
                Err(err) => return Err(err),
            }
            if let Some(previous) = old.config_hash.as_deref().filter(|h| *h != hash) {
                publish(
                    &ctx,
                    &agent,
                    EventType::Normal,
                    "ConfigChanged",
                    format!("runner config changed ({previous} → {hash}); rolling the runners"),
                )
                .await;
            }
        }
        // A refused apply left the runners on the previous config.
        if apply_refused.is_none() {
            config_hash = Some(hash);
        }
    } else if let Some(unresolved) =
        [resolution.models.as_ref().err(), resolution.tools.as_ref().err(), resolution.memory.as_ref().err()]
            .into_iter()
            .flatten()
            .next()
    {
        let was = old
            .conditions
            .iter()
            .any(|c| c.status == ConditionStatus::False && c.reason == unresolved.reason);
        if !was && !unresolved.reason.ends_with("Pending") {
            publish(&ctx, &agent, EventType::Warning, unresolved.reason, unresolved.message.clone()).await;
        }
    }

    let rollout = ctx.deployments.get(&deployment_ref).map(|d| Rollout::of(&d));
    let desired = agent.spec.replicas;
    let mut phase = status::phase(agent.spec.paused, resolution.is_complete(), rollout, desired);
    let (status, reason, message) = match &apply_refused {
        Some(refusal) => {
            phase = AgentPhase::Failed;
            (ConditionStatus::False, "ApplyRefused", refusal.clone())
        }
        None => status::available(agent.spec.paused, rollout, desired),
    };
    set_condition(&mut conditions, Condition::new("Available", status, reason, &message, generation));
    let subject = match (SubjectToken::new(ns.clone()), SubjectToken::new(name.clone())) {
        (Ok(n), Ok(a)) => Some(subjects::query(&n, &a)),
        _ => None,
    };
    let new = AgentStatus {
        observed_generation: generation,
        phase: Some(phase),
        conditions,
        replicas: rollout.map(|r| r.replicas),
        ready_replicas: rollout.map(|r| r.ready),
        subject,
        config_hash,
    };
    if new.phase != old.phase
        || new.observed_generation != old.observed_generation
        || new.replicas != old.replicas
        || new.ready_replicas != old.ready_replicas
        || new.subject != old.subject
        || new.config_hash != old.config_hash
        || !same_conditions(&new.conditions, &old.conditions)
    {
        apply_status(&Api::<Agent>::namespaced(client.clone(), &ns), &name, &new).await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// The resourceVersions of the Secrets the pod reads, in a stable order.
fn secret_versions(ctx: &AgentContext, ns: &str, rendered: &Rendered) -> Vec<(String, String)> {
    let mut names: Vec<&str> = rendered.secret_env.iter().map(|s| s.secret.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|secret| {
            let version = ctx
                .secrets
                .get(&ObjectRef::new(secret).within(ns))
                .and_then(|s| s.resource_version())
                .unwrap_or_else(|| "absent".into());
            (secret.to_string(), version)
        })
        .collect()
}

/// Whether the Deployment already runs this config at this scale.
fn deployment_matches(deployment: &Deployment, agent: &Agent, hash: &str) -> bool {
    let spec = deployment.spec.as_ref();
    let annotated = spec
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(CONFIG_HASH_ANNOTATION))
        .is_some_and(|h| h == hash);
    let replicas = if agent.spec.paused { 0 } else { agent.spec.replicas };
    annotated && spec.and_then(|s| s.replicas) == Some(replicas)
}

async fn apply_children(
    agent: &Agent,
    rendered: &Rendered,
    hash: &str,
    with_memory: bool,
    ctx: &AgentContext,
) -> Result<(), ReconcileError> {
    let ns = agent.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let client = ctx.operator.client.clone();
    let settings = &ctx.operator.settings;
    let config_map = children::config_map(agent, rendered);
    apply_object(
        &Api::<ConfigMap>::namespaced(client.clone(), &ns),
        &children::config_map_name(agent),
        &config_map,
    )
    .await?;
    let deployment = children::deployment(agent, rendered, hash, settings);
    apply_object(&Api::<Deployment>::namespaced(client.clone(), &ns), &agent.name_any(), &deployment).await?;
    let service = children::service(agent, settings);
    apply_object(&Api::<Service>::namespaced(client.clone(), &ns), &agent.name_any(), &service).await?;
    let policy = children::network_policy(agent, rendered, with_memory, settings);
    apply_object(&Api::<NetworkPolicy>::namespaced(client, &ns), &agent.name_any(), &policy).await?;
    Ok(())
}

async fn publish(ctx: &AgentContext, agent: &Agent, type_: EventType, reason: &str, note: String) {
    let event =
        Event { type_, reason: reason.into(), note: Some(note), action: "Reconcile".into(), secondary: None };
    if let Err(err) = ctx.operator.recorder.publish(&event, &agent.object_ref(&())).await {
        tracing::warn!(error = %err, "event not published");
    }
}

fn error_policy(_: Arc<Agent>, err: &ReconcileError, _: Arc<AgentContext>) -> Action {
    tracing::warn!(error = %err, "agent reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Agents in `ns` for which `uses` holds.
fn agents_where(
    agents: &Store<Agent>,
    ns: Option<String>,
    uses: impl Fn(&Agent) -> bool,
) -> Vec<ObjectRef<Agent>> {
    agents
        .state()
        .into_iter()
        .filter(|a| a.namespace() == ns && uses(a))
        .map(|a| ObjectRef::from_obj(&*a))
        .collect()
}

/// The Agent controller: reconciles on Agent changes, on its Deployments, and on the Models,
/// Tools, MemoryStores and Secrets its Agents use (mapped through the caches, not polled).
pub fn controller<S>(
    ctx: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let agent_ctx = Arc::new(AgentContext {
        operator: ctx,
        models: caches.models.store.clone(),
        tools: caches.tools.store.clone(),
        memory_stores: caches.memory_stores.store.clone(),
        secrets: caches.secrets.store.clone(),
        deployments: caches.deployments.store.clone(),
        config_maps: caches.config_maps.store.clone(),
        services: caches.services.store.clone(),
        network_policies: caches.network_policies.store.clone(),
    });
    let agents = caches.agents.store.clone();
    let (models, tools) = (caches.models.store.clone(), caches.tools.store.clone());
    let by_model = {
        let agents = agents.clone();
        move |model: Arc<Model>| {
            let name = model.name_any();
            agents_where(&agents, model.namespace(), |a| {
                a.spec.model_ref == name || a.spec.fallback_model_refs.contains(&name)
            })
        }
    };
    let by_tool = {
        let agents = agents.clone();
        move |tool: Arc<Tool>| {
            let name = tool.name_any();
            agents_where(&agents, tool.namespace(), |a| a.spec.tools.contains(&name))
        }
    };
    let by_store = {
        let agents = agents.clone();
        move |store: Arc<MemoryStore>| {
            let name = store.name_any();
            agents_where(&agents, store.namespace(), |a| {
                a.spec.memory.as_ref().and_then(|m| m.store_ref.as_ref()) == Some(&name)
            })
        }
    };
    let by_secret = {
        let agents = agents.clone();
        move |secret: Arc<PartialObjectMeta<Secret>>| {
            let (ns, name) = (secret.namespace(), secret.name_any());
            let models: Vec<String> = models
                .state()
                .iter()
                .filter(|m| m.namespace() == ns)
                .filter(|m| m.spec.api_key_secret_ref.as_ref().is_some_and(|r| r.name == name))
                .map(|m| m.name_any())
                .collect();
            let tools: Vec<String> = tools
                .state()
                .iter()
                .filter(|t| t.namespace() == ns)
                .filter(|t| {
                    t.spec.http.iter().flat_map(|h| &h.headers_from).any(|h| h.secret_key_ref.name == name)
                })
                .map(|t| t.name_any())
                .collect();
            agents_where(&agents, ns, |a| {
                models.contains(&a.spec.model_ref)
                    || a.spec.fallback_model_refs.iter().any(|m| models.contains(m))
                    || a.spec.tools.iter().any(|t| tools.contains(t))
            })
        }
    };
    // A deleted child is written again by its Agent.
    fn owner<K: Resource>(child: Arc<K>) -> Vec<ObjectRef<Agent>> {
        child
            .owner_references()
            .iter()
            .filter(|o| o.kind == "Agent" && o.controller == Some(true))
            .map(|o| ObjectRef::<Agent>::new(&o.name).within(&child.namespace().unwrap_or_default()))
            .collect()
    }
    Controller::for_shared_stream(caches.agents.subscribe(), caches.agents.store.clone())
        .owns_shared_stream(caches.deployments.subscribe())
        .reconcile_on(caches.deployments.on_delete(owner))
        .reconcile_on(caches.config_maps.on_delete(owner))
        .reconcile_on(caches.services.on_delete(owner))
        .reconcile_on(caches.network_policies.on_delete(owner))
        .watches_shared_stream(caches.models.subscribe(), by_model.clone())
        .reconcile_on(caches.models.on_delete(by_model))
        .watches_shared_stream(caches.tools.subscribe(), by_tool.clone())
        .reconcile_on(caches.tools.on_delete(by_tool))
        .watches_shared_stream(caches.memory_stores.subscribe(), by_store.clone())
        .reconcile_on(caches.memory_stores.on_delete(by_store))
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown)
        .run(
            |agent, ctx: Arc<AgentContext>| {
                instrumented(CONTROLLER, &*agent, ctx.operator.metrics.clone(), reconcile(agent.clone(), ctx))
            },
            error_policy,
            agent_ctx,
        )
        .for_each(|_| std::future::ready(()))
}
