//! The ledger's background task: adds what this replica counted to the day's record in the
//! `AGENTRY_DAILY_USAGE` bucket by compare-and-set, and watches the agent's records for what the
//! other replicas add. While JetStream is unavailable it retries with backoff, logging the
//! change of state once each way; nothing counted meanwhile is lost.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::daily_usage::DailyUsage;
use agentry_protocol::daily_usage::{DAILY_USAGE_BUCKET, DAILY_USAGE_TTL_SECONDS, daily_usage_key};
use agentry_protocol::subjects::SubjectToken;
use async_nats::header;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::LedgerState;
use super::day_totals::{Stored, Write, sum};

/// Counts made this close together go into one write.
const WRITE_COALESCE: Duration = Duration::from_millis(20);
/// First and longest pause between attempts while JetStream is unavailable.
const MIN_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often the task looks at the clock when nothing happens (the day may have turned).
const IDLE_TICK: Duration = Duration::from_secs(30);
/// How long what is left gets to reach the bucket once the ledger is dropped.
const FINAL_WRITE_TIMEOUT: Duration = Duration::from_secs(4);
/// Compare-and-set conflicts in a row before a write is given up (and retried later).
const MAX_CONFLICTS: u32 = 64;

/// The keys of one agent's records.
#[derive(Clone, Debug)]
pub(crate) struct DayKeys {
    namespace: SubjectToken,
    agent: SubjectToken,
    prefix: String,
}

impl DayKeys {
    pub(crate) fn new(namespace: &SubjectToken, agent: &SubjectToken) -> Self {
        let prefix = daily_usage_key(namespace, agent, "");
        Self { namespace: namespace.clone(), agent: agent.clone(), prefix }
    }

    /// The record of `day`.
    pub(crate) fn key(&self, day: &str) -> String {
        daily_usage_key(&self.namespace, &self.agent, day)
    }

    /// The day of one of this agent's keys.
    fn day_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)
    }
}

/// Why the bucket could not be reached, read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error("opening the {DAILY_USAGE_BUCKET} bucket: {0}")]
    Open(String),
    #[error("watching the agent's daily usage: {0}")]
    Watch(#[source] kv::WatchError),
    #[error("reading {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: kv::EntryError,
    },
    #[error("writing {key}: {message}")]
    Write { key: String, message: String },
    #[error("writing {key}: {MAX_CONFLICTS} compare-and-set conflicts in a row")]
    Contention { key: String },
}

/// Runs until `wake` closes (the ledger was dropped), then writes what is left.
pub(crate) async fn run(
    state: Arc<LedgerState>,
    js: jetstream::Context,
    keys: DayKeys,
    mut wake: mpsc::Receiver<()>,
) {
    let mut link = Link::new(state, js, keys);
    loop {
        link.step().await;
        let retry_at = link.retry_at.unwrap_or_else(|| Instant::now() + IDLE_TICK);
        tokio::select! {
            signal = wake.recv() => match signal {
                Some(()) => tokio::time::sleep(WRITE_COALESCE).await,
                None => break,
            },
            entry = next_entry(&mut link.watch) => link.apply(entry),
            () = tokio::time::sleep_until(retry_at) => {}
        }
    }
    link.finish().await;
}

/// The task's connection to the bucket and what it knows of its health.
struct Link {
    state: Arc<LedgerState>,
    js: jetstream::Context,
    keys: DayKeys,
    store: Option<kv::Store>,
    watch: Option<kv::Watch>,
    /// The day whose record was last read (re-read when the day turns or the watch restarts).
    read_day: Option<String>,
    /// `None` until the first attempt; then whether the last one reached JetStream.
    reachable: Option<bool>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

impl Link {
    fn new(state: Arc<LedgerState>, js: jetstream::Context, keys: DayKeys) -> Self {
        Self {
            state,
            js,
            keys,
            store: None,
            watch: None,
            read_day: None,
            reachable: None,
            backoff: MIN_RETRY,
            retry_at: None,
        }
    }

