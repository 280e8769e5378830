//! The Tool controller's wiring and reconcile: check the Tool, list who uses it, write `Ready`
//! and `usedBy`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{
    Agent, Condition, ConditionStatus, Tool, ToolStatus, condition_types, reasons, set_condition,
};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};

use crate::reconciler::apply::apply_status_if_changed;
use crate::reconciler::controller_kit::{ControllerKit, StopSignal, WithKit, drive};
use crate::reconciler::error::ReconcileError;
use crate::reconciler::events::announce_ready_change;
use crate::runtime::context::OperatorContext;
use crate::runtime::shared_caches::SharedCaches;
use crate::secret_keys;
use crate::tool::check::check;
use crate::tool::watch_mappers::{tools_for_agent, tools_for_secret};

/// Every object is looked at again this often, to catch anything a missed event left behind.
const RESYNC: Duration = Duration::from_secs(600);
/// How soon a reconcile that found the Agents not yet listed comes back.
const CACHES_NOT_LISTED_RETRY: Duration = Duration::from_millis(200);

/// Everything the Tool controller reads.
pub struct ToolContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Metrics, span and backoff.
    pub kit: ControllerKit,
    /// Agents, for `usedBy`.
    pub agents: Store<Agent>,
}

impl WithKit for ToolContext {
    fn kit(&self) -> &ControllerKit {
        &self.kit
    }
}

/// Reconciles one Tool.
pub async fn reconcile(tool: Arc<Tool>, ctx: Arc<ToolContext>) -> Result<Action, ReconcileError> {
    // Until the Agents have been listed once, usedBy would look incomplete: come back shortly
    // (never wait here: a reconcile must not block on a watch).
    if ctx.agents.wait_until_ready().now_or_never().is_none() {
        return Ok(Action::requeue(CACHES_NOT_LISTED_RETRY));
    }
    let ns = tool.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = tool.name_any();
    // Secret values are read only here, for the few Secrets a Tool names, and never kept.
    // Secrets outside the operator's --secret-namespaces are not read: every other check is
    // made as if they held their keys, and the Tool is refused for where they are.
    let scope = &ctx.operator.settings.secret_scope;
    let references: Vec<_> =
        tool.spec.http.iter().flat_map(|h| &h.headers_from).map(|h| &h.secret_key_ref).collect();
    let refusal = references.iter().find_map(|r| scope.refusal(&ns, &r.name));
    let secrets_api = Api::<Secret>::namespaced(ctx.operator.client.clone(), &ns);
    let mut secrets = BTreeMap::new();
    for reference in references.iter().filter(|_| refusal.is_none()) {
        if !secrets.contains_key(&reference.name) {
            secrets.insert(reference.name.clone(), secrets_api.get_opt(&reference.name).await?);
        }
    }
    let secret_key = |name: &str, key: &str| match refusal {
        Some(_) => Some(true),
        None => Some(secret_keys::has_key(secrets.get(name)?.as_ref()?, key)),
    };
    let (status, reason, message) = match (check(&tool, &secret_key), refusal) {
        ((ConditionStatus::True, _, _), Some(refusal)) => {
            (ConditionStatus::False, reasons::SECRET_NAMESPACE_NOT_ALLOWED, refusal)
        }
        (checked, _) => checked,
    };
    let mut used_by: Vec<String> = ctx
        .agents
        .state()
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(ns.as_str()) && a.spec.tools.contains(&name))
        .map(|a| a.name_any())
        .collect();
    used_by.sort();
    let old = tool.status.clone().unwrap_or_default();
    let generation = tool.meta().generation;
    let mut conditions = old.conditions.clone();
    set_condition(
        &mut conditions,
        Condition::new(condition_types::READY, status, reason, &message, generation),
    );
    let new = ToolStatus { observed_generation: generation, conditions, used_by };
    let api = Api::<Tool>::namespaced(ctx.operator.client.clone(), &ns);
    if apply_status_if_changed(&api, &name, tool.status.as_ref(), &new).await? {
        let after = (status, reason, message.as_str());
        announce_ready_change(&ctx.operator.recorder, &*tool, &old.conditions, after, "Validate").await;
    }
    Ok(Action::requeue(RESYNC))
}

/// The Tool controller: reconciles on Tool changes, on Agents naming tools, and on Secrets.
pub fn controller<S: StopSignal>(
    operator: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl Future<Output = ()> + use<S> {
    let tools = caches.tools.store.clone();
    let by_agent = move |agent: Arc<Agent>| tools_for_agent(&tools.state(), &agent);
    let tools = caches.tools.store.clone();
    let by_secret = move |secret: Arc<PartialObjectMeta<Secret>>| {
        tools_for_secret(&tools.state(), secret.namespace().as_deref(), &secret.name_any())
    };
    let kit = ControllerKit::new("tool", operator.metrics.clone());
    let ctx = Arc::new(ToolContext { operator, kit, agents: caches.agents.store.clone() });
    let controller = Controller::for_shared_stream(caches.tools.subscribe(), caches.tools.store.clone())
        .watches_shared_stream(caches.agents.subscribe(), by_agent.clone())
        .reconcile_on(caches.agents.on_delete(by_agent))
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown);
    drive(controller, reconcile, ctx)
}
