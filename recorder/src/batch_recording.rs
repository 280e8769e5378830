//! Records fetched batches: decode, write (retrying while PostgreSQL is unavailable), then, and
//! only then, acknowledge. A process dying between the commit and the acknowledgements loses
//! nothing and duplicates nothing: the events come again and are skipped as already stored.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry_process::ReadinessGate;
use agentry_protocol::events::Event;
use async_nats::jetstream::{self, AckKind};
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, watch};

use crate::batch_writer::{self, WriteCounts, WriteError};
use crate::event_decoding::{self, Malformed};
use crate::event_rows::EventRows;
use crate::event_source::Batch;
use crate::event_subject::{self, Forged};
use crate::metrics::RecorderMetrics;

/// First pause after a failed write; it doubles up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between write attempts while PostgreSQL is unavailable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What becomes of a message once its batch is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disposition {
    /// Stored (or already stored): acknowledge.
    Ack,
    /// Can never be stored: tell JetStream not to deliver it again.
    Term,
    /// Forged (its payload disagrees with its subject): acknowledged at once, never stored.
    Refused,
}

/// The writing side of a recorder; clones write batches side by side.
#[derive(Clone)]
pub(crate) struct BatchRecorder {
    pub(crate) pool: PgPool,
    pub(crate) metrics: Arc<RecorderMetrics>,
    /// Open while PostgreSQL takes writes.
    pub(crate) database_ok: ReadinessGate,
    /// The consumer's `ack_wait`: a batch held through an outage is kept from redelivery by
    /// progress acknowledgements well within it.
    pub(crate) ack_wait: Duration,
    pub(crate) stop: watch::Receiver<bool>,
}

impl BatchRecorder {
    /// Records batches, taking turns on `batches` with its clones, until the fetcher has stopped
    /// and the batches it fetched are done.
    pub(crate) async fn run(self, batches: Arc<Mutex<mpsc::Receiver<Batch>>>) {
        loop {
            let next = batches.lock().await.recv().await;
            let Some(batch) = next else { return };
            self.record(batch).await;
        }
    }

    async fn record(&self, batch: Batch) {
        let started = Instant::now();
        let (events, good, mut dispositions) = self.decode(&batch);
        if *self.stop.borrow() && !self.database_ok.is_open() {
            // Stopping while PostgreSQL is away: another attempt would only delay the exit.
            settle(&batch, &dispositions, AckKind::Nak(None)).await;
            return;
        }
        let received = events.len();
        let rows = EventRows::of(events);
        let Some(counts) = self.write(&batch, &rows, &good, &mut dispositions).await else {
            // Stopping while PostgreSQL is away: hand the events back at once, to whichever
            // replica fetches next, instead of after `ack_wait`.
            settle(&batch, &dispositions, AckKind::Nak(None)).await;
            return;
        };
        settle(&batch, &dispositions, AckKind::Ack).await;
        let m = &self.metrics;
        for (kind, n) in [
            ("interaction", counts.interactions),
            ("message", counts.messages),
            ("toolCall", counts.tool_calls),
            ("modelCall", counts.model_calls),
            ("session", counts.session_events),
        ] {
            m.written.with_label_values(&[kind]).inc_by(n);
        }
        let dropped = dispositions.iter().filter(|d| **d != Disposition::Ack).count();
        let duplicates = batch
            .len()
            .saturating_sub(dropped)
            .saturating_sub(usize::try_from(counts.events()).unwrap_or(usize::MAX));
        m.duplicates.inc_by(u64::try_from(duplicates).unwrap_or_default());
        m.batch_duration.observe(started.elapsed().as_secs_f64());
        m.batch_recorded_now();
        tracing::debug!(messages = batch.len(), received, written = counts.events(), "batch recorded");
    }

    /// The batch's events (each id once), the indexes of their messages, and every message's
    /// disposition should the write succeed.
    fn decode(&self, batch: &Batch) -> (Vec<Event>, Vec<usize>, Vec<Disposition>) {
        let mut events = Vec::with_capacity(batch.len());
        let mut good = Vec::with_capacity(batch.len());
        let mut dispositions = vec![Disposition::Ack; batch.len()];
        let mut seen = HashSet::with_capacity(batch.len());
        for (index, message) in batch.iter().enumerate() {
            match event_decoding::decode(&message.payload) {
                Ok(event) => {
                    if let Err(forged) = event_subject::check(message.subject.as_str(), &event) {
                        dispositions[index] = Disposition::Refused;
                        self.count_forged(message, forged);
                    } else if seen.insert(event.id.clone()) {
                        events.push(event);
                        good.push(index);
                    }
                    // Else the same event twice in one batch: the first is written, both
                    // acknowledged.
                }
                Err(reason) => {
                    dispositions[index] = Disposition::Term;
                    self.count_malformed(message, &reason);
                }
            }
        }
        (events, good, dispositions)
    }

