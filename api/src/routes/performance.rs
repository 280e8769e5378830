//! `GET …/agents/{name}/performance` and `POST …/agent-selection`: how agents do, and which
//! one to give a task.

use agentry_api_contract::agents::{
    AgentCandidate, AgentPerformance, AgentSelection, AgentSelectionRequest, WindowQuery,
};
use agentry_api_contract::paths;
use agentry_crds::AgentPhase;
use axum::Json;
use axum::extract::{Path, State};
use jiff::{SignedDuration, Timestamp};

use crate::agent_directory;
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::{object_name, window};
use crate::routes::failures::Failures;
use crate::routes::query_params::Params;

/// Most capabilities a selection may require.
const MAX_CAPABILITIES: usize = 32;

/// One Agent's latency, success rate, tokens, cost and tool usage over a window (default the last
/// hour). Needs `get agents`.
#[utoipa::path(get, path = paths::AGENT_PERFORMANCE, tag = "agents",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent"), WindowQuery),
    responses((status = 200, body = AgentPerformance), Failures))]
pub(crate) async fn agent_performance(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    Params(query): Params<WindowQuery>,
) -> Result<Json<AgentPerformance>, ApiError> {
    object_name("namespace", &ns)?;
    object_name("name", &name)?;
    let window = window(
        query.since.as_deref(),
        query.until.as_deref(),
        query.window.as_deref(),
        SignedDuration::from_hours(1),
    )?;
    state.access_reviews.require(&caller, Access::new("get", "agents", &ns)).await?;
    let figures =
        agentry_history::agent_performance(state.database()?, &ns, &name, window.since, window.until).await?;
    Ok(Json(figures))
}

/// The best Ready Agent having every required capability: most successful over the last hour,
/// then fastest (p95), then least loaded (requests per ready replica over the last 5 minutes).
/// Needs `list agents`.
#[utoipa::path(post, path = paths::AGENT_SELECTION, tag = "agents",
    params(("ns" = String, Path, description = "Namespace")),
    request_body = AgentSelectionRequest,
    responses((status = 200, body = AgentSelection), Failures))]
pub(crate) async fn select_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
    BoundedJson(body): BoundedJson<AgentSelectionRequest>,
) -> Result<Json<AgentSelection>, ApiError> {
    object_name("namespace", &ns)?;
    if body.capabilities.is_empty() || body.capabilities.len() > MAX_CAPABILITIES {
        return Err(ApiError::bad_field(
            "capabilities",
            format!("capabilities must name 1 to {MAX_CAPABILITIES} capabilities"),
        ));
    }
    if let Some(index) = body.capabilities.iter().position(|c| c.trim().is_empty() || c.len() > 128) {
        return Err(ApiError::bad_field(&format!("capabilities[{index}]"), "a capability is 1 to 128 bytes"));
    }
    state.access_reviews.require(&caller, Access::new("list", "agents", &ns)).await?;
    let agents = agent_directory::list(&state, &ns).await?;
    let able: Vec<_> = agents
        .iter()
        .filter(|a| a.status.as_ref().and_then(|s| s.phase) == Some(AgentPhase::Ready))
        .filter(|a| {
            body.capabilities
                .iter()
                .all(|wanted| a.spec.capabilities.iter().any(|c| c.eq_ignore_ascii_case(wanted)))
        })
        .collect();
    let names: Vec<String> = able.iter().filter_map(|a| a.metadata.name.clone()).collect();
    let rankings = agentry_history::rank_agents(state.database()?, &ns, &names, Timestamp::now()).await?;
    let mut candidates: Vec<AgentCandidate> = rankings
        .into_iter()
        .zip(&able)
        .map(|(ranking, agent)| {
            let ready = agent.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0).max(1);
            AgentCandidate {
                name: ranking.agent,
                success_rate: ranking.success_rate,
                p95_latency_ms: ranking.p95_latency_ms,
                load: ranking.requests_last_5_minutes as f64 / f64::from(ready),
            }
        })
        .collect();
    candidates.sort_by(rank_order);
    Ok(Json(AgentSelection { selected: candidates.first().map(|c| c.name.clone()), candidates }))
}

/// Better first: higher success rate, then lower p95 (none measured counts as neither better nor
/// worse than 0), then lower load, then name.
fn rank_order(a: &AgentCandidate, b: &AgentCandidate) -> std::cmp::Ordering {
    b.success_rate
        .total_cmp(&a.success_rate)
        .then(a.p95_latency_ms.unwrap_or(0.0).total_cmp(&b.p95_latency_ms.unwrap_or(0.0)))
        .then(a.load.total_cmp(&b.load))
        .then(a.name.cmp(&b.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, success_rate: f64, p95: Option<f64>, load: f64) -> AgentCandidate {
        AgentCandidate { name: name.into(), success_rate, p95_latency_ms: p95, load }
    }

    #[test]
    fn success_then_latency_then_load_decide() {
        let mut all = [
            candidate("slow", 1.0, Some(900.0), 0.0),
            candidate("flaky", 0.5, Some(10.0), 0.0),
            candidate("busy", 1.0, Some(100.0), 9.0),
            candidate("idle", 1.0, Some(100.0), 1.0),
        ];
        all.sort_by(rank_order);
        let names: Vec<_> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["idle", "busy", "slow", "flaky"]);
    }
}
