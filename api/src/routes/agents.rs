//! `GET …/agents`, `GET …/agents/{name}`.

use agentry_api_contract::agents::{AgentList, AgentSummary};
use agentry_api_contract::paths;
use axum::Json;
use axum::extract::{Path, State};

use crate::agent_directory;
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::query_bounds::object_name;
use crate::routes::failures::Failures;

/// The namespace's Agents with their status. Needs `list agents`.
#[utoipa::path(get, path = paths::AGENTS, tag = "agents",
    params(("ns" = String, Path, description = "Namespace")),
    responses((status = 200, body = AgentList), Failures))]
pub(crate) async fn list_agents(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
) -> Result<Json<AgentList>, ApiError> {
    object_name("namespace", &ns)?;
    state.access_reviews.require(&caller, Access::new("list", "agents", &ns)).await?;
    let items = agent_directory::list(&state, &ns).await?.iter().map(agent_directory::summary).collect();
    Ok(Json(AgentList { items }))
}

/// One Agent with its status. Needs `get agents`.
#[utoipa::path(get, path = paths::AGENT, tag = "agents",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    responses((status = 200, body = AgentSummary), Failures))]
pub(crate) async fn get_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<AgentSummary>, ApiError> {
    object_name("namespace", &ns)?;
    object_name("name", &name)?;
    state.access_reviews.require(&caller, Access::new("get", "agents", &ns)).await?;
    let agent = agent_directory::get(&state, &ns, &name).await?;
    Ok(Json(agent_directory::summary(&agent)))
}
