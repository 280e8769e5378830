//! `agentry-recorder`: records the `AGENTRY_EVENTS` stream into PostgreSQL until SIGTERM.
//!
//! The database URL holds a password, so it is never a flag (argv is visible to every process
//! on the node) and never logged: it comes from `AGENTRY_DATABASE_URL` or from the file named by
//! `--database-url-file` (a mounted Secret).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agentry_bus_identity::CredentialArgs;
use agentry_process::{
    AdminEndpoint, BuildInfo, ProcessMetrics, Readiness, admin_endpoint, logging, runtime, shutdown,
};
use agentry_protocol::subjects::{EVENTS_STREAM, EVENTS_STREAM_SUBJECTS};
use agentry_recorder::settings::{DEFAULT_CONSUMER, DEFAULT_SCHEMA};
use agentry_recorder::{Recorder, RecorderMetrics, RecorderSettings, database};
use anyhow::{Context, bail};
use clap::Parser;

/// Where the database URL comes from when no file is named.
const DATABASE_URL_ENV: &str = "AGENTRY_DATABASE_URL";

/// Command-line flags; each may also be given as an environment variable.
#[derive(Parser, Debug)]
#[command(name = "agentry-recorder", version, about = "Records Agentry's events stream into PostgreSQL")]
struct Args {
    /// NATS URL.
    #[arg(long, env = "AGENTRY_NATS_URL", default_value = "nats://nats.agentry-system.svc:4222")]
    nats_url: String,
    /// The recorder's NATS credentials (identity `_recorder`).
    #[command(flatten)]
    nats_credentials: CredentialArgs,
    /// File holding the PostgreSQL URL; without it the URL is read from AGENTRY_DATABASE_URL.
    #[arg(long, env = "AGENTRY_DATABASE_URL_FILE")]
    database_url_file: Option<PathBuf>,
    /// PostgreSQL schema of the tables (created and migrated at start).
    #[arg(long, env = "AGENTRY_RECORDER_SCHEMA", default_value = DEFAULT_SCHEMA)]
    schema: String,
    /// Durable JetStream consumer every replica shares.
    #[arg(long, env = "AGENTRY_RECORDER_CONSUMER", default_value = DEFAULT_CONSUMER)]
    consumer: String,
    /// Most events fetched and written at once.
    #[arg(long, env = "AGENTRY_RECORDER_BATCH_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Batches written side by side, each in its own transaction.
    #[arg(long, env = "AGENTRY_RECORDER_WRITERS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    writers: u32,
    /// Longest a fetch waits for a full batch, in milliseconds.
    #[arg(long, env = "AGENTRY_RECORDER_FETCH_WAIT_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=30_000))]
    fetch_wait_ms: u64,
    /// Seconds a fetched event may stay unacknowledged before it is delivered again (applies
    /// when the recorder creates the consumer).
    #[arg(long, env = "AGENTRY_RECORDER_ACK_WAIT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    ack_wait_seconds: u64,
    /// Rows older than this many days are deleted; 0 keeps everything.
    #[arg(long, env = "AGENTRY_RECORDER_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u32,
    /// The events stream (created with the runner's settings when missing).
    #[arg(long, env = "AGENTRY_EVENTS_STREAM", default_value = EVENTS_STREAM)]
    stream: String,
    /// Subjects of the events stream, when the recorder creates it.
    #[arg(long, env = "AGENTRY_EVENTS_SUBJECTS", default_value = EVENTS_STREAM_SUBJECTS)]
    stream_subjects: String,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "AGENTRY_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    http_listen: SocketAddr,
}

fn main() -> ExitCode {
    // Kept to the end of `main`: dropping it sends the spans still queued.
    let _logging = match logging::init("agentry-recorder") {
        Ok(logging) => logging,
        Err(err) => {
            eprintln!("agentry-recorder: {err}");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse();
    runtime::block_on("agentry-recorder", None, run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let url = database_url(args.database_url_file.as_deref())?;
    let database = database::parse_url(&url)?;
    drop(url);
    let mut settings = RecorderSettings::new(args.nats_url);
    settings.nats_credentials = args.nats_credentials.credentials().context("NATS credentials")?;
    settings.stream = args.stream;
    settings.stream_subjects = args.stream_subjects;
    settings.consumer = args.consumer;
    settings.schema = args.schema;
    settings.batch_size = usize::try_from(args.batch_size).context("batch size")?;
    settings.writers = usize::try_from(args.writers).context("writers")?;
    settings.fetch_wait = Duration::from_millis(args.fetch_wait_ms);
    settings.ack_wait = Duration::from_secs(args.ack_wait_seconds);
    settings.retention_days = args.retention_days;

    let metrics = Arc::new(RecorderMetrics::new().context("registering metrics")?);
    let readiness = Readiness::new();
    let build = BuildInfo { binary: "agentry-recorder", version: env!("CARGO_PKG_VERSION") };
    let process = Arc::new(ProcessMetrics::new(build).context("registering process metrics")?);
    let router = admin_endpoint::router(readiness.clone(), metrics.clone(), process);
    let admin = AdminEndpoint::start(args.http_listen, router).await?;
    let recorder = Recorder::start(settings, &database, &readiness, metrics).await?;
    recorder.run_until(shutdown::signal()).await;
    admin.stop().await;
    Ok(())
}

/// The URL from `file`, or else from [`DATABASE_URL_ENV`]; one of them, not both.
fn database_url(file: Option<&Path>) -> anyhow::Result<String> {
    let from_env = std::env::var(DATABASE_URL_ENV).ok().filter(|url| !url.trim().is_empty());
    match (file, from_env) {
        (Some(_), Some(_)) => bail!("both --database-url-file and {DATABASE_URL_ENV} are set: give one"),
        (Some(path), None) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(text.trim().to_string())
        }
        (None, Some(url)) => Ok(url.trim().to_string()),
        (None, None) => bail!("no database URL: set {DATABASE_URL_ENV} or --database-url-file"),
    }
}
