//! Decoded events laid out as one array per column and table: what `record_batch.sql` unnests.

use agentry_protocol::events::{
    Event, EventBody, InteractionEvent, MessageEvent, MessageRole, ModelCallEvent, SessionEvent,
    ToolCallEvent,
};
use serde_json::Value;

/// The columns every event has.
#[derive(Default, Debug)]
pub(crate) struct Envelope {
    pub(crate) event_id: Vec<String>,
    pub(crate) session_id: Vec<Option<String>>,
    pub(crate) request_id: Vec<String>,
    pub(crate) namespace: Vec<String>,
    pub(crate) agent: Vec<String>,
    pub(crate) time_ms: Vec<i64>,
}

/// An event without its body.
struct Head {
    id: String,
    time_ms: u64,
    namespace: String,
    agent: String,
    request_id: String,
    session_id: Option<String>,
}

impl Envelope {
    fn push(&mut self, head: Head) {
        self.event_id.push(head.id);
        self.session_id.push(head.session_id);
        self.request_id.push(head.request_id);
        self.namespace.push(head.namespace);
        self.agent.push(head.agent);
        self.time_ms.push(saturating(head.time_ms));
    }

    pub(crate) fn len(&self) -> usize {
        self.event_id.len()
    }
}

/// `interactions` columns besides the envelope.
#[derive(Default, Debug)]
pub(crate) struct Interactions {
    pub(crate) envelope: Envelope,
    pub(crate) parent_request_id: Vec<Option<String>>,
    pub(crate) from_agent: Vec<Option<String>>,
    pub(crate) to_agent: Vec<String>,
    pub(crate) outcome: Vec<&'static str>,
    pub(crate) error: Vec<Option<&'static str>>,
    pub(crate) query: Vec<String>,
    pub(crate) response: Vec<Option<String>>,
    pub(crate) latency_ms: Vec<i64>,
    pub(crate) model: Vec<Option<String>>,
    pub(crate) input_tokens: Vec<i64>,
    pub(crate) output_tokens: Vec<i64>,
    pub(crate) cost_usd: Vec<f64>,
    pub(crate) delegation_depth: Vec<i32>,
}

/// `messages` columns besides the envelope.
#[derive(Default, Debug)]
pub(crate) struct Messages {
    pub(crate) envelope: Envelope,
    pub(crate) role: Vec<&'static str>,
    pub(crate) content: Vec<String>,
    pub(crate) tool_name: Vec<Option<String>>,
    pub(crate) input_tokens: Vec<Option<i64>>,
    pub(crate) output_tokens: Vec<Option<i64>>,
    pub(crate) cost_usd: Vec<Option<f64>>,
}

/// `tool_calls` columns besides the envelope.
#[derive(Default, Debug)]
pub(crate) struct ToolCalls {
    pub(crate) envelope: Envelope,
    pub(crate) tool: Vec<String>,
    pub(crate) arguments: Vec<Value>,
    pub(crate) ok: Vec<bool>,
    pub(crate) error: Vec<Option<String>>,
    pub(crate) duration_ms: Vec<i64>,
}

/// `model_calls` columns besides the envelope.
#[derive(Default, Debug)]
pub(crate) struct ModelCalls {
    pub(crate) envelope: Envelope,
    pub(crate) model: Vec<String>,
    pub(crate) provider: Vec<String>,
    pub(crate) ok: Vec<bool>,
    pub(crate) error: Vec<Option<String>>,
    pub(crate) latency_ms: Vec<i64>,
    pub(crate) attempts: Vec<i32>,
    pub(crate) input_tokens: Vec<i64>,
    pub(crate) output_tokens: Vec<i64>,
    pub(crate) cost_usd: Vec<f64>,
}

/// `session_events` columns besides the envelope (whose `session_id` is always there: decoding
/// refuses a session event without one).
#[derive(Default, Debug)]
pub(crate) struct SessionEvents {
    pub(crate) envelope: Envelope,
    pub(crate) session_type: Vec<String>,
    pub(crate) phase: Vec<String>,
}

/// A batch of events, by table.
#[derive(Default, Debug)]
pub(crate) struct EventRows {
    pub(crate) interactions: Interactions,
    pub(crate) messages: Messages,
    pub(crate) tool_calls: ToolCalls,
    pub(crate) model_calls: ModelCalls,
    pub(crate) session_events: SessionEvents,
}

impl EventRows {
    /// The rows of `events`.
    pub(crate) fn of(events: impl IntoIterator<Item = Event>) -> Self {
        let mut rows = Self::default();
        events.into_iter().for_each(|event| rows.push(event));
        rows
    }

    /// Adds one event to its table's columns.
    pub(crate) fn push(&mut self, event: Event) {
        let Event { id, time_ms, namespace, agent, request_id, session_id, body } = event;
        let head = Head { id, time_ms, namespace, agent, request_id, session_id };
        match body {
            EventBody::Interaction(body) => self.push_interaction(head, body),
            EventBody::Message(body) => self.push_message(head, body),
            EventBody::ToolCall(body) => self.push_tool_call(head, body),
            EventBody::ModelCall(body) => self.push_model_call(head, body),
            EventBody::Session(body) => self.push_session_event(head, body),
        }
    }

