//! Publishes events to the `AGENTRY_EVENTS` JetStream stream without ever holding up a reply.
//!
//! Events go into a bounded buffer that a background task drains into JetStream, retrying with
//! backoff while JetStream is unavailable. When the buffer is full an event is dropped, counted
//! in `agentry_events_dropped_total` and logged: never silently, never by blocking the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentry_protocol::events::{Event, EventBody};
use agentry_protocol::subjects::{self, EVENTS_STREAM, EVENTS_STREAM_SUBJECTS, SubjectToken};
use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use tokio::sync::mpsc;

use crate::metrics::RunnerMetrics;

/// Events published in flight before their acknowledgements are awaited.
const ACK_WINDOW: usize = 256;
/// Bytes of events (roughly, their text) waiting for JetStream at most: with a 64 KiB cap per
/// text field, the count bound alone would let a JetStream outage hold hundreds of MiB.
pub const MAX_BUFFERED_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// Longest pause between attempts while JetStream is unavailable.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Creates the events stream when it does not exist yet (the recorder or a previous runner may
/// have created it already, with its own retention settings; those are kept).
async fn ensure_events_stream(js: &jetstream::Context) -> Result<(), jetstream::context::CreateStreamError> {
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
    /// Weight of the events queued or being published, shared with the draining task.
    buffered: Arc<AtomicUsize>,
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
        let buffered = Arc::new(AtomicUsize::new(0));
        let sink = Sink { namespace: namespace.clone(), agent: agent.clone(), metrics: metrics.clone() };
        let task = tokio::spawn(drain(js, rx, sink, buffered.clone()));
        let publisher = Self {
            tx,
            namespace: namespace.as_str().into(),
            agent: agent.as_str().into(),
            metrics,
            buffered,
        };
        (publisher, task)
    }

    /// Queues an event of this agent; drops it (counted, logged) when the buffer is full.
    pub fn emit(&self, request_id: &str, session_id: Option<&str>, body: EventBody) {
        let body = bounded(body);
        let event = Event {
            id: uuid::Uuid::new_v4().to_string(),
            time_ms: now_ms(),
            namespace: self.namespace.to_string(),
            agent: self.agent.to_string(),
            request_id: request_id.to_string(),
            session_id: session_id.map(str::to_string),
            body,
        };
        let weight = weight(&event);
        let before = self.buffered.fetch_add(weight, Ordering::AcqRel);
        let sent = if before + weight > MAX_BUFFERED_EVENT_BYTES {
            Err("the buffer's bytes are used up".to_string())
        } else {
            self.tx.try_send(event).map_err(|err| err.to_string())
        };
        if let Err(err) = sent {
            self.buffered.fetch_sub(weight, Ordering::AcqRel);
            self.metrics.events_dropped.inc();
            let dropped = self.metrics.events_dropped.get();
            // One line per power of two keeps a long outage from flooding the log.
            if dropped.is_power_of_two() {
                tracing::warn!(request_id, dropped, reason = %err, "event buffer full; dropping events");
            }
        }
    }
}

/// What an event counts against [`MAX_BUFFERED_EVENT_BYTES`]: its text fields plus the fixed
/// part of any event.
fn weight(event: &Event) -> usize {
    let text = match &event.body {
        EventBody::Interaction(e) => e.query.len() + e.response.as_ref().map_or(0, String::len),
        EventBody::Message(e) => e.content.len(),
        EventBody::ToolCall(e) => e.arguments.to_string().len() + e.error.as_ref().map_or(0, String::len),
        EventBody::ModelCall(e) => e.error.as_ref().map_or(0, String::len),
        EventBody::Session(_) => 0,
    };
    text + 512
}

/// Longest text kept in an event field: the full text is in the reply; events feed the audit
/// trail and must stay well under NATS's 1 MiB message limit.
const MAX_EVENT_TEXT: usize = 64 * 1024;

/// Cuts `text` to [`MAX_EVENT_TEXT`] bytes at a character boundary, saying how much was cut.
fn cap(text: &mut String) {
    if text.len() > MAX_EVENT_TEXT {
        let mut end = MAX_EVENT_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = text.len() - end;
        text.truncate(end);
        text.push_str(&format!("… [{cut} more bytes]"));
    }
}

