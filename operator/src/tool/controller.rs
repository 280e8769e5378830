//! Tool controller: a Tool is `Ready` when its input schema compiles, its block is one the
//! runner can run and its Secrets exist; `usedBy` lists the Agents naming it.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{
    Agent, BuiltinToolName, Condition, ConditionStatus, Tool, ToolStatus, ToolType, set_condition,
};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};

use crate::reconciler::apply::{apply_status, same_conditions};
use crate::reconciler::error::ReconcileError;
use crate::reconciler::instrumented::{announce_ready_change, instrumented};
use crate::runtime::context::OperatorContext;
use crate::runtime::shared_caches::SharedCaches;

/// Every object is looked at again this often, to catch anything a missed event left behind.
const RESYNC: Duration = Duration::from_secs(600);

const CONTROLLER: &str = "tool";

/// Everything the Tool controller reads.
pub struct ToolContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Agents, for `usedBy`.
    pub agents: Store<Agent>,
    /// Secret metadata, whose changes re-check the Tools naming them.
    pub secrets: Store<PartialObjectMeta<Secret>>,
}

/// Whether the runner can run `tool`: `Ready`'s status, reason and message.
/// What a `headersFrom` Secret holds: `None` when the Secret does not exist, else whether it has
/// a non-empty value under the key.
pub type SecretKeyLookup<'a> = &'a dyn Fn(&str, &str) -> Option<bool>;

/// Characters allowed in an HTTP header name (RFC 9110 token).
fn is_header_token(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Whether every `{` of a URL template is closed before the next one opens.
fn balanced_placeholders(url: &str) -> bool {
    let mut open = false;
    for c in url.chars() {
        match (c, open) {
            ('{', false) => open = true,
            ('}', true) => open = false,
            ('{', true) | ('}', false) => return false,
            _ => {}
        }
    }
    !open
}

/// Whether the runner can run `tool`: `Ready`'s status, reason and message. Everything the
/// runner refuses at start is refused here first, so one bad Tool never crash-loops the
/// runners of every Agent using it.
pub fn check(tool: &Tool, secret_key: SecretKeyLookup<'_>) -> (ConditionStatus, &'static str, String) {
    let name = tool.name_any();
    if name.len() > 64 {
        return (
            ConditionStatus::False,
            "InvalidName",
            format!(
                "tool name {name} is longer than the 64 characters model providers accept; rename the Tool"
            ),
        );
    }
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
            let Some(http) = &tool.spec.http else {
                return (ConditionStatus::False, "Invalid", "type http needs an http block".into());
            };
            if !balanced_placeholders(&http.url) {
                return (
                    ConditionStatus::False,
                    "InvalidUrl",
                    format!("http.url {} has an unclosed or nested {{placeholder}}", http.url),
                );
            }
            for (header, value) in &http.headers {
                if !is_header_token(header) || value.contains(['\r', '\n']) {
                    return (
                        ConditionStatus::False,
                        "InvalidHeader",
                        format!("http.headers {header:?} is not a valid HTTP header name and value"),
                    );
                }
            }
            for header in &http.headers_from {
                let reference = &header.secret_key_ref;
                match secret_key(&reference.name, &reference.key) {
                    None => {
                        return (
                            ConditionStatus::False,
                            "SecretNotFound",
                            format!("Secret {} (header {}) not found", reference.name, header.name),
                        );
                    }
                    Some(false) => {
                        return (
                            ConditionStatus::False,
                            "KeyMissing",
                            format!(
                                "Secret {} has no non-empty key {} (header {}); add it",
                                reference.name, reference.key, header.name
                            ),
                        );
                    }
                    Some(true) => {}
                }
            }
        }
        ToolType::Agent => {}
    }
    (ConditionStatus::True, "Valid", "the input schema compiles and the tool can run".into())
}

/// Reconciles one Tool.
pub async fn reconcile(tool: Arc<Tool>, ctx: Arc<ToolContext>) -> Result<Action, ReconcileError> {
    // Until the Agents have been listed once, usedBy would look incomplete: come back shortly
    // (never wait here: a reconcile must not block on a watch).
    if ctx.agents.wait_until_ready().now_or_never().is_none() {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let ns = tool.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = tool.name_any();
    // Secret values are read only here, for the few Secrets a Tool names, and never kept.
    let secrets_api = Api::<Secret>::namespaced(ctx.operator.client.clone(), &ns);
    let mut secrets = std::collections::BTreeMap::new();
    for reference in tool.spec.http.iter().flat_map(|h| &h.headers_from).map(|h| &h.secret_key_ref) {
        if !secrets.contains_key(&reference.name) {
            secrets.insert(reference.name.clone(), secrets_api.get_opt(&reference.name).await?);
        }
    }
    let secret_key = |name: &str, key: &str| -> Option<bool> {
        let secret = secrets.get(name)?.as_ref()?;
        Some(crate::model::controller::has_key(secret, key))
    };
    let (status, reason, message) = check(&tool, &secret_key);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn http_tool(name: &str, http: serde_json::Value) -> Tool {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"type": "http", "description": "d", "http": http}
        }))
        .expect("tool")
    }

    #[test]
    fn what_the_runner_refuses_is_not_ready() {
        let secrets = |name: &str, key: &str| match (name, key) {
            ("token", "value") => Some(true),
            ("token", _) => Some(false),
            _ => None,
        };
        let ok = http_tool(
            "fine",
            serde_json::json!({"url": "https://h/{id}", "headers": {"Accept": "x"},
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "token", "key": "value"}}]}),
        );
        assert_eq!(check(&ok, &secrets).1, "Valid");
        let long = http_tool(&"a".repeat(65), serde_json::json!({"url": "https://h/"}));
        assert_eq!(check(&long, &secrets).1, "InvalidName");
        let unclosed = http_tool("t", serde_json::json!({"url": "https://h/{city"}));
        assert_eq!(check(&unclosed, &secrets).1, "InvalidUrl");
        let header = http_tool("t", serde_json::json!({"url": "https://h/", "headers": {"Bad Header": "x"}}));
        assert_eq!(check(&header, &secrets).1, "InvalidHeader");
        let newline = http_tool("t", serde_json::json!({"url": "https://h/", "headers": {"X": "a\nb"}}));
        assert_eq!(check(&newline, &secrets).1, "InvalidHeader");
        let missing_key = http_tool(
            "t",
            serde_json::json!({"url": "https://h/",
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "token", "key": "other"}}]}),
        );
        assert_eq!(check(&missing_key, &secrets).1, "KeyMissing");
        let missing_secret = http_tool(
            "t",
            serde_json::json!({"url": "https://h/",
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "nope", "key": "value"}}]}),
        );
        assert_eq!(check(&missing_secret, &secrets).1, "SecretNotFound");
    }
}
