//! The exporter: finished spans wait in a bounded queue and a thread of its own sends them in
//! batches, so a slow or absent collector never slows a request; when the queue is full a span
//! is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::export_settings::ExportSettings;
use crate::otlp_json;
use crate::span_layer::{SpanData, SpanLayer};

/// The longest [`SpanExport`]'s drop waits for the last spans to be sent.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The HTTP client could not be built.
    #[error("building the OTLP HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The export thread could not be started.
    #[error("starting the span export thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// What the exporter has done so far, for the process's metrics: one set per process, as
/// there is one exporter (all zero when traces are not exported).
pub static COUNTERS: ExportCounters = ExportCounters {
    exported: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    failed_requests: AtomicU64::new(0),
};

/// Counts of spans exported and lost.
#[derive(Debug, Default)]
pub struct ExportCounters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed_requests: AtomicU64,
}

impl ExportCounters {
    /// Spans the collector accepted.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Spans lost: the queue was full, or the collector refused or did not answer their batch.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Export requests that failed.
    pub fn failed_requests(&self) -> u64 {
        self.failed_requests.load(Ordering::Relaxed)
    }
}

/// The layer's end of the queue.
#[derive(Clone)]
pub(crate) struct SpanQueue {
    pub(crate) sender: mpsc::Sender<SpanData>,
}

impl SpanQueue {
    /// Queues a finished span without waiting; a full queue drops it.
    pub(crate) fn push(&self, span: SpanData) {
        if self.sender.try_send(span).is_err() {
            COUNTERS.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The running exporter; dropping it sends what is queued (for at most [`FLUSH_TIMEOUT`]).
pub struct SpanExport {
    stop: Option<oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl SpanExport {
    /// Starts the export thread; the layer feeds it.
    pub fn start(settings: ExportSettings) -> Result<(SpanLayer, Self), ExportError> {
        // reqwest is built without a default TLS provider; an https endpoint needs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client =
            reqwest::Client::builder().timeout(settings.timeout).build().map_err(ExportError::Client)?;
        let (sender, spans) = mpsc::channel(settings.max_queue_size);
        let (stop, stopped) = oneshot::channel();
        let (finished, done) = std::sync::mpsc::channel();
        let batcher = Batcher { client, settings, failing: false };
        std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || {
                batcher.run(spans, stopped);
                let _ = finished.send(());
            })
            .map_err(ExportError::Thread)?;
        let layer = SpanLayer::new(SpanQueue { sender });
        Ok((layer, Self { stop: Some(stop), done }))
    }
}

impl Drop for SpanExport {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            let _ = self.done.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

/// The export thread's state.
struct Batcher {
    client: reqwest::Client,
    settings: ExportSettings,
    /// Whether the last request failed: a failure is logged once, not once per batch.
    failing: bool,
}

impl Batcher {
    fn run(mut self, spans: mpsc::Receiver<SpanData>, stop: oneshot::Receiver<()>) {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(self.batches(spans, stop)),
            Err(err) => tracing::error!(error = %err, "spans are not exported: no runtime for the exporter"),
        }
    }

    /// Sends a batch when it is full or its first span has waited the schedule delay; on stop,
    /// sends everything queued.
    async fn batches(&mut self, mut spans: mpsc::Receiver<SpanData>, mut stop: oneshot::Receiver<()>) {
        let mut batch = Vec::with_capacity(self.settings.max_batch_size);
        let mut stopping = false;
        while !stopping {
            let first = tokio::select! {
                span = spans.recv() => span,
                _ = &mut stop => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            let due = Instant::now() + self.settings.schedule_delay;
            while batch.len() < self.settings.max_batch_size {
                tokio::select! {
                    span = spans.recv() => match span {
                        Some(span) => batch.push(span),
                        None => { stopping = true; break }
                    },
                    () = tokio::time::sleep_until(due) => break,
                    _ = &mut stop => { stopping = true; break }
                }
            }
            self.send(&mut batch).await;
        }
        while let Ok(span) = spans.try_recv() {
            batch.push(span);
            if batch.len() >= self.settings.max_batch_size {
                self.send(&mut batch).await;
            }
        }
        self.send(&mut batch).await;
    }

    async fn send(&mut self, batch: &mut Vec<SpanData>) {
        if batch.is_empty() {
            return;
        }
        let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        let body = otlp_json::export_request(&self.settings.resource, batch);
        batch.clear();
        let headers: HeaderMap = self.settings.headers.iter().cloned().collect();
        let sent = self.client.post(self.settings.endpoint.clone()).headers(headers).json(&body).send().await;
        // Neither the headers (they may hold a key) nor the URL (it may hold a password) are logged.
        let failure = match sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the collector answered {}", response.status())),
            Err(err) => Some(err.without_url().to_string()),
        };
        match failure {
            None => {
                COUNTERS.exported.fetch_add(count, Ordering::Relaxed);
                if std::mem::take(&mut self.failing) {
                    tracing::info!("span export works again");
                }
            }
            Some(failure) => {
                COUNTERS.dropped.fetch_add(count, Ordering::Relaxed);
                COUNTERS.failed_requests.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(error = %failure, spans = count, "span export failed; spans are dropped until it works");
                }
            }
        }
    }
}
