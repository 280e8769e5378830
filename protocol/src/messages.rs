//! Request, reply and notification bodies: JSON with camelCase names.

use serde::{Deserialize, Serialize};

use crate::conversation::{ChatTurn, history_problem};

/// The wire version these types speak; a request of another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

fn protocol_version() -> u32 {
    PROTOCOL_VERSION
}

/// A question or task for an agent, sent to its `query` subject.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentRequest {
    /// Wire version; 1.
    #[serde(default = "protocol_version")]
    pub version: u32,
    /// Caller-chosen id; the reply and every event carry it.
    pub request_id: String,
    /// The conversation this request belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Who asks: an agent's name, or a person or system outside. Informational: the runner
    /// takes the caller from the subject; an agent caller's `from` must name that agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The question or task, as text.
    pub input: String,
    /// Free-form data given with the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// Absolute deadline, milliseconds since the Unix epoch; past it the caller has given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// The agents this request has passed through, first caller first. An agent caller is added
    /// at the end by the runner when it is not already last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegation_path: Vec<String>,
    /// Bounds of this request on top of the agent's own (a Session's `limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RequestLimits>,
    /// Earlier turns of the conversation, oldest first; the agent reads them before `input`.
    /// Bounded: see [`history_problem`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<ChatTurn>,
    /// Asks the runner to publish [`StreamEvent`](crate::StreamEvent)s to the request's reply
    /// subject while it works, each with the [`STREAM_EVENT`](crate::headers::STREAM_EVENT)
    /// header; the reply is the message without it, last.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// Longest `requestId` accepted, in bytes: it travels in a header and in every event.
pub const MAX_REQUEST_ID_LEN: usize = 256;

/// What is wrong with `id` as a `requestId`, if anything: it must be 1 to
/// [`MAX_REQUEST_ID_LEN`] bytes with no control characters (it becomes a NATS header value,
/// which cannot hold a line break).
pub fn request_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("requestId must not be empty".into());
    }
    if id.len() > MAX_REQUEST_ID_LEN {
        return Some(format!("requestId must be at most {MAX_REQUEST_ID_LEN} bytes, not {}", id.len()));
    }
    id.chars()
        .find(|c| c.is_control())
        .map(|c| format!("requestId must not contain control characters such as line breaks (found {c:?})"))
}

/// `id` when it is a valid `requestId`, else the empty string: what a refusal may echo (an
/// invalid id can be megabytes long or hold a line break no header can carry).
pub fn echoable_request_id(id: &str) -> &str {
    if request_id_problem(id).is_none() { id } else { "" }
}

/// Bounds a caller sets on one request; the agent's own limits still hold.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestLimits {
    /// Model spend of this request after which it ends with `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Messages (input, model turns, tool results) after which it ends with `max_messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
}

impl AgentRequest {
    /// A version-1 request with just an id and input.
    pub fn new(request_id: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            request_id: request_id.into(),
            session_id: None,
            from: None,
            input: input.into(),
            context: None,
            deadline_ms: None,
            delegation_path: Vec::new(),
            limits: None,
            history: Vec::new(),
            stream: false,
        }
    }

    /// What is wrong with the request's `history`, if anything (the runner refuses such a
    /// request with `bad_request`). The message names the field.
    pub fn conversation_problem(&self) -> Option<String> {
        history_problem(&self.history)
    }
}

/// Tokens used and what they cost.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// USD, from the answering Models' pricing.
    pub cost_usd: f64,
}

impl Usage {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd += other.cost_usd;
    }
}

/// One tool call made while answering.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallSummary {
    /// The Tool's name.
    pub name: String,
    /// Whether it returned a result (false: refused arguments, error, timeout, rate limit).
    pub ok: bool,
    /// How long it took.
    pub duration_ms: u64,
}

/// Why a request was not answered.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was not valid JSON of the expected shape or version.
    BadRequest,
    /// The agent is at `maxConcurrentRequests`; retry later.
    Busy,
    /// The deadline or `timeoutSeconds` passed.
    Timeout,
    /// `maxTurns` model turns did not produce an answer.
    MaxTurns,
    /// The request's `limits.maxMessages` was reached before an answer.
    MaxMessages,
    /// The daily budget is spent.
    BudgetExceeded,
    /// Every model in the chain failed or has its circuit open.
    ModelUnavailable,
    /// The model refused the request (400, 401, 403): retrying will not help.
    ModelRejected,
    /// Delegation would revisit an agent already on the path.
    DelegationCycle,
    /// Delegation would exceed `maxDelegationDepth`.
    DelegationDepth,
    /// The agent is shutting down and takes no new requests.
    ShuttingDown,
    /// The request is larger than the agent accepts (`limits.maxRequestBytes`), or the answer is
    /// larger than NATS can carry back.
    TooLarge,
    /// The caller may not ask this agent (not in its `allowedAgents`), or the request claims to
    /// come from someone other than the caller its subject names.
    Forbidden,
    /// Anything else; the message says what.
    Internal,
}

