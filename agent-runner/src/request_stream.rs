//! A request's progress published to its reply subject as it happens (for a request with
//! `stream: true`), each message marked with the `stream-event` header: model text as it
//! arrives, finished model and tool calls. The reply subject, because under per-identity NATS
//! permissions it is the only subject of the caller's inbox an agent may publish to (as
//! responses to the message it received). Best-effort: events wait in a bounded queue for the
//! one task publishing them in order; when the queue is full an event is dropped and its `seq`
//! is missing, so the caller sees the gap. The reply, the message without the header, is the
//! answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agentry_protocol::{MAX_STREAM_EVENTS, StreamEvent, StreamEventBody, headers};
use async_nats::{HeaderMap, HeaderValue};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::TokenSink;

/// Events waiting to be published, at most: far more than a model writes while one publish
/// takes, so only a stalled connection fills it.
const QUEUE: usize = 4096;

/// How long the reply waits for the events before it to be published: the reply should come
/// after them, but never late because of them.
const FINISH_TIMEOUT: Duration = Duration::from_secs(2);

/// The stream of one request.
pub(crate) struct RequestStream {
    request_id: String,
    next_seq: AtomicU64,
    queue: mpsc::Sender<StreamEvent>,
    publisher: JoinHandle<()>,
}

impl RequestStream {
    /// Starts publishing to `subject`, the request's reply subject.
    pub(crate) fn open(client: async_nats::Client, subject: async_nats::Subject, request_id: String) -> Self {
        // Checked at admission: a request id is a valid header value.
        let id_header = request_id.parse::<HeaderValue>().ok();
        let (queue, mut events) = mpsc::channel::<StreamEvent>(QUEUE);
        let publisher = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let payload = match serde_json::to_vec(&event) {
                    Ok(payload) => payload,
                    Err(err) => {
                        tracing::warn!(error = %err, "stream event does not serialize");
                        continue;
                    }
                };
                let mut header_map = HeaderMap::new();
                header_map.insert(headers::STREAM_EVENT, HeaderValue::from(event.seq));
                if let Some(id) = &id_header {
                    header_map.insert(headers::REQUEST_ID, id.clone());
                }
                if let Err(err) =
                    client.publish_with_headers(subject.clone(), header_map, payload.into()).await
                {
                    tracing::debug!(error = %err, "stream event not published");
                }
            }
        });
        Self { request_id, next_seq: AtomicU64::new(0), queue, publisher }
    }

    /// Queues `body` as the next event.
    pub(crate) fn send(&self, body: StreamEventBody) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        // The reply is one more response to the same message: it must stay within what NATS
        // lets this agent send there.
        if seq >= MAX_STREAM_EVENTS {
            if seq == MAX_STREAM_EVENTS {
                tracing::debug!(max = MAX_STREAM_EVENTS, "stream event limit reached; later events dropped");
            }
            return;
        }
        let event = StreamEvent { request_id: self.request_id.clone(), seq, body };
        if self.queue.try_send(event).is_err() {
            tracing::debug!(seq, "stream queue full; event dropped");
        }
    }

    /// Lets the queued events go out (up to [`FINISH_TIMEOUT`]) so that they precede the reply.
    pub(crate) async fn finish(self) {
        let Self { queue, mut publisher, .. } = self;
        drop(queue);
        if tokio::time::timeout(FINISH_TIMEOUT, &mut publisher).await.is_err() {
            tracing::debug!("stream events still queued at the reply are dropped");
            publisher.abort();
        }
    }
}

impl TokenSink for RequestStream {
    fn token(&self, text: &str) {
        self.send(StreamEventBody::Token { text: text.to_string() });
    }
}