/// The body with every free-text field capped.
fn bounded(mut body: EventBody) -> EventBody {
    match &mut body {
        EventBody::Interaction(e) => {
            cap(&mut e.query);
            if let Some(response) = e.response.as_mut() {
                cap(response);
            }
        }
        EventBody::Message(e) => cap(&mut e.content),
        EventBody::ToolCall(e) => {
            let size = e.arguments.to_string().len();
            if size > MAX_EVENT_TEXT {
                e.arguments = serde_json::Value::String(format!("[{size} bytes of arguments, not kept]"));
            }
            if let Some(error) = e.error.as_mut() {
                cap(error);
            }
        }
        EventBody::ModelCall(e) => {
            if let Some(error) = e.error.as_mut() {
                cap(error);
            }
        }
        // The operator's, never a runner's; nothing long in it.
        EventBody::Session(_) => {}
    }
    body
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Makes sure the events stream exists, retrying with backoff while JetStream cannot create it:
/// answering requests does not need it, so an unavailable JetStream never stops the runner
/// (events wait in the buffer meanwhile). Says so once when it fails and once when it recovers.
async fn stream_ready(js: &jetstream::Context) {
    let mut backoff = Duration::from_millis(100);
    let mut reported = false;
    loop {
        match ensure_events_stream(js).await {
            Ok(()) if reported => {
                return tracing::info!("the AGENTRY_EVENTS stream is available; events flow again");
            }
            Ok(()) => return,
            Err(err) if !reported => {
                reported = true;
                tracing::warn!(error = %err, "the AGENTRY_EVENTS stream is unavailable; events wait in the buffer");
            }
            Err(err) => tracing::debug!(error = %err, "the AGENTRY_EVENTS stream is still unavailable"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
    }
}

/// Where the draining task publishes, and what it counts.
struct Sink {
    namespace: SubjectToken,
    agent: SubjectToken,
    metrics: Arc<RunnerMetrics>,
}

async fn drain(
    js: jetstream::Context,
    mut rx: mpsc::Receiver<Event>,
    sink: Sink,
    buffered: Arc<AtomicUsize>,
) {
    let Sink { namespace, agent, metrics } = sink;
    stream_ready(&js).await;
    let mut batch = Vec::with_capacity(ACK_WINDOW);
    while rx.recv_many(&mut batch, ACK_WINDOW).await > 0 {
        let mut backoff = Duration::from_millis(100);
        // Publish the whole batch, then await the acknowledgements together: one round trip
        // per batch instead of per event. Unacknowledged events are published again (same
        // `Nats-Msg-Id`, so JetStream stores each once).
        loop {
            // `done`: acknowledged, or refused for good (retrying would never succeed).
            let mut done = vec![false; batch.len()];
            let mut pending: Vec<(usize, PublishAckFuture)> = Vec::with_capacity(batch.len());
            for (i, event) in batch.iter().enumerate() {
                match publish(&js, &namespace, &agent, event).await {
                    Ok(ack) => pending.push((i, ack)),
                    Err(Refusal::Permanent(reason)) => {
                        done[i] = true;
                        metrics.events_dropped.inc();
                        tracing::warn!(request_id = %event.request_id, kind = event.body.kind(), %reason, "event dropped: JetStream cannot take it");
                    }
                    Err(Refusal::Transient(err)) => tracing::debug!(error = %err, "event publish failed"),
                }
            }
            let mut acked = done;
            for (i, ack) in pending {
                match ack.await {
                    Ok(_) => acked[i] = true,
                    Err(err) => tracing::debug!(error = %err, "event not acknowledged"),
                }
            }
            let finished: usize = batch.iter().zip(&acked).filter(|(_, a)| **a).map(|(e, _)| weight(e)).sum();
            buffered.fetch_sub(finished, Ordering::AcqRel);
            let published = acked.iter().filter(|a| **a).count();
            metrics.events_published.inc_by(published as u64);
            if published == batch.len() {
                break;
            }
            metrics.events_failed.inc_by((batch.len() - published) as u64);
            batch = batch.drain(..).zip(acked).filter(|(_, acked)| !acked).map(|(e, _)| e).collect();
            tracing::warn!(
                waiting = batch.len(),
                retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "JetStream unavailable; retrying events"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
        }
        batch.clear();
    }
}

/// Why an event was not published.
enum Refusal {
    /// It can never be published (too large, not serializable): drop it.
    Permanent(String),
    /// JetStream or the connection is unavailable for now: retry.
    Transient(async_nats::jetstream::context::PublishError),
}

async fn publish(
    js: &jetstream::Context,
    namespace: &SubjectToken,
    agent: &SubjectToken,
    event: &Event,
) -> Result<PublishAckFuture, Refusal> {
    let payload = serde_json::to_vec(event).map_err(|err| Refusal::Permanent(err.to_string()))?;
    let subject = subjects::events(namespace, agent, event.body.kind());
    let message = jetstream::message::PublishMessage::build().payload(payload.into()).message_id(&event.id);
    js.send_publish(subject, message).await.map_err(|err| match err.kind() {
        jetstream::context::PublishErrorKind::MaxPayloadExceeded => Refusal::Permanent(err.to_string()),
        _ => Refusal::Transient(err),
    })
}

#[cfg(test)]
mod tests {
    use agentry_protocol::events::{MessageEvent, MessageRole};

    use super::*;

    #[test]
    fn long_text_is_capped_at_a_character_boundary() {
        let content = "é".repeat(MAX_EVENT_TEXT); // two bytes each
        let body = bounded(EventBody::Message(MessageEvent {
            role: MessageRole::User,
            content,
            tool_name: None,
            usage: None,
        }));
        let EventBody::Message(message) = body else { panic!("still a message") };
        assert!(message.content.len() < MAX_EVENT_TEXT + 64, "{}", message.content.len());
        assert!(message.content.ends_with(&format!("… [{} more bytes]", MAX_EVENT_TEXT)));
    }
}
