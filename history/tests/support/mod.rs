//! A history of a test's own: a fresh schema on the shared test PostgreSQL, migrated by the
//! recorder, written through the recorder's batch statement.

#![allow(dead_code, unreachable_pub)]

use agentry_protocol::Usage;
use agentry_protocol::events::{Event, EventBody, InteractionEvent, MessageEvent, MessageRole, SessionEvent};
use agentry_recorder::database;
use agentry_tests::recorder_fixture::{ScratchSchema, database_url};
use jiff::Timestamp;
use sqlx::PgPool;

/// A migrated schema and a pool on it.
pub struct History {
    pub pool: PgPool,
    pub schema: ScratchSchema,
}

impl History {
    pub async fn start() -> Self {
        let schema = ScratchSchema::new(&database_url());
        let options = database::parse_url(&database_url()).expect("database URL");
        let pool = database::pool(&options, &schema.name, 2).expect("pool");
        database::migrate(&pool, &schema.name).await.expect("migrations (run scripts/dev-services)");
        Self { pool, schema }
    }

    /// Writes `events` as one recorder batch; rows inserted.
    pub async fn write(&self, events: Vec<Event>) -> u64 {
        agentry_recorder::write_events(&self.pool, events).await.expect("batch written")
    }
}

/// `text` as a timestamp.
pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Milliseconds of `t`.
pub fn ms(t: Timestamp) -> u64 {
    u64::try_from(t.as_millisecond()).expect("after 1970")
}

/// An event with id `id`.
pub fn event(
    id: &str,
    time_ms: u64,
    ns: &str,
    agent: &str,
    request: &str,
    session: Option<&str>,
    body: EventBody,
) -> Event {
    Event {
        id: id.to_string(),
        time_ms,
        namespace: ns.to_string(),
        agent: agent.to_string(),
        request_id: request.to_string(),
        session_id: session.map(str::to_string),
        body,
    }
}

/// What an interaction looks like, besides who and when.
#[derive(Clone)]
pub struct Shape {
    pub from: Option<&'static str>,
    pub depth: u32,
    pub latency_ms: u64,
    pub failed: bool,
    pub tokens: (u64, u64),
    pub cost: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Self { from: Some("caller"), depth: 0, latency_ms: 100, failed: false, tokens: (10, 5), cost: 0.001 }
    }
}

/// An interaction event answered by `to`.
pub fn interaction(
    ns: &str,
    to: &str,
    request: &str,
    session: Option<&str>,
    time_ms: u64,
    shape: &Shape,
) -> Event {
    let body = EventBody::Interaction(InteractionEvent {
        from_agent: shape.from.map(str::to_string),
        to_agent: to.to_string(),
        query: format!("question of {request}"),
        response: (!shape.failed).then(|| format!("answer to {request}")),
        error: shape.failed.then_some(agentry_protocol::ErrorCode::Timeout),
        latency_ms: shape.latency_ms,
        model: Some("m".to_string()),
        usage: Usage { input_tokens: shape.tokens.0, output_tokens: shape.tokens.1, cost_usd: shape.cost },
        delegation_depth: shape.depth,
    });
    event(&format!("i-{request}"), time_ms, ns, to, request, session, body)
}

/// A message event.
pub fn message(
    ns: &str,
    agent: &str,
    request: &str,
    session: &str,
    time_ms: u64,
    role: MessageRole,
    text: &str,
) -> Event {
    let body =
        EventBody::Message(MessageEvent { role, content: text.to_string(), tool_name: None, usage: None });
    event(&format!("m-{request}-{time_ms}-{text}"), time_ms, ns, agent, request, Some(session), body)
}

/// A Session lifecycle event, as the operator publishes it.
pub fn session_event(ns: &str, agent: &str, session: &str, time_ms: u64, kind: &str, phase: &str) -> Event {
    let body = EventBody::Session(SessionEvent { session_type: kind.to_string(), phase: phase.to_string() });
    event(&format!("session-{session}-{phase}"), time_ms, ns, agent, session, Some(session), body)
}
