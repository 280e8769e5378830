//! Tool controller: a Tool is `Ready` when its input schema compiles, its block is one the
//! runner can run and its Secrets exist; `usedBy` lists the Agents naming it.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{
    Agent, BuiltinToolName, Condition, ConditionStatus, Tool, ToolStatus, ToolType, set_condition,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};

use crate::context::OperatorContext;
use crate::error::ReconcileError;
use crate::reconcile_plumbing::{announce_ready_change, instrumented};
use crate::shared_caches::SharedCaches;
use crate::status_patch::{apply_status, same_conditions};

/// Every object is looked at again this often, to catch anything a missed event left behind.
const RESYNC: Duration = Duration::from_secs(600);

const CONTROLLER: &str = "tool";

/// Everything the Tool controller reads.
pub struct ToolContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Agents, for `usedBy`.
    pub agents: Store<Agent>,
    /// Secret metadata, for `headersFrom`.
    pub secrets: Store<PartialObjectMeta<Secret>>,
}

/// Whether the runner can run `tool`: `Ready`'s status, reason and message.
pub fn check(tool: &Tool, secret_exists: impl Fn(&str) -> bool) -> (ConditionStatus, &'static str, String) {
    let name = tool.name_any();
    // Models call tools by function name: letters, digits, `_` and `-` only.
    if name.contains('.') {
        return (
            ConditionStatus::False,
            "InvalidName",
            format!(
                "tool name {name} contains '.', which model providers refuse in function names; rename the Tool"
            ),
        );
    }
    if let Some(schema) = &tool.spec.input_schema {
        if schema.get("type").is_some_and(|t| t != "object") {
            return (
                ConditionStatus::False,
                "InvalidSchema",
                "inputSchema must describe an object (type: object)".into(),
            );
        }
        if let Err(err) = jsonschema::validator_for(schema) {
            return (
                ConditionStatus::False,
                "InvalidSchema",
                format!("inputSchema is not a valid JSON Schema: {err}"),
            );
        }
    }
    match tool.spec.type_ {
        ToolType::Mcp | ToolType::Wasm => {
            return (
                ConditionStatus::False,
                "Unsupported",
                format!("type {:?} is not supported by this version of the runner yet", tool.spec.type_)
                    .to_lowercase(),
            );
        }
        ToolType::Builtin => {
            let memory = |b: &&agentry_crds::BuiltinTool| {
                matches!(b.name, BuiltinToolName::MemorySearch | BuiltinToolName::MemoryStore)
            };
            if tool.spec.builtin.as_ref().is_some_and(|b| memory(&b)) {
                return (
                    ConditionStatus::False,
                    "Unsupported",
                    "the memory_search and memory_store builtins are not available in this runner version yet".into(),
                );
            }
        }
        ToolType::Http => {
            for header in tool.spec.http.iter().flat_map(|h| &h.headers_from) {
                if !secret_exists(&header.secret_key_ref.name) {
                    return (
                        ConditionStatus::False,
                        "SecretNotFound",
                        format!("Secret {} (header {}) not found", header.secret_key_ref.name, header.name),
                    );
                }
            }
        }
        ToolType::Agent => {}
    }
    (ConditionStatus::True, "Valid", "the input schema compiles and the tool can run".into())
}

/// Reconciles one Tool.
pub async fn reconcile(tool: Arc<Tool>, ctx: Arc<ToolContext>) -> Result<Action, ReconcileError> {
    // Until both caches have been listed once, usedBy and Secrets would look incomplete.
    let _ = futures::join!(ctx.agents.wait_until_ready(), ctx.secrets.wait_until_ready());
    let ns = tool.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = tool.name_any();
    let secret_exists = |secret: &str| {
        ctx.secrets.get(&ObjectRef::<PartialObjectMeta<Secret>>::new(secret).within(&ns)).is_some()
    };
    let (status, reason, message) = check(&tool, secret_exists);
    let mut used_by: Vec<String> = ctx
        .agents
        .state()
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(ns.as_str()) && a.spec.tools.contains(&name))
        .map(|a| a.name_any())
        .collect();
    used_by.sort();
    let old = tool.status.clone().unwrap_or_default();
    let mut conditions = old.conditions.clone();
    set_condition(&mut conditions, Condition::new("Ready", status, reason, &message, tool.meta().generation));
    let new = ToolStatus { observed_generation: tool.meta().generation, conditions, used_by };
    if new.observed_generation != old.observed_generation
        || new.used_by != old.used_by
        || !same_conditions(&new.conditions, &old.conditions)
    {
        apply_status(&Api::<Tool>::namespaced(ctx.operator.client.clone(), &ns), &name, &new).await?;
        announce_ready_change(
            &ctx.operator.recorder,
            &*tool,
            &old.conditions,
            (status, reason, &message),
            "Validate",
        )
        .await;
    }
    Ok(Action::requeue(RESYNC))
}

fn error_policy(_: Arc<Tool>, err: &ReconcileError, _: Arc<ToolContext>) -> Action {
    tracing::warn!(error = %err, "tool reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The Tool controller: reconciles on Tool changes, on Agents naming tools, and on Secrets.
pub fn controller<S>(
    ctx: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let by_agent = {
        let tools = caches.tools.store.clone();
        // Any Agent change may add or drop a name from a Tool's usedBy: revisit the namespace's
        // Tools that the Agent names or that list it.
        move |agent: Arc<Agent>| {
            let (ns, agent_name) = (agent.namespace(), agent.name_any());
            tools
                .state()
                .into_iter()
                .filter(|t| t.namespace() == ns)
                .filter(|t| {
                    agent.spec.tools.contains(&t.name_any())
                        || t.status.as_ref().is_some_and(|s| s.used_by.contains(&agent_name))
                })
                .map(|t| ObjectRef::from_obj(&*t))
                .collect::<Vec<_>>()
        }
    };
    let by_secret = {
        let tools = caches.tools.store.clone();
        move |secret: Arc<PartialObjectMeta<Secret>>| {
            let (ns, name) = (secret.namespace(), secret.name_any());
            tools
                .state()
                .into_iter()
                .filter(|t| t.namespace() == ns)
                .filter(|t| {
                    t.spec.http.iter().flat_map(|h| &h.headers_from).any(|h| h.secret_key_ref.name == name)
                })
                .map(|t| ObjectRef::from_obj(&*t))
                .collect::<Vec<_>>()
        }
    };
    let tool_ctx = Arc::new(ToolContext {
        operator: ctx,
        agents: caches.agents.store.clone(),
        secrets: caches.secrets.store.clone(),
    });
    Controller::for_shared_stream(caches.tools.subscribe(), caches.tools.store.clone())
        .watches_shared_stream(caches.agents.subscribe(), by_agent.clone())
        .reconcile_on(caches.agents.on_delete(by_agent))
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown)
        .run(
            |tool, ctx: Arc<ToolContext>| {
                instrumented(CONTROLLER, &*tool, ctx.operator.metrics.clone(), reconcile(tool.clone(), ctx))
            },
            error_policy,
            tool_ctx,
        )
        .for_each(|_| std::future::ready(()))
}
