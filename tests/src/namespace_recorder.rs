//! The real recorder binary writing one namespace's events from the real `AGENTRY_EVENTS` stream
//! (where real runners publish) into a PostgreSQL schema of the test's own.
//!
//! The shared stream holds every test's events, kept for days: a recorder reading all of it would
//! replay them. So the test creates the recorder's durable consumer itself, filtered to its
//! namespace's subjects, before the recorder starts; the recorder uses a consumer that exists as
//! it is (docs/recorder.md). The consumer is deleted and the schema dropped at the end, panics
//! included.

use std::path::Path;
use std::time::Duration;

use agentry_protocol::subjects::{EVENTS_STREAM, EVENTS_STREAM_SUBJECTS};
use async_nats::jetstream::{self, consumer::pull, stream};
use sqlx::PgPool;

use crate::nats_fixture;
use crate::recorder_fixture::{ScratchSchema, database_url};
use crate::recorder_process::RecorderProcess;

/// A recorder of one namespace's events, and a pool on the database it writes.
pub struct NamespaceRecorder {
    /// The recorder process.
    pub process: RecorderProcess,
    /// A pool on the database the tables are in.
    pub pool: PgPool,
    consumer: ConsumerGuard,
    schema: ScratchSchema,
}

impl NamespaceRecorder {
    /// Creates the consumer of `namespace`'s events and the schema's name, starts `binary` on
    /// them and waits until it is ready.
    pub async fn start(binary: &Path, namespace: &str) -> Result<Self, String> {
        let client = nats_fixture::connect().await?;
        let js = jetstream::new(client);
        let events = ensure_events_stream(&js).await?;
        let name = format!("history-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        events
            .create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                description: Some(format!("a test's recorder of namespace {namespace}")),
                filter_subject: format!("agentry.{namespace}.events.>"),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("creating consumer {name}: {e}"))?;
        let consumer = ConsumerGuard { name: Some(name.clone()) };
        let schema = ScratchSchema::new(&database_url());
        let args: Vec<String> = [
            ("--nats-url", nats_fixture::nats_url()),
            ("--schema", schema.name.clone()),
            ("--consumer", name),
            ("--fetch-wait-ms", "50".to_string()),
            ("--retention-days", "0".to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect();
        let process = RecorderProcess::spawn(binary, &args, &database_url())?;
        process.wait_ready(Duration::from_secs(30)).await?;
        let pool = PgPool::connect(&database_url()).await.map_err(|e| format!("PostgreSQL: {e}"))?;
        Ok(Self { process, pool, consumer, schema })
    }

    /// `table`, qualified with the recorder's schema, for SQL text.
    pub fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema.name)
    }

    /// The PostgreSQL schema the recorder writes.
    pub fn schema(&self) -> &str {
        &self.schema.name
    }

    /// The durable consumer's name (until [`NamespaceRecorder::stop`] deletes it).
    pub fn consumer(&self) -> &str {
        self.consumer.name.as_deref().unwrap_or_default()
    }

    /// Stops the recorder (SIGTERM: it finishes what it holds), closes the pool, deletes the
    /// consumer and drops the schema.
    pub async fn stop(mut self) -> Result<(), String> {
        self.process.terminate()?;
        let status = self.process.wait_exit(Duration::from_secs(20)).await?;
        self.pool.close().await;
        if !status.success() {
            return Err(format!("recorder exited with {status}; output:\n{}", self.process.output()));
        }
        if let Some(name) = self.consumer.name.take() {
            delete_consumer(&name).await.map_err(|e| format!("deleting consumer {name}: {e}"))?;
        }
        Ok(())
    }
}

/// `AGENTRY_EVENTS` as the runners create it, when it does not exist yet.
async fn ensure_events_stream(js: &jetstream::Context) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: EVENTS_STREAM.to_string(),
        subjects: vec![EVENTS_STREAM_SUBJECTS.to_string()],
        duplicate_window: Duration::from_secs(120),
        max_age: Duration::from_secs(7 * 24 * 3600),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("the {EVENTS_STREAM} stream: {e}"))
}

async fn delete_consumer(name: &str) -> Result<(), String> {
    let js = jetstream::new(nats_fixture::connect().await?);
    let stream = js.get_stream(EVENTS_STREAM).await.map_err(|e| e.to_string())?;
    stream.delete_consumer(name).await.map(|_| ()).map_err(|e| e.to_string())
}

/// Deletes the durable consumer when dropped before [`NamespaceRecorder::stop`] did (from a
/// thread with its own runtime, since drops run inside the test's), so no backlog piles up
/// behind it.
struct ConsumerGuard {
    name: Option<String>,
}

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else { return };
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(delete_consumer(&name)).ok()
        });
        if !matches!(cleanup.join(), Ok(Some(()))) {
            eprintln!("a consumer of {EVENTS_STREAM} could not be deleted");
        }
    }
}
