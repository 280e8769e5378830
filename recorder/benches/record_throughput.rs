//! Interactions durably recorded per second by one recorder, against PostgreSQL's own floor:
//! COPY of the same rows into an identical table (DESIGN.md §8: ≥ 20,000/s and ≥ 40% of COPY).
//!
//! 100,000 interaction events are published to a stream of the benchmark's own; a recorder (the
//! library, in this process) is started on a fresh schema, and the clock runs from its start
//! until the consumer has nothing pending or unacknowledged: every event committed (with
//! `synchronous_commit` on) and acknowledged. Then the same rows, read back, are COPYed into an
//! identical fresh table (same columns, constraints and indexes) in one COPY.
//!
//! `RECORDER_BENCH_EVENTS`, `RECORDER_BENCH_BATCH` and `RECORDER_BENCH_WRITERS` override the event
//! count, the batch size and the number of writers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry_process::Readiness;
use agentry_recorder::{Recorder, RecorderMetrics, RecorderSettings, database};
use agentry_tests::nats_fixture;
use agentry_tests::recorder_fixture::{self as fx, EventsStream, ScratchSchema, database_url};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const TARGET_RATE: f64 = 20_000.0;
const TARGET_RATIO: f64 = 0.40;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Err(error) = runtime.block_on(run()) {
        eprintln!("record_throughput failed: {error}");
        std::process::exit(1);
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run() -> Result<(), String> {
    let events = env_number("RECORDER_BENCH_EVENTS", 100_000);
    let batch_size = env_number("RECORDER_BENCH_BATCH", RecorderSettings::new("").batch_size);
    let writers = env_number("RECORDER_BENCH_WRITERS", RecorderSettings::new("").writers);
    let stream = EventsStream::create().await?;
    let schema = ScratchSchema::new(&database_url());
    let options = database::parse_url(&database_url()).map_err(|e| e.to_string())?;
    let pool = database::pool(&options, &schema.name, 1).map_err(|e| e.to_string())?;
    database::migrate(&pool, &schema.name).await.map_err(|e| e.to_string())?;
    pool.close().await;

    let published = Instant::now();
    stream.publish(&fx::interactions("bench", "agent", events)).await?;
    eprintln!("published {events} interaction events in {:.1?}", published.elapsed());

    let recorded = record(&stream, &schema, &options, (batch_size, writers), events).await?;
    let copied = copy_floor(&schema.name, events).await?;
    let (rate, copy_rate) = (events as f64 / recorded.as_secs_f64(), events as f64 / copied.as_secs_f64());
    let ratio = rate / copy_rate;
    println!(
        "record_throughput: {events} interactions, batch {batch_size}, {writers} writers, synchronous_commit on"
    );
    println!(
        "  recorder (fetch → commit → ack): {rate:>10.0} rows/s ({recorded:.2?})   target ≥ {TARGET_RATE:.0}/s"
    );
    println!("  COPY into an identical table:    {copy_rate:>10.0} rows/s ({copied:.2?})");
    println!(
        "  recorder / COPY:                 {:>10.1} %   target ≥ {:.0} %",
        ratio * 100.0,
        TARGET_RATIO * 100.0
    );
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("  rate {}, ratio {}", verdict(rate >= TARGET_RATE), verdict(ratio >= TARGET_RATIO));
    Ok(())
}

/// Runs a recorder until every event is committed and acknowledged; the time it took.
async fn record(
    stream: &EventsStream,
    schema: &ScratchSchema,
    options: &sqlx::postgres::PgConnectOptions,
    (batch_size, writers): (usize, usize),
    events: usize,
) -> Result<Duration, String> {
    let mut settings = RecorderSettings::new(nats_fixture::nats_url());
    settings.stream = stream.name.clone();
    settings.stream_subjects = stream.subjects.clone();
    settings.consumer = "bench-recorder".to_string();
    settings.schema = schema.name.clone();
    settings.batch_size = batch_size;
    settings.writers = writers;
    settings.retention_days = 0;
    let metrics = Arc::new(RecorderMetrics::new().map_err(|e| e.to_string())?);
    let started = Instant::now();
    let recorder = Recorder::start(settings, options, &Readiness::new(), metrics.clone())
        .await
        .map_err(|e| e.to_string())?;
    // The consumer appears once the recorder has set it up; then wait for nothing to be left.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if Instant::now() > deadline {
            return Err(format!("not recorded within 10 minutes ({} written)", metrics.events_written()));
        }
        let done = match stream
            .jetstream()
            .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                "bench-recorder",
                &stream.name,
            )
            .await
        {
            Ok(consumer) => consumer.get_info().await.is_ok_and(|i| {
                i.num_pending == 0 && i.num_ack_pending == 0 && i.delivered.stream_sequence > 0
            }),
            Err(_) => false,
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    recorder.stop().await;
    let written = metrics.events_written();
    if written != u64::try_from(events).unwrap_or_default() {
        return Err(format!("{written} rows written, expected {events}"));
    }
    Ok(elapsed)
}

/// COPYs the recorded rows into an identical fresh table, in one COPY; the time it took.
async fn copy_floor(schema: &str, events: usize) -> Result<Duration, String> {
    let mut conn = PgConnection::connect(&database_url()).await.map_err(|e| e.to_string())?;
    let table = format!("\"{schema}\".interactions");
    let copy = format!("\"{schema}\".interactions_copy");
    sqlx::query(AssertSqlSafe(format!("CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let data = read_rows(&mut conn, &table).await?;
    let started = Instant::now();
    let mut sink = conn.copy_in_raw(&format!("COPY {copy} FROM STDIN")).await.map_err(|e| e.to_string())?;
    sink.send(data).await.map_err(|e| e.to_string())?;
    let rows = sink.finish().await.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if rows != u64::try_from(events).unwrap_or_default() {
        return Err(format!("COPY stored {rows} rows, expected {events}"));
    }
    conn.close().await.map_err(|e| e.to_string())?;
    Ok(elapsed)
}

/// `table`'s rows in COPY text format.
async fn read_rows(conn: &mut PgConnection, table: &str) -> Result<Vec<u8>, String> {
    use futures::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = conn
        .copy_out_raw(&format!("COPY {table} TO STDOUT"))
        .await
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(chunks.concat())
}
