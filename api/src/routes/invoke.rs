//! `POST …/agents/{name}/invoke`: ask an agent and wait for the answer.

use std::time::Duration;

use agentry_api_contract::invoke::{InvokeRequest, InvokeResponse};
use agentry_api_contract::paths;
use agentry_protocol::{AgentRequest, RequestLimits};
use axum::Json;
use axum::extract::{Path, State};
use tracing::Instrument;

use crate::agent_call;
use crate::agent_directory;
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::{budget, input_text, object_name, timeout_seconds};
use crate::routes::failures::Failures;

/// What an invocation sends: the checked request and how long to wait.
pub(crate) struct Invocation {
    pub(crate) request: AgentRequest,
    pub(crate) timeout: Duration,
}

/// Checks `body` and builds the agent request `caller` makes.
pub(crate) fn invocation(caller: &Caller, body: InvokeRequest) -> Result<Invocation, ApiError> {
    input_text("input", &body.input)?;
    let timeout = Duration::from_secs(u64::from(timeout_seconds(body.timeout_seconds)?));
    let budget_usd = budget(body.budget_usd)?;
    let request = AgentRequest {
        from: Some(caller.username.clone()),
        context: body.context,
        limits: budget_usd.map(|b| RequestLimits { budget_usd: Some(b), max_messages: None }),
        ..AgentRequest::new(agent_call::new_request_id(), body.input)
    };
    Ok(Invocation { request, timeout })
}

/// Asks the agent and answers with its reply. Needs `create agents/invoke`.
#[utoipa::path(post, path = paths::AGENT_INVOKE, tag = "agents",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    request_body = InvokeRequest,
    responses((status = 200, body = InvokeResponse),
        (status = 502, description = "The agent answered with an error", body = agentry_api_contract::ApiErrorBody),
        (status = 504, description = "The agent did not answer in time", body = agentry_api_contract::ApiErrorBody),
        Failures))]
pub(crate) async fn invoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<InvokeRequest>,
) -> Result<Json<InvokeResponse>, ApiError> {
    object_name("namespace", &ns)?;
    object_name("name", &name)?;
    let invocation = invocation(&caller, body)?;
    state.access_reviews.require(&caller, Access::new("create", "agents/invoke", &ns)).await?;
    let span = tracing::info_span!("invoke", namespace = %ns, agent = %name, request_id = %invocation.request.request_id);
    match agent_call::ask(&state.nats, &ns, &name, invocation.request, invocation.timeout)
        .instrument(span)
        .await
    {
        Ok(response) => Ok(Json(response)),
        Err(failure) => Err(agent_directory::unanswered(&state, &ns, &name, failure).await),
    }
}
