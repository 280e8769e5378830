//! The Agent reconcile: observe (resolve references from the caches) → desired (render the runner
//! config and its hash) → apply (the children, when they differ) → status.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Agent, MemoryStore, Model, Tool};
use agentry_protocol::subjects::{self, SubjectToken};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::agent::callers;
use crate::agent::child_refusal::ChildWriteError;
use crate::agent::children::{self, CONFIG_HASH_ANNOTATION};
use crate::agent::controller::AgentContext;
use crate::agent::memory_binding;
use crate::agent::nats_identity::{self, IdentityPlan};
use crate::agent::resolution::{References, Resolution, resolve};
use crate::agent::runner_config::{self, Rendered};
use crate::agent::status::{self, Applied, Rollout};
use crate::reconciler::apply::{apply_object, apply_status_if_changed};
use crate::reconciler::error::ReconcileError;
use crate::reconciler::events::publish;

/// Every object is looked at again this often: to show its usage today, and to catch anything a
/// missed event left behind.
const RESYNC: Duration = Duration::from_secs(60);
/// How soon a reconcile that found the caches not yet listed comes back.
const CACHES_NOT_LISTED_RETRY: Duration = Duration::from_millis(200);

/// Reconciles one Agent.
pub async fn reconcile(agent: Arc<Agent>, ctx: Arc<AgentContext>) -> Result<Action, ReconcileError> {
    if agent.meta().deletion_timestamp.is_some() {
        // Children carry owner references; the garbage collector removes them.
        return Ok(Action::await_change());
    }
    // Until every cache has been listed once, a reference may look missing that is not: come
    // back shortly rather than report it (never wait here: a reconcile must not block on a watch).
    if !ctx.caches_listed() {
        return Ok(Action::requeue(CACHES_NOT_LISTED_RETRY));
    }
    let ns = agent.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = agent.name_any();
    let resolution = resolve(&agent, &ctx.references(&ns));
    let previous =
        Applied { config_hash: agent.status.as_ref().and_then(|s| s.config_hash.clone()), refused: None };
    let applied = match &resolution {
        Resolution { models: Ok(models), tools: Ok(tools), memory } => {
            if memory.is_err() {
                warn_unresolved(&agent, &resolution, &ctx).await;
            }
            // A store that is down for now stays in the config (the runners reconnect), one that
            // is not configured right or missing is left out (see memory_binding).
            let store = agent.spec.memory.as_ref().and_then(|m| m.store_ref.as_deref());
            let store = store.and_then(|name| ctx.references(&ns).memory_store(name));
            let store = memory_binding::usable_store(store.as_ref()).cloned();
            roll_out(&agent, &ns, (models, tools, store.as_ref()), &ctx).await?
        }
        unresolved => {
            warn_unresolved(&agent, unresolved, &ctx).await;
            previous
        }
    };
    if ctx.operator.settings.nats_identity.is_some() {
        nats_identity::ensure_tasks_consumer(&ctx.operator.nats, &ns, &name).await;
    }
    let rollout = ctx.deployments.get(&ObjectRef::new(&name).within(&ns)).map(|d| Rollout::of(&d));
    let subject = match (SubjectToken::new(ns.clone()), SubjectToken::new(name.clone())) {
        (Ok(n), Ok(a)) => Some(subjects::query_root(&n, &a)),
        _ => None,
    };
    let mut new = status::desired(&agent, &resolution, rollout, applied, subject);
    // Without NATS the usage last shown stays: a blank would read as "nothing spent".
    new.usage = match ctx.usage.today(&ctx.operator.nats, &ns, &name).await {
        Some(usage) => Some(usage),
        None => agent.status.as_ref().and_then(|s| s.usage.clone()),
    };
    let api = Api::<Agent>::namespaced(ctx.operator.client.clone(), &ns);
    apply_status_if_changed(&api, &name, agent.status.as_ref(), &new).await?;
    Ok(Action::requeue(RESYNC))
}

