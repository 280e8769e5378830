//! `GET …/costs`: what the namespace's agents spent, by day, agent and model.

use agentry_api_contract::agents::WindowQuery;
use agentry_api_contract::history::CostReport;
use agentry_api_contract::paths;
use axum::Json;
use axum::extract::{Path, State};
use jiff::SignedDuration;

use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::query_bounds::{object_name, window};
use crate::routes::failures::Failures;
use crate::routes::query_params::Params;

/// Cost by day (UTC), agent and model over a window (default the last 7 days). Needs `list costs`.
#[utoipa::path(get, path = paths::COSTS, tag = "history",
    params(("ns" = String, Path, description = "Namespace"), WindowQuery),
    responses((status = 200, body = CostReport), Failures))]
pub(crate) async fn cost_report(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
    Params(query): Params<WindowQuery>,
) -> Result<Json<CostReport>, ApiError> {
    object_name("namespace", &ns)?;
    let window = window(
        query.since.as_deref(),
        query.until.as_deref(),
        query.window.as_deref(),
        SignedDuration::from_hours(24 * 7),
    )?;
    state.access_reviews.require(&caller, Access::new("list", "costs", &ns)).await?;
    Ok(Json(agentry_history::costs(state.database()?, &ns, window.since, window.until).await?))
}
