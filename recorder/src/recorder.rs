//! A running recorder: the fetcher, the batch recorder, the health check and retention, started
//! together and stopped together.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentry_bus_identity::connection::BusAuth;
use agentry_bus_identity::permissions;
use agentry_process::{Readiness, ReadinessGate};
use async_nats::jetstream::consumer::PullConsumer;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::batch_recording::BatchRecorder;
use crate::database::{self, DatabaseError};
use crate::event_source;
use crate::metrics::RecorderMetrics;
use crate::retention;
use crate::settings::RecorderSettings;

/// Longest pause between attempts to set up the consumer or migrate the schema.
const MAX_SETUP_BACKOFF: Duration = Duration::from_secs(5);
/// Longest a health check waits for PostgreSQL.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a recorder could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The NATS URL or options are unusable.
    #[error("connecting to NATS at {url}")]
    Nats {
        /// The URL given, credentials redacted.
        url: String,
        /// Why (reading the credentials file, or connecting).
        #[source]
        source: agentry_bus_identity::connection::ConnectError,
    },
    /// The database settings are unusable.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// A running recorder; [`Recorder::stop`] ends it gracefully.
pub struct Recorder {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What the recorder's tasks share.
struct Parts {
    settings: RecorderSettings,
    client: async_nats::Client,
    pool: PgPool,
    metrics: Arc<RecorderMetrics>,
    database_ok: ReadinessGate,
    consuming: ReadinessGate,
    stop: watch::Receiver<bool>,
}

impl Recorder {
    /// Starts recording the events of `settings.stream` into the database of `database`,
    /// reporting on `readiness` (ready while connected to NATS, consuming, and PostgreSQL takes
    /// writes) and `metrics`. Returns at once; NATS and PostgreSQL are reached (and the schema
    /// migrated, the stream and consumer created when missing) in the background, retrying
    /// until they answer.
    pub async fn start(
        settings: RecorderSettings,
        database: &PgConnectOptions,
        readiness: &Readiness,
        metrics: Arc<RecorderMetrics>,
    ) -> Result<Self, StartError> {
        let pool = database::pool(database, &settings.schema, settings.writers)?;
        let client = connect_nats(&settings, readiness.gate(false)).await?;
        let (stop, stopped) = watch::channel(false);
        let span = tracing::info_span!("recorder", stream = %settings.stream, consumer = %settings.consumer);
        // Where, never how: the URL's password stays out of the log.
        tracing::info!(database = %database::describe(database), schema = %settings.schema, "recorder starting");
        let parts = Parts {
            settings,
            client,
            pool,
            metrics,
            database_ok: readiness.gate(false),
            consuming: readiness.gate(false),
            stop: stopped,
        };
        let task = tokio::spawn(run(parts).instrument(span));
        Ok(Self { stop, task })
    }

    /// Finishes the batches already fetched (while PostgreSQL takes them; otherwise hands them
    /// back to the stream), acknowledges them, and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "recorder task failed");
        }
    }

    /// Runs until `signal` completes, then [`Recorder::stop`]s.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("stopping: finishing the current batch");
        self.stop().await;
    }
}

/// Connects as the `_recorder` identity: its credentials, and replies below its own inbox.
async fn connect_nats(
    settings: &RecorderSettings,
    connected: ReadinessGate,
) -> Result<async_nats::Client, StartError> {
    let inbox = permissions::platform_inbox_prefix(IDENTITY);
    let auth = BusAuth::new(&settings.nats_url, settings.nats_credentials.clone(), Some(inbox));
    let options = async_nats::ConnectOptions::new()
        .name("agentry-recorder")
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let connected = connected.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        connected.open();
                        tracing::info!("NATS connected");
                    }
                    async_nats::Event::Disconnected => {
                        connected.close();
                        tracing::warn!("NATS disconnected; reconnecting");
                    }
                    other => tracing::info!(event = %other, "NATS event"),
                }
            }
        });
    auth.connect(options).await.map_err(|source| StartError::Nats { url: auth.url.to_string(), source })
}