/// Renders the runner's config and writes the children when they differ from it.
async fn roll_out(
    agent: &Agent,
    ns: &str,
    (models, tools, memory): (&[Model], &[Tool], Option<&MemoryStore>),
    ctx: &AgentContext,
) -> Result<Applied, ReconcileError> {
    let settings = &ctx.operator.settings;
    let mut rendered = runner_config::render(agent, models, tools, settings);
    if let Some(store) = memory {
        let embedding_model = store.spec.embedding.model_ref.as_deref();
        let embedding_model = embedding_model.and_then(|name| ctx.references(ns).model(name));
        memory_binding::attach(&mut rendered, agent, store, embedding_model.as_ref());
    }
    callers::attach(&mut rendered, callers::callers_of(&ctx.agents.state(), agent));
    let identity = identity_plan(agent, &rendered, ctx)?;
    // The image and the builders' version are part of what the pods run: an operator upgrade
    // that changes either must roll them too. So are the NATS permissions, once minted.
    let image = agent.spec.image.clone().unwrap_or_else(|| settings.runner_image.clone());
    let mut inputs = format!("{}\n{image}\n{}", children::CHILDREN_VERSION, rendered.json);
    if let Some(plan) = &identity {
        inputs.push_str(&format!("\nnats-permissions {}", plan.fingerprint));
    }
    let hash = runner_config::config_hash(&inputs, &ctx.secret_versions(ns, &rendered));
    let old = agent.status.clone().unwrap_or_default();
    let up_to_date = ctx.children_exist(agent, ns)
        && ctx
            .deployments
            .get(&ObjectRef::new(&agent.name_any()).within(ns))
            .is_some_and(|d| deployment_matches(&d, agent, &hash))
        && old.observed_generation == agent.meta().generation
        && old.config_hash.as_deref() == Some(hash.as_str())
        && identity.as_ref().is_none_or(|plan| identity_current(agent, ns, plan, ctx));
    if up_to_date {
        return Ok(Applied { config_hash: Some(hash), refused: None });
    }
    let identity_written = match &identity {
        Some(plan) => apply_identity(agent, ns, plan, ctx).await,
        None => Ok(()),
    };
    let written = match identity_written {
        Ok(()) => apply_children(agent, ns, &rendered, &hash, memory.is_some(), ctx).await,
        Err(err) => Err(err),
    };
    match written {
        Ok(()) => {}
        // The API server refused a child (a spec it finds invalid, a permission or admission
        // plugin forbidding the write): retrying the same write cannot help. Say so in status
        // and an Event, once; the runners stay on the previous config.
        Err(ChildWriteError::Refused(refusal)) => {
            let reported =
                old.conditions.iter().any(|c| c.reason == refusal.reason && c.message == refusal.message);
            if !reported {
                let note = refusal.message.clone();
                publish(&ctx.operator.recorder, agent, EventType::Warning, refusal.reason, note, "Reconcile")
                    .await;
            }
            return Ok(Applied { config_hash: old.config_hash, refused: Some(refusal) });
        }
        Err(ChildWriteError::Failed(err)) => return Err(err),
    }
    if let Some(previous) = old.config_hash.as_deref().filter(|h| *h != hash) {
        let note = format!("runner config changed ({previous} → {hash}); rolling the runners");
        publish(&ctx.operator.recorder, agent, EventType::Normal, "ConfigChanged", note, "Reconcile").await;
    }
    Ok(Applied { config_hash: Some(hash), refused: None })
}

/// The NATS identity the Agent needs, when the operator mints identities.
fn identity_plan(
    agent: &Agent,
    rendered: &Rendered,
    ctx: &AgentContext,
) -> Result<Option<IdentityPlan>, ReconcileError> {
    let Some(issuer) = ctx.operator.settings.nats_identity.as_deref() else { return Ok(None) };
    nats_identity::plan(agent, rendered, issuer)
        .map(Some)
        .map_err(|e| ReconcileError::InvalidName(format!("the Agent's NATS identity: {e}")))
}