    /// Connects where needed and writes what is pending, unless waiting out a backoff.
    async fn step(&mut self) {
        let today = self.state.today();
        self.state.update(|totals| totals.forget_before(&today));
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let attempt = match self.connect(&today).await {
            Ok(store) => write_pending(&self.state, &self.js, &store, &self.keys).await,
            Err(err) => Err(err),
        };
        match attempt {
            Ok(()) => self.reached(),
            Err(err) => self.unreachable(&err),
        }
    }

    /// The bucket, with the watch in place and today's record read.
    async fn connect(&mut self, today: &str) -> Result<kv::Store, SyncError> {
        let store = match &self.store {
            Some(store) => store.clone(),
            None => {
                let store = open_bucket(&self.js).await?;
                self.store = Some(store.clone());
                store
            }
        };
        if self.watch.is_none() {
            // Watch first, then read: a change between the two comes through the watch.
            self.watch = Some(store.watch(self.keys.key("*")).await.map_err(SyncError::Watch)?);
            self.read_day = None;
        }
        if self.read_day.as_deref() != Some(today) {
            let stored = read(&store, &self.keys.key(today)).await?;
            self.state.update(|totals| totals.observe(today, stored));
            self.read_day = Some(today.to_string());
            self.state.set_loaded();
        }
        Ok(store)
    }

    /// Takes in a record another replica (or this one) wrote; a broken watch is started again.
    fn apply(&mut self, entry: Option<Result<kv::Entry, kv::WatcherError>>) {
        match entry {
            Some(Ok(entry)) => {
                if let Some(day) = self.keys.day_of(&entry.key) {
                    let stored = stored_of(&entry);
                    self.state.update(|totals| totals.observe(day, stored));
                }
            }
            Some(Err(err)) => {
                tracing::debug!(error = %err, "daily usage watch failed; starting it again");
                self.watch = None;
            }
            None => self.watch = None,
        }
    }

    fn reached(&mut self) {
        if self.reachable == Some(false) {
            tracing::info!("daily usage: JetStream reachable again; usage counted meanwhile is recorded");
        }
        self.reachable = Some(true);
        self.backoff = MIN_RETRY;
        self.retry_at = None;
    }

    fn unreachable(&mut self, err: &SyncError) {
        self.state.sync_failed();
        if self.reachable != Some(false) {
            tracing::warn!(error = %err, "daily usage: JetStream unavailable; counting locally until it returns");
        }
        self.reachable = Some(false);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_RETRY);
        // A fresh watch once JetStream is back; the store handle survives reconnects.
        self.watch = None;
    }

    /// Writes what is left, within [`FINAL_WRITE_TIMEOUT`].
    async fn finish(mut self) {
        let state = self.state.clone();
        let write = async {
            let store = match self.store.take() {
                Some(store) => store,
                None => open_bucket(&self.js).await?,
            };
            write_pending(&state, &self.js, &store, &self.keys).await
        };
        let outcome = tokio::time::timeout(FINAL_WRITE_TIMEOUT, write).await;
        let left = state.update(|totals| totals.unwritten());
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {FINAL_WRITE_TIMEOUT:?}"),
        };
        tracing::warn!(
            %error,
            requests = left.requests,
            cost_usd = left.cost_usd,
            "daily usage counted at exit could not be recorded"
        );
    }
}

/// The next watch entry; never, while there is no watch.
async fn next_entry(watch: &mut Option<kv::Watch>) -> Option<Result<kv::Entry, kv::WatcherError>> {
    match watch {
        Some(watch) => watch.next().await,
        None => std::future::pending().await,
    }
}

/// Writes every pending amount, oldest day first; a failed write stays in progress, to be
/// tried again as it is.
async fn write_pending(
    state: &LedgerState,
    js: &jetstream::Context,
    store: &kv::Store,
    keys: &DayKeys,
) -> Result<(), SyncError> {
    while let Some(write) = state.update(|totals| totals.next_write()) {
        let added = add_to_record(js, store, &keys.key(&write.day), &write).await?;
        if added.conflicts > 0 {
            tracing::debug!(conflicts = added.conflicts, day = %write.day, "daily usage written after conflicts");
        }
        state.update(|totals| totals.written(added.stored));
    }
    Ok(())
}

/// A write that landed.
#[derive(Debug)]
pub(crate) struct Added {
    /// The record as written.
    pub(crate) stored: Stored,
    /// Compare-and-set conflicts on the way (another writer was first).
    pub(crate) conflicts: u32,
}

