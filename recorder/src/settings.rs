//! What a recorder is configured with (the binary fills it from flags and environment).

use std::time::Duration;

use agentry_bus_identity::BusCredentials;
use agentry_protocol::subjects::{EVENTS_STREAM, EVENTS_STREAM_SUBJECTS};

/// The durable consumer all recorder replicas share, unless told otherwise.
pub const DEFAULT_CONSUMER: &str = "agentry-recorder";
/// The PostgreSQL schema of the tables, unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "agentry";

/// A recorder's settings; [`RecorderSettings::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct RecorderSettings {
    /// The NATS server.
    pub nats_url: String,
    /// The recorder's NATS credentials (identity `_recorder`); none: no authentication.
    pub nats_credentials: BusCredentials,
    /// The JetStream stream of events (`AGENTRY_EVENTS`; tests use their own).
    pub stream: String,
    /// The subjects the stream captures when the recorder creates it.
    pub stream_subjects: String,
    /// The durable pull consumer every replica shares.
    pub consumer: String,
    /// The PostgreSQL schema holding the tables.
    pub schema: String,
    /// Most events fetched, and written in one statement, at once.
    pub batch_size: usize,
    /// Batches written side by side (each in its own transaction): overlaps one batch's commit
    /// with the next one's work.
    pub writers: usize,
    /// Longest a fetch waits for `batch_size` events before taking what there is.
    pub fetch_wait: Duration,
    /// How long a delivered event may stay unacknowledged before JetStream delivers it again;
    /// applies when the recorder creates the consumer.
    pub ack_wait: Duration,
    /// Rows older than this many days are deleted; 0 keeps everything.
    pub retention_days: u32,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// How often the lag and the database's health are checked.
    pub health_interval: Duration,
}

impl RecorderSettings {
    /// The defaults, reading from the server at `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            nats_credentials: BusCredentials::None,
            stream: EVENTS_STREAM.to_string(),
            stream_subjects: EVENTS_STREAM_SUBJECTS.to_string(),
            consumer: DEFAULT_CONSUMER.to_string(),
            schema: DEFAULT_SCHEMA.to_string(),
            batch_size: 1000,
            writers: 4,
            fetch_wait: Duration::from_millis(100),
            ack_wait: Duration::from_secs(30),
            retention_days: 30,
            retention_interval: Duration::from_secs(3600),
            health_interval: Duration::from_secs(2),
        }
    }
}
