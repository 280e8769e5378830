//! `…/sessions`: list and read conversations (declared Sessions and ad-hoc chats), start and end
//! ad-hoc chats.

use agentry_api_contract::paths;
use agentry_api_contract::sessions::{
    MessageList, MessageListQuery, SessionCreate, SessionList, SessionListQuery, SessionSummary,
};
use agentry_history::sessions::{self, SessionFilters};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::{identifier, object_name, optional_instant, page_size};
use crate::routes::failures::Failures;
use crate::routes::query_params::Params;

/// Longest ad-hoc session title, in bytes.
const MAX_TITLE_BYTES: usize = 200;

/// Sessions matching the filters, most recently active first. Needs `list sessions`.
#[utoipa::path(get, path = paths::SESSIONS, tag = "sessions",
    params(("ns" = String, Path, description = "Namespace"), SessionListQuery),
    responses((status = 200, body = SessionList), Failures))]
pub(crate) async fn list_sessions(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
    Params(query): Params<SessionListQuery>,
) -> Result<Json<SessionList>, ApiError> {
    object_name("namespace", &ns)?;
    let limit = page_size(query.limit)?;
    let filters = SessionFilters {
        agent: query.agent,
        r#type: query.r#type,
        phase: query.phase,
        since: optional_instant("since", query.since.as_deref())?,
        until: optional_instant("until", query.until.as_deref())?,
    };
    state.access_reviews.require(&caller, Access::new("list", "sessions", &ns)).await?;
    Ok(Json(sessions::list(state.database()?, &ns, &filters, limit, query.cursor.as_deref()).await?))
}

/// Starts an ad-hoc chat session with an agent (kept in PostgreSQL only). Needs `create sessions`.
#[utoipa::path(post, path = paths::SESSIONS, tag = "sessions",
    params(("ns" = String, Path, description = "Namespace")),
    request_body = SessionCreate,
    responses((status = 201, body = SessionSummary), Failures))]
pub(crate) async fn create_session(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ns): Path<String>,
    BoundedJson(body): BoundedJson<SessionCreate>,
) -> Result<(StatusCode, Json<SessionSummary>), ApiError> {
    object_name("namespace", &ns)?;
    object_name("agent", &body.agent)?;
    if body.title.as_ref().is_some_and(|t| t.len() > MAX_TITLE_BYTES) {
        return Err(ApiError::bad_field("title", format!("title must be at most {MAX_TITLE_BYTES} bytes")));
    }
    state.access_reviews.require(&caller, Access::new("create", "sessions", &ns)).await?;
    // A chat with an Agent that does not exist would only fail at its first message.
    crate::agent_directory::get(&state, &ns, &body.agent).await?;
    let created = sessions::create_adhoc(state.database()?, &ns, &body.agent, body.title.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One session. Needs `get sessions`.
#[utoipa::path(get, path = paths::SESSION, tag = "sessions",
    params(("ns" = String, Path, description = "Namespace"), ("session_id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionSummary), Failures))]
pub(crate) async fn get_session(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, session_id)): Path<(String, String)>,
) -> Result<Json<SessionSummary>, ApiError> {
    object_name("namespace", &ns)?;
    identifier("sessionId", &session_id)?;
    state.access_reviews.require(&caller, Access::new("get", "sessions", &ns)).await?;
    Ok(Json(sessions::get(state.database()?, &ns, &session_id).await?))
}

/// Ends an ad-hoc session; it takes no more messages. Needs `update sessions`.
#[utoipa::path(post, path = paths::SESSION_END, tag = "sessions",
    params(("ns" = String, Path, description = "Namespace"), ("session_id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionSummary),
        (status = 409, description = "Ended already, or a declared Session", body = agentry_api_contract::ApiErrorBody),
        Failures))]
pub(crate) async fn end_session(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, session_id)): Path<(String, String)>,
) -> Result<Json<SessionSummary>, ApiError> {
    object_name("namespace", &ns)?;
    identifier("sessionId", &session_id)?;
    state.access_reviews.require(&caller, Access::new("update", "sessions", &ns)).await?;
    Ok(Json(sessions::end(state.database()?, &ns, &session_id).await?))
}

/// A session's messages, oldest first. Needs `get sessions`.
#[utoipa::path(get, path = paths::SESSION_MESSAGES, tag = "sessions",
    params(("ns" = String, Path, description = "Namespace"), ("session_id" = String, Path, description = "Session id"),
        MessageListQuery),
    responses((status = 200, body = MessageList), Failures))]
pub(crate) async fn list_messages(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, session_id)): Path<(String, String)>,
    Params(query): Params<MessageListQuery>,
) -> Result<Json<MessageList>, ApiError> {
    object_name("namespace", &ns)?;
    identifier("sessionId", &session_id)?;
    let limit = page_size(query.limit)?;
    state.access_reviews.require(&caller, Access::new("get", "sessions", &ns)).await?;
    let page =
        sessions::messages(state.database()?, &ns, &session_id, limit, query.cursor.as_deref()).await?;
    Ok(Json(page))
}