    /// Events in the batch.
    pub(crate) fn len(&self) -> usize {
        self.interactions.envelope.len()
            + self.messages.envelope.len()
            + self.tool_calls.envelope.len()
            + self.model_calls.envelope.len()
            + self.session_events.envelope.len()
    }

    fn push_interaction(&mut self, head: Head, body: InteractionEvent) {
        let t = &mut self.interactions;
        // A delegated request's id is `<parent request id>.<suffix>` (agent-runner's delegation).
        let parent = (body.delegation_depth > 0)
            .then(|| head.request_id.rsplit_once('.').map(|(parent, _)| parent.to_string()))
            .flatten();
        t.envelope.push(head);
        t.parent_request_id.push(parent);
        t.from_agent.push(body.from_agent);
        t.to_agent.push(body.to_agent);
        t.outcome.push(body.error.map_or("ok", |code| code.as_str()));
        t.error.push(body.error.map(|code| code.as_str()));
        t.query.push(body.query);
        t.response.push(body.response);
        t.latency_ms.push(saturating(body.latency_ms));
        t.model.push(body.model);
        t.input_tokens.push(saturating(body.usage.input_tokens));
        t.output_tokens.push(saturating(body.usage.output_tokens));
        t.cost_usd.push(body.usage.cost_usd);
        t.delegation_depth.push(i32::try_from(body.delegation_depth).unwrap_or(i32::MAX));
    }

    fn push_message(&mut self, head: Head, body: MessageEvent) {
        let t = &mut self.messages;
        t.envelope.push(head);
        t.role.push(match body.role {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        });
        t.content.push(body.content);
        t.tool_name.push(body.tool_name);
        t.input_tokens.push(body.usage.map(|u| saturating(u.input_tokens)));
        t.output_tokens.push(body.usage.map(|u| saturating(u.output_tokens)));
        t.cost_usd.push(body.usage.map(|u| u.cost_usd));
    }

    fn push_tool_call(&mut self, head: Head, body: ToolCallEvent) {
        let t = &mut self.tool_calls;
        t.envelope.push(head);
        t.tool.push(body.tool);
        t.arguments.push(body.arguments);
        t.ok.push(body.ok);
        t.error.push(body.error);
        t.duration_ms.push(saturating(body.duration_ms));
    }

    fn push_model_call(&mut self, head: Head, body: ModelCallEvent) {
        let t = &mut self.model_calls;
        t.envelope.push(head);
        t.model.push(body.model);
        t.provider.push(body.provider);
        t.ok.push(body.ok);
        t.error.push(body.error);
        t.latency_ms.push(saturating(body.latency_ms));
        t.attempts.push(i32::try_from(body.attempts).unwrap_or(i32::MAX));
        t.input_tokens.push(saturating(body.usage.input_tokens));
        t.output_tokens.push(saturating(body.usage.output_tokens));
        t.cost_usd.push(body.usage.cost_usd);
    }
}

impl EventRows {
    fn push_session_event(&mut self, head: Head, body: SessionEvent) {
        let t = &mut self.session_events;
        t.envelope.push(head);
        t.session_type.push(body.session_type);
        t.phase.push(body.phase);
    }
}

/// A `u64` as PostgreSQL's `bigint`: values past its range (no real count or duration) are capped.
fn saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use agentry_protocol::{ErrorCode, Usage};

    use super::*;

    fn interaction(request_id: &str, depth: u32) -> Event {
        Event {
            id: format!("e-{request_id}"),
            time_ms: u64::MAX,
            namespace: "ns".into(),
            agent: "b".into(),
            request_id: request_id.into(),
            session_id: Some("s".into()),
            body: EventBody::Interaction(InteractionEvent {
                from_agent: Some("a".into()),
                to_agent: "b".into(),
                query: "q".into(),
                response: None,
                error: Some(ErrorCode::Timeout),
                latency_ms: 5,
                model: None,
                usage: Usage { input_tokens: 1, output_tokens: u64::MAX, cost_usd: 0.5 },
                delegation_depth: depth,
            }),
        }
    }

    #[test]
    fn interactions_become_columns_with_their_parent_request() {
        let rows = EventRows::of([interaction("r.1.x", 1), interaction("r.2", 0)]);
        let t = &rows.interactions;
        assert_eq!(rows.len(), 2);
        assert_eq!(t.envelope.event_id, ["e-r.1.x", "e-r.2"]);
        assert_eq!(t.parent_request_id, [Some("r.1".to_string()), None], "depth 0 has no parent");
        assert_eq!(t.outcome, ["timeout", "timeout"]);
        assert_eq!(t.error, [Some("timeout"), Some("timeout")]);
        assert_eq!(t.output_tokens, [i64::MAX, i64::MAX], "capped, not wrapped");
        assert_eq!(t.envelope.time_ms[0], i64::MAX);
        assert_eq!(t.envelope.session_id[0].as_deref(), Some("s"));
    }
}
