//! `POST …/sessions/{id}/messages`: the agent answers a chat message with the conversation so
//! far (read from the recorded history), and the answer is returned once it is recorded, so
//! the next message and `GET …/messages` see it.

use std::time::Duration;

use agentry_api_contract::ApiErrorCode;
use agentry_api_contract::paths;
use agentry_api_contract::sessions::{SessionMessagePost, SessionReply};
use agentry_history::sessions::{self, ACTIVE};
use agentry_protocol::AgentRequest;
use agentry_protocol::conversation::{ChatTurn, MAX_HISTORY_BYTES, MAX_HISTORY_TURNS};
use axum::Json;
use axum::extract::{Path, State};
use sqlx::PgPool;
use tracing::Instrument;

use crate::agent_call;
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::{identifier, input_text, object_name, timeout_seconds};
use crate::routes::failures::Failures;

/// How long the answer waits for the recorder to have written it.
const RECORDED_WITHIN: Duration = Duration::from_secs(5);

/// Sends a message to an active ad-hoc session. Needs `create sessions/messages`.
#[utoipa::path(post, path = paths::SESSION_MESSAGES, tag = "sessions",
    params(("ns" = String, Path, description = "Namespace"), ("session_id" = String, Path, description = "Session id")),
    request_body = SessionMessagePost,
    responses((status = 200, body = SessionReply),
        (status = 409, description = "The session has ended or is a declared Session", body = agentry_api_contract::ApiErrorBody),
        Failures))]
pub(crate) async fn post_message(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, session_id)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<SessionMessagePost>,
) -> Result<Json<SessionReply>, ApiError> {
    object_name("namespace", &ns)?;
    identifier("sessionId", &session_id)?;
    input_text("content", &body.content)?;
    let timeout = Duration::from_secs(u64::from(timeout_seconds(body.timeout_seconds)?));
    state.access_reviews.require(&caller, Access::new("create", "sessions/messages", &ns)).await?;
    let pool = state.database()?;
    let session = sessions::get(pool, &ns, &session_id).await?;
    if session.phase.as_deref() != Some(ACTIVE) {
        let phase = session.phase.as_deref().unwrap_or("declared");
        return Err(ApiError::new(
            ApiErrorCode::Conflict,
            format!("session {session_id:?} is {phase}: only an active ad-hoc chat session takes messages"),
        ));
    }
    let history = history(pool, &ns, &session_id).await?;
    let request = AgentRequest {
        session_id: Some(session_id.clone()),
        from: Some(caller.username.clone()),
        history,
        ..AgentRequest::new(agent_call::new_request_id(), body.content)
    };
    let span = tracing::info_span!("session_message", namespace = %ns, agent = %session.agent, request_id = %request.request_id);
    let answer = agent_call::ask(&state.nats, &ns, &session.agent, request, timeout).instrument(span).await?;
    wait_recorded(pool, &ns, &answer.request_id).await;
    Ok(Json(answer))
}

/// The conversation so far as the agent's history: the latest turns that fit, oldest first.
async fn history(pool: &PgPool, ns: &str, session_id: &str) -> Result<Vec<ChatTurn>, ApiError> {
    let max_exchanges = u32::try_from(MAX_HISTORY_TURNS / 2).unwrap_or(100);
    let turns = sessions::conversation(pool, ns, session_id, max_exchanges).await?;
    // An exchange the agent did not answer is left out: models expect a reply after each turn.
    let mut exchanges: Vec<[ChatTurn; 2]> = turns
        .into_iter()
        .filter_map(|turn| {
            turn.assistant.map(|answer| [ChatTurn::user(turn.user), ChatTurn::assistant(answer)])
        })
        .collect();
    // The oldest go first when the whole would not fit one request.
    let mut bytes: usize = exchanges.iter().flatten().map(|t| t.content.len()).sum();
    while bytes > MAX_HISTORY_BYTES && !exchanges.is_empty() {
        bytes -= exchanges.remove(0).iter().map(|t| t.content.len()).sum::<usize>();
    }
    Ok(exchanges.into_iter().flatten().collect())
}

/// Waits (briefly) until the recorder has written `request_id`'s interaction; past that the
/// answer is returned anyway and the history catches up a moment later.
async fn wait_recorded(pool: &PgPool, ns: &str, request_id: &str) {
    let deadline = tokio::time::Instant::now() + RECORDED_WITHIN;
    let mut pause = Duration::from_millis(10);
    while tokio::time::Instant::now() < deadline {
        if agentry_history::interactions::get(pool, ns, request_id).await.is_ok() {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
    tracing::warn!(request_id, "the answer is not recorded yet; the session's history will show it shortly");
}
