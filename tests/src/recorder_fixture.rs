//! What the recorder's tests and benchmark share: an events stream of their own on the shared
//! NATS server, a PostgreSQL schema of their own, and events to publish.
//!
//! Both are removed when dropped (from a thread with its own runtime, since drops run inside the
//! test's), panics included.

use std::time::Duration;

use agentry_protocol::events::{
    Event, EventBody, InteractionEvent, MessageEvent, MessageRole, ModelCallEvent, ToolCallEvent,
};
use agentry_protocol::{ErrorCode, Usage};
use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::nats_fixture;

/// Publications awaited together.
const PUBLISH_WINDOW: usize = 1_000;

/// The shared test PostgreSQL: `AGENTRY_TEST_DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("AGENTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A schema name no other test uses; [`ScratchSchema`] drops it.
pub fn unique_schema() -> String {
    format!("agentry_rec_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A schema dropped (with everything in it) when this is dropped.
pub struct ScratchSchema {
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl ScratchSchema {
    /// A fresh name on the database of `admin_url` (the schema itself is created by whoever
    /// migrates it).
    pub fn new(admin_url: &str) -> Self {
        Self { name: unique_schema(), admin_url: admin_url.to_string() }
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let (schema, url) = (self.name.clone(), self.admin_url.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                sqlx::query(AssertSqlSafe(drop)).execute(&mut conn).await.ok()?;
                conn.close().await.ok()
            })
        });
        if !matches!(cleanup.join(), Ok(Some(()))) {
            eprintln!("schema {} could not be dropped", self.name);
        }
    }
}

/// An events stream of a test's own: `AGENTRY_EVENTS_<id>` on `<id>.agentry.*.events.>`.
pub struct EventsStream {
    /// The stream's name.
    pub name: String,
    /// The subjects it captures.
    pub subjects: String,
    prefix: String,
    js: jetstream::Context,
}

impl EventsStream {
    /// Creates the stream on the shared NATS server, with the runner's settings but a short
    /// `max_age`, so what a crashed test leaves behind expires.
    pub async fn create() -> Result<Self, String> {
        let client = nats_fixture::connect().await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = id[..12].to_string();
        let name = format!("AGENTRY_EVENTS_{prefix}");
        let subjects = format!("{prefix}.agentry.*.events.>");
        let js = jetstream::new(client);
        js.create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subjects.clone()],
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(3600),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("creating stream {name}: {e}"))?;
        Ok(Self { name, subjects, prefix, js })
    }

    /// The subject `event` is published on, as the runner (or, for a `session` event, the
    /// operator) would, with this stream's prefix.
    pub fn subject(&self, event: &Event) -> String {
        match event.body {
            EventBody::Session(_) => format!("{}.agentry.{}.events.session", self.prefix, event.namespace),
            _ => self.agent_subject(event, &event.agent),
        }
    }

    /// The subject of `event`'s kind under `agent`'s name, whoever the event names.
    pub fn agent_subject(&self, event: &Event, agent: &str) -> String {
        format!("{}.agentry.{}.events.{agent}.{}", self.prefix, event.namespace, event.body.kind())
    }

    /// Publishes `event` on `subject` as-is; returns once JetStream has stored it.
    pub async fn publish_on(&self, subject: String, event: &Event) -> Result<(), String> {
        let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let ack = self.js.publish(subject, payload.into()).await.map_err(|e| e.to_string())?;
        ack.await.map(|_| ()).map_err(|e| format!("event not stored: {e}"))
    }

    /// Publishes `events` with their id as `Nats-Msg-Id` (as the runner does); returns once
    /// JetStream has stored them all.
    pub async fn publish(&self, events: &[Event]) -> Result<(), String> {
        self.publish_with(events, true).await
    }

    /// Publishes `events` without `Nats-Msg-Id`: JetStream stores every publication, so an event
    /// published twice this way is two messages with one event id.
    pub async fn publish_undeduplicated(&self, events: &[Event]) -> Result<(), String> {
        self.publish_with(events, false).await
    }

    async fn publish_with(&self, events: &[Event], message_id: bool) -> Result<(), String> {
        for window in events.chunks(PUBLISH_WINDOW) {
            let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(window.len());
            for event in window {
                let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
                let mut message = jetstream::message::PublishMessage::build().payload(payload.into());
                if message_id {
                    message = message.message_id(&event.id);
                }
                acks.push(
                    self.js.send_publish(self.subject(event), message).await.map_err(|e| e.to_string())?,
                );
            }
            for ack in acks {
                ack.await.map_err(|e| format!("event not stored: {e}"))?;
            }
        }
        Ok(())
    }

    /// Publishes raw bytes on an event subject of this stream.
    pub async fn publish_raw(&self, namespace: &str, payload: Vec<u8>) -> Result<(), String> {
        let subject = format!("{}.agentry.{namespace}.events.garbage.interaction", self.prefix);
        let ack = self.js.publish(subject, payload.into()).await.map_err(|e| e.to_string())?;
        ack.await.map(|_| ()).map_err(|e| format!("message not stored: {e}"))
    }

    /// The stream's JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }
}

