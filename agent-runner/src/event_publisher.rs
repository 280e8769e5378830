//! Publishes events to the `AGENTRY_EVENTS` JetStream stream without ever holding up a reply.
//!
//! Events go into a bounded buffer that a background task drains into JetStream, retrying with
//! backoff while JetStream is unavailable. When the buffer is full an event is dropped, counted
//! in `agentry_events_dropped_total` and logged: never silently, never by blocking the request.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::events::{Event, EventBody};
use agentry_protocol::subjects::{self, EVENTS_STREAM, EVENTS_STREAM_SUBJECTS, SubjectToken};
use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use tokio::sync::mpsc;

use crate::metrics::RunnerMetrics;

/// Events published in flight before their acknowledgements are awaited.
const ACK_WINDOW: usize = 256;
/// Longest pause between attempts while JetStream is unavailable.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Creates the events stream when it does not exist yet (the recorder or a previous runner may
/// have created it already, with its own retention settings; those are kept).
pub async fn ensure_events_stream(
    js: &jetstream::Context,
) -> Result<(), jetstream::context::CreateStreamError> {
    js.get_or_create_stream(stream::Config {
        name: EVENTS_STREAM.to_string(),
        subjects: vec![EVENTS_STREAM_SUBJECTS.to_string()],
        duplicate_window: Duration::from_secs(120),
        max_age: Duration::from_secs(7 * 24 * 3600),
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EventPublisher {
    tx: mpsc::Sender<Event>,
    namespace: Arc<str>,
    agent: Arc<str>,
    metrics: Arc<RunnerMetrics>,
}

impl EventPublisher {
    /// Starts the background task publishing to `js`; it ends once every sender is dropped and
    /// the buffer is drained.
    pub fn start(
        js: jetstream::Context,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        buffer: usize,
        metrics: Arc<RunnerMetrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let task = tokio::spawn(drain(js, rx, namespace.clone(), agent.clone(), metrics.clone()));
        let publisher =
            Self { tx, namespace: namespace.as_str().into(), agent: agent.as_str().into(), metrics };
        (publisher, task)
    }

    /// Queues an event of this agent; drops it (counted, logged) when the buffer is full.
    pub fn emit(&self, request_id: &str, session_id: Option<&str>, body: EventBody) {
        let event = Event {
            id: uuid::Uuid::new_v4().to_string(),
            time_ms: now_ms(),
            namespace: self.namespace.to_string(),
            agent: self.agent.to_string(),
            request_id: request_id.to_string(),
            session_id: session_id.map(str::to_string),
            body,
        };
        if let Err(err) = self.tx.try_send(event) {
            self.metrics.events_dropped.inc();
            let dropped = self.metrics.events_dropped.get();
            // One line per power of two keeps a long outage from flooding the log.
            if dropped.is_power_of_two() {
                tracing::warn!(request_id, dropped, reason = %err, "event buffer full; dropping events");
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

async fn drain(
    js: jetstream::Context,
    mut rx: mpsc::Receiver<Event>,
    namespace: SubjectToken,
    agent: SubjectToken,
    metrics: Arc<RunnerMetrics>,
) {
    let mut batch = Vec::with_capacity(ACK_WINDOW);
    while rx.recv_many(&mut batch, ACK_WINDOW).await > 0 {
        let mut backoff = Duration::from_millis(100);
        // Publish the whole batch, then await the acknowledgements together: one round trip
        // per batch instead of per event. Unacknowledged events are published again (same
        // `Nats-Msg-Id`, so JetStream stores each once).
        loop {
            let mut acked = vec![false; batch.len()];
            let mut pending: Vec<(usize, PublishAckFuture)> = Vec::with_capacity(batch.len());
            for (i, event) in batch.iter().enumerate() {
                match publish(&js, &namespace, &agent, event).await {
                    Ok(ack) => pending.push((i, ack)),
                    Err(err) => tracing::debug!(error = %err, "event publish failed"),
                }
            }
            for (i, ack) in pending {
                match ack.await {
                    Ok(_) => acked[i] = true,
                    Err(err) => tracing::debug!(error = %err, "event not acknowledged"),
                }
            }
            let published = acked.iter().filter(|a| **a).count();
            metrics.events_published.inc_by(published as u64);
            if published == batch.len() {
                break;
            }
            metrics.events_failed.inc_by((batch.len() - published) as u64);
            batch = batch.drain(..).zip(acked).filter(|(_, acked)| !acked).map(|(e, _)| e).collect();
            tracing::warn!(
                waiting = batch.len(),
                retry_in_ms = backoff.as_millis() as u64,
                "JetStream unavailable; retrying events"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
        }
        batch.clear();
    }
}

async fn publish(
    js: &jetstream::Context,
    namespace: &SubjectToken,
    agent: &SubjectToken,
    event: &Event,
) -> Result<PublishAckFuture, async_nats::Error> {
    let payload = serde_json::to_vec(event)?;
    let subject = subjects::events(namespace, agent, event.body.kind());
    let message = jetstream::message::PublishMessage::build().payload(payload.into()).message_id(&event.id);
    Ok(js.send_publish(subject, message).await?)
}
