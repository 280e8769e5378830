//! The Agents of a namespace as the cluster reports them.

use agentry_api_contract::ApiErrorCode;
use agentry_api_contract::agents::AgentSummary;
use agentry_crds::{Agent, AgentPhase, ConditionStatus};
use kube::Api;
use kube::api::ListParams;

use crate::api_error::ApiError;
use crate::api_state::ApiState;

/// Every Agent of `namespace`, by name.
pub(crate) async fn list(state: &ApiState, namespace: &str) -> Result<Vec<Agent>, ApiError> {
    let agents = Api::<Agent>::namespaced(state.kube.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::unavailable("the Kubernetes API (listing Agents)", &e))?;
    let mut items = agents.items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(items)
}

/// The Agent `name` of `namespace`, or 404.
pub(crate) async fn get(state: &ApiState, namespace: &str, name: &str) -> Result<Agent, ApiError> {
    Api::<Agent>::namespaced(state.kube.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| ApiError::unavailable("the Kubernetes API (reading an Agent)", &e))?
        .ok_or_else(|| ApiError::not_found(format!("there is no Agent {name:?} in namespace {namespace:?}")))
}

/// `failure` of asking Agent `name`, unless nobody answered because there is no such Agent: then
/// the 404 saying so. A 503 tells the caller to retry, which never helps a misspelt name; the
/// Agent is read only on this failure path, so answered requests cost no Kubernetes read.
pub(crate) async fn unanswered(state: &ApiState, namespace: &str, name: &str, failure: ApiError) -> ApiError {
    if failure.code != ApiErrorCode::Unavailable {
        return failure;
    }
    match get(state, namespace, name).await {
        Err(absent) if absent.code == ApiErrorCode::NotFound => absent,
        _ => failure,
    }
}

/// What the API tells about `agent`.
pub(crate) fn summary(agent: &Agent) -> AgentSummary {
    let status = agent.status.clone().unwrap_or_default();
    let phase = status.phase.map(phase_name).unwrap_or_default().to_owned();
    // The first condition that is not True says why the Agent is not answering.
    let message = status
        .conditions
        .iter()
        .find(|c| c.status != ConditionStatus::True && !c.message.is_empty())
        .map(|c| format!("{}: {}", c.type_, c.message));
    AgentSummary {
        name: agent.metadata.name.clone().unwrap_or_default(),
        namespace: agent.metadata.namespace.clone().unwrap_or_default(),
        role: serde_json::to_value(agent.spec.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        description: agent.spec.description.clone(),
        capabilities: agent.spec.capabilities.clone(),
        model: Some(agent.spec.model_ref.clone()),
        phase,
        replicas: agent.spec.replicas,
        ready_replicas: status.ready_replicas.unwrap_or(0),
        subject: status.subject,
        message,
    }
}

/// `phase` as its wire name.
pub(crate) fn phase_name(phase: AgentPhase) -> &'static str {
    match phase {
        AgentPhase::Pending => "Pending",
        AgentPhase::Ready => "Ready",
        AgentPhase::Degraded => "Degraded",
        AgentPhase::Paused => "Paused",
        AgentPhase::Failed => "Failed",
    }
}
