//! The events stream and the durable pull consumer every recorder replica shares, and the task
//! fetching batches from it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer, consumer::pull, stream};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::settings::RecorderSettings;

/// How long events stay in the stream when the recorder creates it (as the runner does).
const STREAM_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The stream's window for dropping re-published events by `Nats-Msg-Id` (as the runner's).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Longest pause between fetch attempts while NATS is unavailable.
const MAX_FETCH_BACKOFF: Duration = Duration::from_secs(5);
/// Past a pull request's expiry, how long a pause in delivery ends the batch.
const DELIVERY_GAP: Duration = Duration::from_millis(250);
/// Unacknowledged messages the consumer allows, in batches: room for several replicas, each
/// holding two batches per writer (one being written, one waiting).
const ACK_PENDING_BATCHES: usize = 32;

/// A fetched batch: the messages, in stream order.
pub(crate) type Batch = Vec<jetstream::Message>;

/// Creates the events stream when it does not exist yet, with the runner's settings (a stream
/// that exists keeps its own).
pub(crate) async fn ensure_stream(
    js: &jetstream::Context,
    settings: &RecorderSettings,
) -> Result<stream::Stream, jetstream::context::CreateStreamError> {
    js.get_or_create_stream(stream::Config {
        name: settings.stream.clone(),
        subjects: vec![settings.stream_subjects.clone()],
        duplicate_window: DUPLICATE_WINDOW,
        max_age: STREAM_MAX_AGE,
        ..Default::default()
    })
    .await
}

/// The shared durable consumer, created with explicit acknowledgement when missing (one that
/// exists keeps its configuration).
pub(crate) async fn ensure_consumer(
    stream: &stream::Stream,
    settings: &RecorderSettings,
) -> Result<PullConsumer, stream::ConsumerError> {
    let config = pull::Config {
        durable_name: Some(settings.consumer.clone()),
        description: Some("agentry-recorder: events to PostgreSQL".to_string()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_ack_pending: i64::try_from(settings.batch_size.saturating_mul(ACK_PENDING_BATCHES))
            .unwrap_or(i64::MAX),
        ..Default::default()
    };
    stream.get_or_create_consumer(&settings.consumer, config).await
}

/// Fetches batches into `batches` until `stop` turns true, never ahead of the writers by more
/// than the channel holds: a batch is only asked for once there is room for it, so no fetched
/// message waits unacknowledged longer than the writing of a batch.
pub(crate) async fn fetch_batches(
    consumer: PullConsumer,
    settings: RecorderSettings,
    batches: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    while !*stop.borrow() {
        let permit = tokio::select! {
            permit = batches.reserve() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        // Not raced against `stop`: a fetch ends within `fetch_wait`, and one cut short would
        // leave its messages unacknowledged until `ack_wait`.
        match fetch(&consumer, &settings).await {
            Ok(batch) => {
                backoff = Duration::from_millis(100);
                if !batch.is_empty() {
                    permit.send(batch);
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis(), "fetching events failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_FETCH_BACKOFF);
            }
        }
    }
}

/// One batch: up to `batch_size` messages, or what arrived within `fetch_wait`.
///
/// The server ends a pull request that expires with a status message, but a busy server can
/// send it seconds late (the client library then gives up only after `expires` + 5 s): past the
/// expiry, a pause of [`DELIVERY_GAP`] in delivery ends the batch too. A message that would
/// still have come is delivered again after `ack_wait`.
async fn fetch(consumer: &PullConsumer, settings: &RecorderSettings) -> Result<Batch, async_nats::Error> {
    let expiry = tokio::time::Instant::now() + settings.fetch_wait;
    let mut messages =
        consumer.batch().max_messages(settings.batch_size).expires(settings.fetch_wait).messages().await?;
    let mut batch = Vec::with_capacity(settings.batch_size);
    let mut last_arrival = tokio::time::Instant::now();
    loop {
        let deadline = expiry.max(last_arrival) + DELIVERY_GAP;
        let Ok(next) = tokio::time::timeout_at(deadline, messages.next()).await else { break };
        match next {
            Some(Ok(message)) => {
                batch.push(message);
                last_arrival = tokio::time::Instant::now();
            }
            // What arrived before the error is kept: it is delivered to us either way.
            Some(Err(error)) if !batch.is_empty() => {
                tracing::debug!(error = %error, "batch ended early");
                break;
            }
            Some(Err(error)) => return Err(error),
            None => break,
        }
    }
    Ok(batch)
}

/// Events not yet recorded: messages the consumer has not delivered plus those delivered and
/// not yet acknowledged.
pub(crate) async fn lag(consumer: &PullConsumer) -> Result<u64, jetstream::context::ConsumerInfoError> {
    let info = consumer.get_info().await?;
    Ok(info.num_pending.saturating_add(u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX)))
}