/// Adds `write.amount` to the record under `key` by compare-and-set (the bucket's `update`:
/// a put expecting the key's last revision, 0 for none), starting from the guess or a read
/// and reading again after each conflict. The write's id makes a repeat of an attempt that
/// was stored a duplicate the stream drops, not a second addition.
pub(crate) async fn add_to_record(
    js: &jetstream::Context,
    store: &kv::Store,
    key: &str,
    write: &Write,
) -> Result<Added, SyncError> {
    let mut current = match write.guess {
        Some(guess) => guess,
        None => read(store, key).await?,
    };
    let subject = format!("$KV.{DAILY_USAGE_BUCKET}.{key}");
    let failed =
        |err: &dyn std::fmt::Display| SyncError::Write { key: key.to_string(), message: err.to_string() };
    for conflicts in 0..MAX_CONFLICTS {
        let next = sum(current.usage, write.amount);
        // Numbers only: serializing cannot fail.
        let value = bytes::Bytes::from(serde_json::to_vec(&next).unwrap_or_default());
        let mut headers = async_nats::HeaderMap::new();
        let sequence: async_nats::HeaderValue =
            current.revision.to_string().parse().map_err(|e| failed(&e))?;
        headers.insert(header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, sequence);
        let id: async_nats::HeaderValue = write.id.parse().map_err(|e| failed(&e))?;
        headers.insert(header::NATS_MESSAGE_ID, id);
        let acked = match js.publish_with_headers(subject.clone(), headers, value).await {
            Ok(ack) => ack.await,
            Err(err) => Err(err),
        };
        match acked {
            // An earlier attempt was stored: what the record holds now includes it.
            Ok(ack) if ack.duplicate => return Ok(Added { stored: read(store, key).await?, conflicts }),
            Ok(ack) => {
                return Ok(Added { stored: Stored { usage: next, revision: ack.sequence }, conflicts });
            }
            Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => {
                // A random pause, longer with each conflict, so that writers in step fall apart.
                let pause = rand::random_range(0..=u64::from(conflicts.min(10)) * 1_000);
                tokio::time::sleep(Duration::from_micros(pause)).await;
                current = read(store, key).await?;
            }
            Err(err) => return Err(failed(&err)),
        }
    }
    Err(SyncError::Contention { key: key.to_string() })
}

/// The record under `key`; revision 0 when there is none.
pub(crate) async fn read(store: &kv::Store, key: &str) -> Result<Stored, SyncError> {
    let entry = store.entry(key).await.map_err(|source| SyncError::Read { key: key.to_string(), source })?;
    Ok(entry.map(|entry| stored_of(&entry)).unwrap_or_default())
}

/// A record as an entry holds it: a deleted one counts from zero, and so does one that does not
/// parse (said once per entry read; the next write replaces it).
fn stored_of(entry: &kv::Entry) -> Stored {
    let usage = match entry.operation {
        kv::Operation::Put => serde_json::from_slice(&entry.value).unwrap_or_else(|err| {
            tracing::warn!(key = %entry.key, error = %err, "daily usage record unreadable; counting from zero");
            DailyUsage::default()
        }),
        kv::Operation::Delete | kv::Operation::Purge => DailyUsage::default(),
    };
    Stored { usage, revision: entry.revision }
}

/// Opens the bucket, creating its stream when missing.
pub(crate) async fn open_bucket(js: &jetstream::Context) -> Result<kv::Store, SyncError> {
    if let Ok(store) = js.get_key_value(DAILY_USAGE_BUCKET).await {
        return Ok(store);
    }
    // async-nats's `create_key_value` first reads the account's limits, whose reply from
    // nats-server 2.9 it cannot parse; the bucket is a stream of a known shape, made here.
    js.get_or_create_stream(agentry_task_queue::key_value_stream_config(
        DAILY_USAGE_BUCKET,
        "Agentry agents' usage per UTC day",
        Duration::from_secs(DAILY_USAGE_TTL_SECONDS),
    ))
    .await
    .map_err(|e| SyncError::Open(e.to_string()))?;
    js.get_key_value(DAILY_USAGE_BUCKET).await.map_err(|e| SyncError::Open(e.to_string()))
}
