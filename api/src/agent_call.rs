//! Asking an agent over NATS request-reply, as any caller outside the fleet does: a
//! `shutting_down` reply or no responder (a rollout between pods) is asked again within the
//! deadline, and every other outcome becomes an answer or an [`ApiError`] the caller can act on.

use std::time::Duration;

use agentry_api_contract::ApiErrorCode;
use agentry_api_contract::invoke::{InvokeResponse, ToolCallInfo, UsageSummary};
use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, ErrorCode, headers};
use async_nats::client::RequestErrorKind;
use async_nats::{HeaderMap, Request};
use tokio::time::Instant;

use crate::api_error::ApiError;

/// Pauses before asking again after `shutting_down` or no responder.
const RETRY_PAUSES: [Duration; 4] =
    [Duration::ZERO, Duration::from_millis(100), Duration::from_millis(300), Duration::from_millis(800)];

/// A new request id for a request the API makes.
pub(crate) fn new_request_id() -> String {
    format!("api-{}", uuid::Uuid::new_v4().simple())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

/// The subject tokens of `namespace` and `agent` (already checked as object names).
pub(crate) fn tokens(namespace: &str, agent: &str) -> Result<(SubjectToken, SubjectToken), ApiError> {
    let ns = SubjectToken::new(namespace).map_err(|e| ApiError::bad_field("namespace", e.to_string()))?;
    let agent = SubjectToken::new(agent).map_err(|e| ApiError::bad_field("agent", e.to_string()))?;
    Ok((ns, agent))
}

/// Sends `request` to `agent` and waits up to `timeout` for its answer.
pub(crate) async fn ask(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    mut request: AgentRequest,
    timeout: Duration,
) -> Result<InvokeResponse, ApiError> {
    let (ns, agent_token) = tokens(namespace, agent)?;
    let deadline = Instant::now() + timeout;
    request.deadline_ms = Some(now_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    let payload = bytes::Bytes::from(
        serde_json::to_vec(&request).map_err(|e| ApiError::new(ApiErrorCode::Internal, e.to_string()))?,
    );
    let subject = subjects::query(&ns, &agent_token);
    let too_late = || {
        ApiError::new(
            ApiErrorCode::Timeout,
            format!("agent {agent:?} did not answer within {}s", timeout.as_secs()),
        )
    };
    let mut last = None;
    for pause in RETRY_PAUSES {
        tokio::time::sleep_until(Instant::now() + pause).await;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let mut header_map = HeaderMap::new();
        // A value NATS cannot carry in a header (the body still has it) is left out, not a panic.
        if let Ok(value) = request.request_id.parse::<async_nats::HeaderValue>() {
            header_map.insert(headers::REQUEST_ID, value);
        }
        let outgoing = Request::new().payload(payload.clone()).headers(header_map).timeout(Some(remaining));
        match nats.send_request(subject.clone(), outgoing).await {
            Ok(message) => match decode_reply(agent, &message.payload)? {
                reply if reply.error.as_ref().is_some_and(|e| e.code == ErrorCode::ShuttingDown) => {
                    last = Some(ApiError::from_reply(agent, &reply));
                }
                reply => return reply_to_response(agent, reply, request.session_id.clone()),
            },
            Err(err) if err.kind() == RequestErrorKind::NoResponders => {
                last = Some(ApiError::new(
                    ApiErrorCode::Unavailable,
                    format!(
                        "agent {agent:?} has no ready replica to answer (is it Ready? `kubectl get agent {agent} -n {namespace}`)"
                    ),
                ));
            }
            Err(err) if err.kind() == RequestErrorKind::TimedOut => return Err(too_late()),
            Err(err) => return Err(ApiError::unavailable("NATS", &err)),
        }
    }
    Err(last.unwrap_or_else(too_late))
}

fn decode_reply(agent: &str, payload: &[u8]) -> Result<AgentReply, ApiError> {
    serde_json::from_slice(payload).map_err(|e| {
        ApiError::new(
            ApiErrorCode::AgentError,
            format!("agent {agent:?} answered with a malformed reply: {e}"),
        )
    })
}

/// The API's answer for `reply`: the output, or the agent's error mapped to a status.
pub(crate) fn reply_to_response(
    agent: &str,
    reply: AgentReply,
    session_id: Option<String>,
) -> Result<InvokeResponse, ApiError> {
    if reply.error.is_some() {
        return Err(ApiError::from_reply(agent, &reply));
    }
    Ok(InvokeResponse {
        request_id: reply.request_id,
        session_id,
        output: reply.output.unwrap_or_default(),
        model: reply.model,
        usage: UsageSummary {
            input_tokens: reply.usage.input_tokens,
            output_tokens: reply.usage.output_tokens,
            cost_usd: reply.usage.cost_usd,
        },
        tool_calls: reply
            .tool_calls
            .into_iter()
            .map(|c| ToolCallInfo { name: c.name, ok: c.ok, duration_ms: c.duration_ms })
            .collect(),
        message_count: reply.message_count,
    })
}

impl ApiError {
    /// The error an agent's failed reply becomes: the agent's code and words, under the status
    /// that tells the caller what to do (retry, fix the request, or look at the agent).
    pub(crate) fn from_reply(agent: &str, reply: &AgentReply) -> Self {
        let Some(error) = &reply.error else {
            return Self::new(ApiErrorCode::Internal, "the agent's reply carried no error");
        };
        let code = match error.code {
            ErrorCode::BadRequest => ApiErrorCode::BadRequest,
            ErrorCode::Busy | ErrorCode::ShuttingDown => ApiErrorCode::Unavailable,
            ErrorCode::Timeout => ApiErrorCode::Timeout,
            _ => ApiErrorCode::AgentError,
        };
        Self::new(code, format!("agent {agent:?} answered {}: {}", error.code.as_str(), error.message))
    }
}