impl ErrorCode {
    /// Whether trying the same request again later may succeed: what a task retries on.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Busy | Self::ModelUnavailable | Self::ShuttingDown | Self::Internal)
    }
}

impl ErrorCode {
    /// The code as it appears on the wire and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::MaxTurns => "max_turns",
            Self::MaxMessages => "max_messages",
            Self::BudgetExceeded => "budget_exceeded",
            Self::ModelUnavailable => "model_unavailable",
            Self::ModelRejected => "model_rejected",
            Self::DelegationCycle => "delegation_cycle",
            Self::DelegationDepth => "delegation_depth",
            Self::ShuttingDown => "shutting_down",
            Self::TooLarge => "too_large",
            Self::Forbidden => "forbidden",
            Self::Internal => "internal",
        }
    }
}

/// A reason a request was not answered, for programs (`code`) and people (`message`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ReplyError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened, for a person.
    pub message: String,
}

/// The answer to an [`AgentRequest`], published to the request's reply subject.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentReply {
    /// Wire version; 1.
    #[serde(default = "protocol_version")]
    pub version: u32,
    /// The request's id (empty when the request was too malformed to carry one).
    pub request_id: String,
    /// The answer, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Which Model answered (it differs from the first when a fallback was used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens and cost of the whole request, delegations excluded.
    #[serde(default)]
    pub usage: Usage,
    /// Tool calls made, in order of completion.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallSummary>,
    /// Messages the conversation held at the end: the input, each model turn, each tool result.
    #[serde(default)]
    pub message_count: u32,
    /// Why there is no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

impl AgentReply {
    /// A reply carrying only an error.
    pub fn failure(request_id: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            request_id: request_id.into(),
            output: None,
            model: None,
            usage: Usage::default(),
            tool_calls: Vec::new(),
            message_count: 0,
            error: Some(ReplyError { code, message: message.into() }),
        }
    }
}

/// A fire-and-forget message to an agent's `notify` subject or a namespace's broadcast.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Wire version; 1.
    #[serde(default = "protocol_version")]
    pub version: u32,
    /// Who sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What it is about, e.g. `config-changed` or `budget-warning`.
    pub topic: String,
    /// Free-form content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_shape_is_camel_case_and_minimal() {
        let request = AgentRequest::new("r-1", "hello");
        let json = serde_json::to_value(&request).expect("serializes");
        assert_eq!(json, serde_json::json!({"version": 1, "requestId": "r-1", "input": "hello"}));
        let parsed: AgentRequest =
            serde_json::from_str(r#"{"requestId":"r-2","input":"x","delegationPath":["a"],"deadlineMs":5}"#)
                .expect("parses");
        assert_eq!(parsed.version, 1);
        assert_eq!(parsed.delegation_path, ["a"]);
        assert_eq!(parsed.deadline_ms, Some(5));
    }

    #[test]
    fn history_and_stream_are_optional_and_checked() {
        let parsed: AgentRequest = serde_json::from_str(
            r#"{"requestId":"r","input":"x","history":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .expect("parses");
        assert_eq!(parsed.history, [ChatTurn::user("hi")]);
        assert!(parsed.stream);
        assert_eq!(parsed.conversation_problem(), None);
        let empty = AgentRequest { history: vec![ChatTurn::user("")], ..parsed };
        assert!(empty.conversation_problem().is_some_and(|m| m.contains("history")));
        let plain = serde_json::to_value(AgentRequest::new("r", "x")).expect("json");
        assert_eq!(plain.get("stream"), None, "false is left out");
    }

    #[test]
    fn request_ids_fit_in_a_header() {
        assert_eq!(request_id_problem("r-1"), None);
        assert_eq!(request_id_problem("").as_deref(), Some("requestId must not be empty"));
        let message = request_id_problem("a\nb").expect("a line break is refused");
        assert!(message.contains("control characters") && message.contains("'\\n'"), "{message}");
        assert!(request_id_problem(&"x".repeat(MAX_REQUEST_ID_LEN + 1)).is_some());
        assert_eq!(request_id_problem(&"x".repeat(MAX_REQUEST_ID_LEN)), None);
        assert_eq!(echoable_request_id("r-1"), "r-1");
        assert_eq!(echoable_request_id("a\nb"), "");
        assert_eq!(echoable_request_id(&"x".repeat(MAX_REQUEST_ID_LEN + 1)), "");
    }

    #[test]
    fn error_reply_wire_shape() {
        let reply = AgentReply::failure("r-1", ErrorCode::Busy, "at capacity");
        let json = serde_json::to_value(&reply).expect("serializes");
        assert_eq!(json["error"], serde_json::json!({"code": "busy", "message": "at capacity"}));
        assert_eq!(json["usage"]["inputTokens"], 0);
        assert_eq!(serde_json::to_value(ErrorCode::DelegationCycle).expect("code"), "delegation_cycle");
        assert_eq!(ErrorCode::ModelUnavailable.as_str(), "model_unavailable");
    }
}