impl Drop for EventsStream {
    fn drop(&mut self) {
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let client = nats_fixture::connect().await.ok()?;
                jetstream::new(client).delete_stream(&name).await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// An event of `agent` in `namespace` with a fresh id, the current time and `body`.
pub fn event(
    namespace: &str,
    agent: &str,
    request_id: &str,
    session_id: Option<&str>,
    body: EventBody,
) -> Event {
    Event {
        id: uuid::Uuid::new_v4().to_string(),
        time_ms: now_ms(),
        namespace: namespace.to_string(),
        agent: agent.to_string(),
        request_id: request_id.to_string(),
        session_id: session_id.map(str::to_string),
        body,
    }
}

/// An answered request from `from` to `to`, with usage 100/20 tokens and 0.001 USD.
pub fn interaction(from: &str, to: &str, query: &str) -> EventBody {
    EventBody::Interaction(InteractionEvent {
        from_agent: Some(from.to_string()),
        to_agent: to.to_string(),
        query: query.to_string(),
        response: Some(format!("answer to {query}")),
        error: None,
        latency_ms: 42,
        model: Some("gpt-test".to_string()),
        usage: Usage { input_tokens: 100, output_tokens: 20, cost_usd: 0.001 },
        delegation_depth: 0,
    })
}

/// A request that timed out.
pub fn failed_interaction(from: &str, to: &str, query: &str, depth: u32) -> EventBody {
    EventBody::Interaction(InteractionEvent {
        from_agent: Some(from.to_string()),
        to_agent: to.to_string(),
        query: query.to_string(),
        response: None,
        error: Some(ErrorCode::Timeout),
        latency_ms: 30_000,
        model: None,
        usage: Usage::default(),
        delegation_depth: depth,
    })
}

/// A message; assistant messages carry usage 10/5 tokens and 0.0002 USD.
pub fn message(role: MessageRole, content: &str) -> EventBody {
    let usage = (role == MessageRole::Assistant).then_some(Usage {
        input_tokens: 10,
        output_tokens: 5,
        cost_usd: 0.0002,
    });
    EventBody::Message(MessageEvent { role, content: content.to_string(), tool_name: None, usage })
}

/// A tool call with `arguments`.
pub fn tool_call(tool: &str, arguments: serde_json::Value, ok: bool) -> EventBody {
    EventBody::ToolCall(ToolCallEvent {
        tool: tool.to_string(),
        arguments,
        ok,
        error: (!ok).then(|| "HTTP 500".to_string()),
        duration_ms: 7,
    })
}

/// A model call using `input`/`output` tokens at `cost` USD.
pub fn model_call(model: &str, input: u64, output: u64, cost: f64) -> EventBody {
    EventBody::ModelCall(ModelCallEvent {
        model: model.to_string(),
        provider: "openai-compatible".to_string(),
        ok: true,
        error: None,
        latency_ms: 120,
        attempts: 2,
        usage: Usage { input_tokens: input, output_tokens: output, cost_usd: cost },
    })
}

/// `n` interactions of `agent` with distinct request ids, as a busy fleet would publish them.
pub fn interactions(namespace: &str, agent: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let request = format!("req-{}", uuid::Uuid::new_v4().simple());
            let body = interaction(
                "caller",
                agent,
                &format!("question {i}: what is the budget for Q{}?", i % 4 + 1),
            );
            event(namespace, agent, &request, None, body)
        })
        .collect()
}
