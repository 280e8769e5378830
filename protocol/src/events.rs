//! Events the runners publish to the `AGENTRY_EVENTS` JetStream stream; the recorder writes them
//! to PostgreSQL, idempotently by `id`.

use serde::{Deserialize, Serialize};

use crate::messages::{ErrorCode, Usage};

/// One event: an envelope naming where it came from, and its body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique id; also the JetStream `Nats-Msg-Id`, so a re-published event is stored once.
    pub id: String,
    /// When it happened, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Namespace of the agent that published it.
    pub namespace: String,
    /// The agent that published it.
    pub agent: String,
    /// The request it belongs to.
    pub request_id: String,
    /// The session it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// What an event records; `type` on the wire.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EventBody {
    /// A request answered (or not) by an agent.
    Interaction(InteractionEvent),
    /// A message added to the conversation.
    Message(MessageEvent),
    /// A tool call.
    ToolCall(ToolCallEvent),
    /// A model call.
    ModelCall(ModelCallEvent),
    /// A declared Session started or ended (published by the operator, not a runner).
    Session(SessionEvent),
}

impl EventBody {
    /// The body's kind, as used in the event's subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Interaction(_) => "interaction",
            Self::Message(_) => "message",
            Self::ToolCall(_) => "toolCall",
            Self::ModelCall(_) => "modelCall",
            Self::Session(_) => "session",
        }
    }
}

/// A request and its outcome.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InteractionEvent {
    /// The asking agent, or the outside caller's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_agent: Option<String>,
    /// The answering agent.
    pub to_agent: String,
    /// The question.
    pub query: String,
    /// The answer, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Why there is no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    /// Time from receipt to reply.
    pub latency_ms: u64,
    /// The Model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens and cost.
    pub usage: Usage,
    /// How deep in a delegation chain the request was.
    pub delegation_depth: u32,
}

/// Who wrote a message.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum MessageRole {
    /// The caller.
    User,
    /// The agent's model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// A message in the conversation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvent {
    /// Who wrote it.
    pub role: MessageRole,
    /// Its text.
    pub content: String,
    /// The tool whose result this is, for role tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Tokens and cost of producing it, for role assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// One tool call, for the audit trail.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallEvent {
    /// The Tool's name.
    pub tool: String,
    /// The arguments the model gave.
    pub arguments: serde_json::Value,
    /// Whether it returned a result.
    pub ok: bool,
    /// What went wrong, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// One call to a model provider (after its retries).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelCallEvent {
    /// The Model's name.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// Whether it answered.
    pub ok: bool,
    /// What went wrong, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, retries included.
    pub latency_ms: u64,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// Tokens and cost.
    pub usage: Usage,
}

/// A declared Session's lifecycle, as its phase changes: published by the operator on
/// [`crate::subjects::session_events`] when the Session starts and when it ends. The envelope's
/// `agent` is the Session's leading agent, its `sessionId` the Session's uid and its `requestId`
/// the same uid (a Session is one request from outside).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    /// `spec.type`: chat, task, automation, collaboration or analysis.
    pub session_type: String,
    /// `status.phase` it entered: Running, Succeeded, Failed or Expired.
    pub phase: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_wire_shape_is_flat_with_a_type() {
        let event = Event {
            id: "e-1".into(),
            time_ms: 7,
            namespace: "fleet".into(),
            agent: "finance-officer".into(),
            request_id: "r-1".into(),
            session_id: None,
            body: EventBody::ToolCall(ToolCallEvent {
                tool: "calculator".into(),
                arguments: serde_json::json!({"expression": "1+1"}),
                ok: true,
                error: None,
                duration_ms: 1,
            }),
        };
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], "toolCall");
        assert_eq!(json["tool"], "calculator");
        assert_eq!(json["requestId"], "r-1");
        let back: Event = serde_json::from_value(json).expect("parses");
        assert_eq!(back, event);
        assert_eq!(back.body.kind(), "toolCall");
    }

    #[test]
    fn session_events_carry_type_and_phase() {
        let json = serde_json::json!({
            "id": "session-u1-Running", "timeMs": 1, "namespace": "fleet", "agent": "planner",
            "requestId": "u1", "sessionId": "u1", "type": "session",
            "sessionType": "task", "phase": "Running"
        });
        let event: Event = serde_json::from_value(json.clone()).expect("parses");
        let EventBody::Session(body) = &event.body else { panic!("a session event: {event:?}") };
        assert_eq!((body.session_type.as_str(), body.phase.as_str()), ("task", "Running"));
        assert_eq!(serde_json::to_value(&event).expect("serializes"), json);
    }
}
