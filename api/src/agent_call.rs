//! Asking an agent over NATS request-reply, as any caller outside the fleet does, on the agent's
//! query subject for the API's own identity (`_api`): a `shutting_down` reply or no responder (a
//! rollout between pods) is asked again within the deadline, and every other outcome becomes an
//! answer or an [`ApiError`] the caller can act on. A streamed request's progress comes on its
//! reply subject too, before the reply, each event marked with the `stream-event` header.

use std::time::Duration;

use agentry_api_contract::ApiErrorCode;
use agentry_api_contract::invoke::{InvokeResponse, ToolCallInfo, UsageSummary};
use agentry_protocol::subjects::{self, Caller, PlatformIdentity, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, ErrorCode, StreamEvent, headers};
use async_nats::client::RequestErrorKind;
use async_nats::{HeaderMap, Request, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
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

/// The API's identity on the bus: the caller token of every query it sends.
const CALLER: Caller = Caller::Platform(PlatformIdentity::Api);

/// Sends `request` to `agent` and waits up to `timeout` for its answer.
pub(crate) async fn ask(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    request: AgentRequest,
    timeout: Duration,
) -> Result<InvokeResponse, ApiError> {
    ask_with(nats, namespace, agent, request, timeout, None).await
}

/// [`ask`] with `stream` set: the agent's progress goes to `events` as it comes, before the
/// answer. Ends early, as if unanswered, when `events` is closed (the reader has gone).
pub(crate) async fn ask_streaming(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    mut request: AgentRequest,
    timeout: Duration,
    events: &mpsc::Sender<StreamEvent>,
) -> Result<InvokeResponse, ApiError> {
    request.stream = true;
    ask_with(nats, namespace, agent, request, timeout, Some(events)).await
}

async fn ask_with(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    mut request: AgentRequest,
    timeout: Duration,
    events: Option<&mpsc::Sender<StreamEvent>>,
) -> Result<InvokeResponse, ApiError> {
    let (ns, agent_token) = tokens(namespace, agent)?;
    let deadline = Instant::now() + timeout;
    request.deadline_ms = Some(now_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    let payload = bytes::Bytes::from(
        serde_json::to_vec(&request).map_err(|e| ApiError::new(ApiErrorCode::Internal, e.to_string()))?,
    );
    let subject = subjects::query(&ns, &agent_token, &CALLER);
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
        let answered = attempt(nats, &subject, payload.clone(), header_map, remaining, events).await;
        match answered {
            Ok(reply) => match decode_reply(agent, &reply)? {
                reply if reply.error.as_ref().is_some_and(|e| e.code == ErrorCode::ShuttingDown) => {
                    last = Some(ApiError::from_reply(agent, &reply));
                }
                reply => return reply_to_response(agent, reply, request.session_id.clone()),
            },
            Err(Unanswered::NoResponders) => {
                last = Some(ApiError::new(
                    ApiErrorCode::Unavailable,
                    format!(
                        "agent {agent:?} has no ready replica to answer (is it Ready? `kubectl get agent {agent} -n {namespace}`)"
                    ),
                ));
            }
            Err(Unanswered::TimedOut) => return Err(too_late()),
            Err(Unanswered::Failed(err)) => return Err(ApiError::unavailable("NATS", &err)),
        }
    }
    Err(last.unwrap_or_else(too_late))
}

/// Why one attempt got no reply.
enum Unanswered {
    /// No replica is subscribed.
    NoResponders,
    /// None answered in time.
    TimedOut,
    /// NATS failed (or, streaming, the reader went away).
    Failed(String),
}

impl Unanswered {
    fn of(err: async_nats::RequestError) -> Self {
        match err.kind() {
            RequestErrorKind::NoResponders => Self::NoResponders,
            RequestErrorKind::TimedOut => Self::TimedOut,
            _ => Self::Failed(err.to_string()),
        }
    }
}

/// One attempt: a plain request-reply (the fast path), or a streamed one when `events` is given.
async fn attempt(
    nats: &async_nats::Client,
    subject: &str,
    payload: Bytes,
    header_map: HeaderMap,
    remaining: Duration,
    events: Option<&mpsc::Sender<StreamEvent>>,
) -> Result<Bytes, Unanswered> {
    match events {
        None => {
            let outgoing = Request::new().payload(payload).headers(header_map).timeout(Some(remaining));
            nats.send_request(subject.to_string(), outgoing).await.map(|m| m.payload).map_err(Unanswered::of)
        }
        Some(events) => streamed(nats, subject, payload, header_map, remaining, events).await,
    }
}

/// One streamed attempt: subscribes a fresh inbox (so nothing of an earlier attempt arrives),
/// publishes the request with it as the reply subject, and forwards stream events until the
/// reply (the message without the `stream-event` header) comes.
async fn streamed(
    nats: &async_nats::Client,
    subject: &str,
    payload: Bytes,
    header_map: HeaderMap,
    remaining: Duration,
    events: &mpsc::Sender<StreamEvent>,
) -> Result<Bytes, Unanswered> {
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(inbox.clone()).await.map_err(|e| Unanswered::Failed(e.to_string()))?;
    let receive = async {
        nats.publish_with_reply_and_headers(subject.to_string(), inbox, header_map, payload)
            .await
            .map_err(|e| Unanswered::Failed(e.to_string()))?;
        while let Some(message) = replies.next().await {
            if message.status == Some(StatusCode::NO_RESPONDERS) {
                return Err(Unanswered::NoResponders);
            }
            let is_event = message.headers.as_ref().is_some_and(|h| h.get(headers::STREAM_EVENT).is_some());
            if !is_event {
                return Ok(message.payload);
            }
            // Progress is best-effort: a malformed event is skipped.
            if let Ok(event) = serde_json::from_slice::<StreamEvent>(&message.payload)
                && events.send(event).await.is_err()
            {
                return Err(Unanswered::Failed("the stream's reader has gone".into()));
            }
        }
        Err(Unanswered::Failed("the reply subscription ended".into()))
    };
    let outcome = tokio::time::timeout(remaining, receive).await.unwrap_or(Err(Unanswered::TimedOut));
    let _ = replies.unsubscribe().await;
    outcome
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