/// The recorder's identity on the bus.
const IDENTITY: &str = "_recorder";

async fn run(parts: Parts) {
    let Some(consumer) = prepare(&parts).await else { return };
    record(&parts, consumer).await;
    parts.consuming.close();
    if let Err(error) = parts.client.flush().await {
        tracing::warn!(error = %error, "the last acknowledgements may not have reached NATS; those events will be written again, idempotently");
    }
    parts.pool.close().await;
    tracing::info!("recorder stopped");
}

/// Migrates the schema, then sets up the stream and consumer, each retried until it succeeds;
/// `None` when told to stop first.
async fn prepare(parts: &Parts) -> Option<PullConsumer> {
    let s = &parts.settings;
    let mut stop = parts.stop.clone();
    until_done("migrating the schema", &mut stop, || database::migrate(&parts.pool, &s.schema)).await?;
    parts.database_ok.open();
    let js = async_nats::jetstream::new(parts.client.clone());
    let setup = || async {
        let stream = event_source::ensure_stream(&js, s).await?;
        event_source::ensure_consumer(&stream, s).await.map_err(async_nats::Error::from)
    };
    let consumer = until_done("setting up the events consumer", &mut stop, setup).await?;
    parts.consuming.open();
    tracing::info!("recording events");
    Some(consumer)
}

/// Fetches, writes, checks health and purges until told to stop, then lets the writers finish
/// the batches fetched.
async fn record(parts: &Parts, consumer: PullConsumer) {
    let (s, stop) = (&parts.settings, &parts.stop);
    // Each writer may have a batch waiting besides the one it writes.
    let (batches_tx, batches) = mpsc::channel(s.writers.max(1));
    let fetcher =
        tokio::spawn(event_source::fetch_batches(consumer.clone(), s.clone(), batches_tx, stop.clone()));
    let health = tokio::spawn(watch_health(
        consumer,
        parts.pool.clone(),
        parts.metrics.clone(),
        parts.database_ok.clone(),
        s.health_interval,
        stop.clone(),
    ));
    let retention = tokio::spawn(retention::run(
        parts.pool.clone(),
        s.schema.clone(),
        s.retention_days,
        s.retention_interval,
        parts.metrics.clone(),
        stop.clone(),
    ));
    let recorder = BatchRecorder {
        pool: parts.pool.clone(),
        metrics: parts.metrics.clone(),
        database_ok: parts.database_ok.clone(),
        ack_wait: s.ack_wait,
        stop: stop.clone(),
    };
    let batches = Arc::new(Mutex::new(batches));
    let writers: Vec<_> =
        (0..s.writers.max(1)).map(|_| tokio::spawn(recorder.clone().run(batches.clone()))).collect();
    for writer in writers {
        let _ = writer.await;
    }
    let _ = fetcher.await;
    let _ = health.await;
    // A purge is chunked and idempotent: cutting it short loses nothing.
    retention.abort();
}

/// Retries `attempt` with a capped exponential backoff until it succeeds; `None` if told to stop.
async fn until_done<T, E: Display, F, Fut>(
    what: &str,
    stop: &mut watch::Receiver<bool>,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return None;
        }
        match attempt().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis(), "{what} failed; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return None,
        }
        backoff = (backoff * 2).min(MAX_SETUP_BACKOFF);
    }
}

/// Every `interval`: the lag from the consumer, PostgreSQL's health into `database_ok`.
async fn watch_health(
    consumer: PullConsumer,
    pool: PgPool,
    metrics: Arc<RecorderMetrics>,
    database_ok: ReadinessGate,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match event_source::lag(&consumer).await {
            Ok(lag) => metrics.lag.set(i64::try_from(lag).unwrap_or(i64::MAX)),
            Err(error) => tracing::debug!(error = %error, "consumer info unavailable; lag not refreshed"),
        }
        let ping = tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&pool)).await;
        database_ok.set(matches!(ping, Ok(Ok(_))));
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