/// Whether the Agent's credentials Secret, as last seen, grants what `plan` asks.
fn identity_current(agent: &Agent, ns: &str, plan: &IdentityPlan, ctx: &AgentContext) -> bool {
    let secret = ctx.secrets.get(&ObjectRef::new(&nats_identity::secret_name(agent)).within(ns));
    nats_identity::is_current(secret.as_deref(), plan)
}

/// Mints the Agent's credentials and writes their Secret, unless it already grants `plan`.
/// Written before the Deployment, so pods of the new template mount the new credentials.
async fn apply_identity(
    agent: &Agent,
    ns: &str,
    plan: &IdentityPlan,
    ctx: &AgentContext,
) -> Result<(), ChildWriteError> {
    let Some(issuer) = ctx.operator.settings.nats_identity.as_deref() else { return Ok(()) };
    if identity_current(agent, ns, plan, ctx) {
        return Ok(());
    }
    let api = Api::<Secret>::namespaced(ctx.operator.client.clone(), ns);
    let name = nats_identity::secret_name(agent);
    // The cache may not have seen the Secret this operator wrote a moment ago: ask once before
    // minting again (metadata only), so one change of peers gives one new set of credentials.
    let live =
        api.get_metadata_opt(&name).await.map_err(|e| ChildWriteError::of("Secret", &name, e.into()))?;
    if nats_identity::is_current(live.as_ref(), plan) {
        return Ok(());
    }
    let secret = nats_identity::minted_secret(agent, plan, issuer).map_err(ChildWriteError::Failed)?;
    apply_child(&api, &name, &secret).await
}

/// Raises a Warning Event for the first reference that does not resolve, once per reason; a
/// `…Pending` reference is only waiting for its own controller, not worth an Event.
async fn warn_unresolved(agent: &Agent, resolution: &Resolution, ctx: &AgentContext) {
    let errors =
        [resolution.models.as_ref().err(), resolution.tools.as_ref().err(), resolution.memory.as_ref().err()];
    let Some(unresolved) = errors.into_iter().flatten().next() else { return };
    let conditions = agent.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let reported = conditions.iter().any(|c| !c.is_true() && c.reason == unresolved.reason);
    if !reported && !unresolved.reason.ends_with("Pending") {
        let note = unresolved.message.clone();
        publish(&ctx.operator.recorder, agent, EventType::Warning, unresolved.reason, note, "Reconcile")
            .await;
    }
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
    ns: &str,
    rendered: &Rendered,
    hash: &str,
    with_memory: bool,
    ctx: &AgentContext,
) -> Result<(), ChildWriteError> {
    let client = &ctx.operator.client;
    let settings = &ctx.operator.settings;
    let name = agent.name_any();
    let config_map = children::config_map(agent, rendered);
    let config_map_name = children::config_map_name(agent);
    apply_child(&Api::<ConfigMap>::namespaced(client.clone(), ns), &config_map_name, &config_map).await?;
    let deployment = children::deployment(agent, rendered, hash, settings);
    apply_child(&Api::<Deployment>::namespaced(client.clone(), ns), &name, &deployment).await?;
    let service = children::service(agent, settings);
    apply_child(&Api::<Service>::namespaced(client.clone(), ns), &name, &service).await?;
    let policy = children::network_policy(agent, rendered, with_memory, settings);
    apply_child(&Api::<NetworkPolicy>::namespaced(client.clone(), ns), &name, &policy).await?;
    Ok(())
}

/// Applies one child; an error says which child it was.
async fn apply_child<K>(api: &Api<K>, name: &str, object: &K) -> Result<(), ChildWriteError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    apply_object(api, name, object).await.map_err(|err| ChildWriteError::of(&K::kind(&()), name, err))
}
