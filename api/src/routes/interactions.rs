//! `GET …/interactions`, `…/interactions/{request_id}`, `…/interaction-stats`: the recorded
//! history of requests and its statistics.

use agentry_api_contract::history::{
    Interaction, InteractionList, InteractionListQuery, InteractionStats, StatsQuery,
};
use agentry_api_contract::paths;
use agentry_history::interactions::{self, InteractionFilters};
use axum::Json;
use axum::extract::{Path, State};
use jiff::SignedDuration;

use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::query_bounds::{object_name, optional_instant, page_size, window};
use crate::routes::failures::Failures;
use crate::routes::query_params::Params;

/// Interactions matching the filters, newest first. Needs `list interactions`.
#[utoipa::path(get, path = paths::INTERACTIONS, tag = "history",
    params(("ns" = String, Path, description = "Namespace"), InteractionListQuery),
    responses((status = 200, body = InteractionList), Failures))]
pub(crate) async fn list_interactions(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
    Params(query): Params<InteractionListQuery>,
) -> Result<Json<InteractionList>, ApiError> {
    object_name("namespace", &ns)?;
    let limit = page_size(query.limit)?;
    let filters = InteractionFilters {
        from: query.from,
        to: query.to,
        r#type: query.r#type.as_deref().map(str::parse).transpose()?,
        session: query.session,
        outcome: query.outcome.as_deref().map(str::parse).transpose()?,
        since: optional_instant("since", query.since.as_deref())?,
        until: optional_instant("until", query.until.as_deref())?,
    };
    state.access_reviews.require(&caller, Access::new("list", "interactions", &ns)).await?;
    let page = interactions::list(state.database()?, &ns, &filters, limit, query.cursor.as_deref()).await?;
    Ok(Json(page))
}

/// One interaction, whole. Needs `get interactions`.
#[utoipa::path(get, path = paths::INTERACTION, tag = "history",
    params(("ns" = String, Path, description = "Namespace"), ("request_id" = String, Path, description = "Request id")),
    responses((status = 200, body = Interaction), Failures))]
pub(crate) async fn get_interaction(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, request_id)): Path<(String, String)>,
) -> Result<Json<Interaction>, ApiError> {
    object_name("namespace", &ns)?;
    if let Some(problem) = agentry_protocol::request_id_problem(&request_id) {
        return Err(ApiError::bad_field("requestId", problem));
    }
    state.access_reviews.require(&caller, Access::new("get", "interactions", &ns)).await?;
    Ok(Json(interactions::get(state.database()?, &ns, &request_id).await?))
}

/// Totals, by type and by agent over a window (default the last 24 h). Needs `list interactions`.
#[utoipa::path(get, path = paths::INTERACTION_STATS, tag = "history",
    params(("ns" = String, Path, description = "Namespace"), StatsQuery),
    responses((status = 200, body = InteractionStats), Failures))]
pub(crate) async fn interaction_stats(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
    Params(query): Params<StatsQuery>,
) -> Result<Json<InteractionStats>, ApiError> {
    object_name("namespace", &ns)?;
    let window = window(
        query.since.as_deref(),
        query.until.as_deref(),
        query.window.as_deref(),
        SignedDuration::from_hours(24),
    )?;
    if let Some(agent) = &query.agent {
        object_name("agent", agent)?;
    }
    state.access_reviews.require(&caller, Access::new("list", "interactions", &ns)).await?;
    let stats =
        agentry_history::stats(state.database()?, &ns, window.since, window.until, query.agent.as_deref())
            .await?;
    Ok(Json(stats))
}