    /// Writes `rows` until it succeeds, isolating events PostgreSQL refuses; `None` when asked to
    /// stop before it could.
    async fn write(
        &self,
        batch: &Batch,
        rows: &EventRows,
        good: &[usize],
        dispositions: &mut [Disposition],
    ) -> Option<WriteCounts> {
        let mut backoff = INITIAL_BACKOFF;
        let mut isolate = false;
        let mut progress_sent = Instant::now();
        loop {
            let attempt = if isolate {
                self.write_each(batch, good, dispositions).await
            } else {
                batch_writer::write(&self.pool, rows).await
            };
            let error = match attempt {
                Ok(counts) => {
                    self.database_ok.open();
                    return Some(counts);
                }
                Err(WriteError::Rejected(error)) => {
                    tracing::warn!(error = %error, events = rows.len(), "batch refused; writing its events one by one");
                    isolate = true;
                    continue;
                }
                Err(WriteError::Unavailable(error)) => error,
            };
            self.metrics.write_errors.inc();
            self.database_ok.close();
            if *self.stop.borrow() {
                return None;
            }
            tracing::warn!(error = %error, events = rows.len(), retry_in_ms = backoff.as_millis(), "writing events failed; retrying");
            if progress_sent.elapsed() >= self.ack_wait / 3 {
                settle(batch, dispositions, AckKind::Progress).await;
                progress_sent = Instant::now();
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return None,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Writes the events of `good` one at a time (decoded again from their messages); those
    /// PostgreSQL refuses are dropped as malformed.
    async fn write_each(
        &self,
        batch: &Batch,
        good: &[usize],
        dispositions: &mut [Disposition],
    ) -> Result<WriteCounts, WriteError> {
        let mut total = WriteCounts::default();
        for &index in good {
            let Ok(event) = event_decoding::decode(&batch[index].payload) else { continue };
            match batch_writer::write(&self.pool, &EventRows::of([event])).await {
                Ok(counts) => total.add(counts),
                Err(WriteError::Rejected(error)) => {
                    dispositions[index] = Disposition::Term;
                    tracing::debug!(error = %error, "event refused by PostgreSQL");
                    self.count_malformed(&batch[index], &Malformed::Invalid("refused by PostgreSQL"));
                }
                Err(unavailable) => return Err(unavailable),
            }
        }
        Ok(total)
    }

    fn count_forged(&self, message: &jetstream::Message, forged: Forged) {
        let counter = self.metrics.rejected.with_label_values(&[forged.reason()]);
        counter.inc();
        let sequence = message.info().map(|info| info.stream_sequence).unwrap_or_default();
        // Never the payload (nor what it claims): the subject says who published it.
        if counter.get().is_power_of_two() {
            tracing::warn!(subject = %message.subject, sequence, reason = forged.reason(), detail = %forged, "forged event refused");
        } else {
            tracing::debug!(subject = %message.subject, sequence, reason = forged.reason(), "forged event refused");
        }
    }

    fn count_malformed(&self, message: &jetstream::Message, reason: &Malformed) {
        self.metrics.malformed.inc();
        let total = self.metrics.malformed.get();
        let sequence = message.info().map(|info| info.stream_sequence).unwrap_or_default();
        // Never the payload: events carry conversations. One line per power of two keeps a
        // flood of garbage from flooding the log too.
        if total.is_power_of_two() {
            tracing::warn!(subject = %message.subject, sequence, reason = reason.reason(), detail = %reason, malformed_total = total, "malformed event dropped");
        } else {
            tracing::debug!(subject = %message.subject, sequence, reason = reason.reason(), "malformed event dropped");
        }
    }
}

/// Acknowledges each message as its disposition says, `ok` standing for [`Disposition::Ack`]
/// (an acknowledgement, a progress report or a negative acknowledgement). A failure is only
/// logged: the message comes again and is written again, idempotently.
async fn settle(batch: &Batch, dispositions: &[Disposition], ok: AckKind) {
    for (message, disposition) in batch.iter().zip(dispositions) {
        let kind = match disposition {
            Disposition::Ack => ok,
            Disposition::Term => AckKind::Term,
            Disposition::Refused => AckKind::Ack,
        };
        if let Err(error) = message.ack_with(kind).await {
            tracing::debug!(error = %error, "acknowledgement not sent; the event will be delivered again");
        }
    }
}
