//! The `agentry-recorder` binary through what production does to it: PostgreSQL going away for
//! a minute while events keep coming, and the recorder itself killed mid-stream.

use std::path::Path;
use std::time::{Duration, Instant};

use agentry_tests::metrics_text::metric_value;
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::private_postgres::PrivatePostgres;
use agentry_tests::recorder_fixture::{self as fx, EventsStream, ScratchSchema, database_url, unique_schema};
use agentry_tests::recorder_process::RecorderProcess;
use sqlx::{AssertSqlSafe, PgPool};

/// How long PostgreSQL stays down: the definition of the outage.
const OUTAGE: Duration = Duration::from_secs(60);
/// Events published while it is down.
const DURING_OUTAGE: usize = 10_000;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_agentry-recorder"))
}

fn args(stream: &EventsStream, schema: &str, extra: &[&str]) -> Vec<String> {
    let consumer = format!("recorder-{}", stream.name.to_lowercase());
    let mut args: Vec<String> = [
        "--nats-url",
        &nats_fixture::nats_url(),
        "--stream",
        &stream.name,
        "--stream-subjects",
        &stream.subjects,
        "--consumer",
        &consumer,
        "--schema",
        schema,
        "--fetch-wait-ms",
        "50",
        "--retention-days",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn count(pool: &PgPool, schema: &str, filter: &str) -> Option<i64> {
    let sql = format!("SELECT count(*) FROM \"{schema}\".interactions WHERE {filter}");
    sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await.ok()
}

async fn metric(recorder: &RecorderProcess, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metric_value(&recorder.metrics().await.ok()?, name, labels)
}

async fn wait_count(
    pool: &PgPool,
    schema: &str,
    filter: &str,
    n: i64,
    timeout: Duration,
    recorder: &RecorderProcess,
) {
    let reached =
        poll_until(timeout, || async { (count(pool, schema, filter).await == Some(n)).then_some(()) }).await;
    if reached.is_err() {
        let now = count(pool, schema, filter).await;
        panic!(
            "{now:?} rows where {filter}, expected {n}, within {timeout:?}; recorder output:\n{}",
            recorder.output()
        );
    }
}

/// Stops PostgreSQL for [`OUTAGE`] while [`DURING_OUTAGE`] events are published; checks the
/// recorder noticed (lag, readiness, retried writes). PostgreSQL is left stopped.
async fn ride_out_the_outage(pg: &PrivatePostgres, stream: &EventsStream, recorder: &RecorderProcess) {
    pg.stop().expect("stop PostgreSQL");
    let down = Instant::now();
    stream
        .publish(&fx::interactions("outage", "agent", DURING_OUTAGE))
        .await
        .expect("publish during the outage");
    let lag = poll_until(OUTAGE, || async {
        metric(recorder, "agentry_recorder_lag_messages", &[]).await.filter(|lag| *lag > 0.0)
    })
    .await
    .unwrap_or_else(|_| panic!("the lag never rose during the outage; output:\n{}", recorder.output()));
    poll_until(OUTAGE, || async { (recorder.ready().await == Some(false)).then_some(()) })
        .await
        .expect("not ready while PostgreSQL is down");
    // The outage lasts its full minute: this sleep is the outage, not a wait for a condition.
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    let errors = metric(recorder, "agentry_recorder_write_errors_total", &[]).await.unwrap_or_default();
    assert!(errors > 0.0, "write attempts failed and were retried during the outage");
    assert!(recorder.output().contains("writing events failed; retrying"), "the retries are logged");
    eprintln!("lag during the outage: {lag}; failed write attempts: {errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_of_a_minute_loses_nothing_and_duplicates_nothing() {
    let pg = PrivatePostgres::start().await.expect("private PostgreSQL");
    let stream = EventsStream::create().await.expect("events stream");
    let schema = unique_schema();
    // The private cluster asks for a password: the URL carries one, through the environment.
    let recorder =
        RecorderProcess::spawn(binary(), &args(&stream, &schema, &[]), &pg.admin_url()).expect("spawn");
    recorder.wait_ready(Duration::from_secs(60)).await.expect("ready");
    let pool = PgPool::connect(&pg.admin_url()).await.expect("connect");

    stream.publish(&fx::interactions("before", "agent", 100)).await.expect("publish");
    wait_count(&pool, &schema, "namespace = 'before'", 100, Duration::from_secs(30), &recorder).await;
    pool.close().await;

    ride_out_the_outage(&pg, &stream, &recorder).await;
    pg.revive().await.expect("start PostgreSQL again");
    let pool = PgPool::connect(&pg.admin_url()).await.expect("connect again");
    wait_count(&pool, &schema, "namespace = 'outage'", 10_000, Duration::from_secs(120), &recorder).await;
    poll_until(Duration::from_secs(30), || async {
        metric(&recorder, "agentry_recorder_lag_messages", &[]).await.filter(|lag| *lag == 0.0)
    })
    .await
    .expect("the lag falls back to 0");
    recorder.wait_ready(Duration::from_secs(30)).await.expect("ready again");
    let (rows, ids, requests): (i64, i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT count(*), count(DISTINCT event_id), count(DISTINCT request_id) FROM \"{schema}\".interactions"
    )))
    .fetch_one(&pool)
    .await
    .expect("totals");
    assert_eq!((rows, ids, requests), (10_100, 10_100, 10_100), "every event exactly once");
    let written =
        metric(&recorder, "agentry_recorder_events_written_total", &[("type", "interaction")]).await;
    assert_eq!(written, Some(10_100.0));
    assert!(!recorder.output().contains(pg.admin_url().as_str()), "the database URL is never logged");

    let mut recorder = recorder;
    recorder.terminate().expect("SIGTERM");
    let status = recorder.wait_exit(Duration::from_secs(30)).await.expect("exits");
    assert!(status.success(), "graceful exit on SIGTERM: {status}; output:\n{}", recorder.output());
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_killed_mid_stream_restarts_without_loss_or_duplicates() {
    let stream = EventsStream::create().await.expect("events stream");
    let schema = ScratchSchema::new(&database_url());
    // A short ack_wait: what the killed process had fetched comes back within seconds.
    let args = args(&stream, &schema.name, &["--ack-wait-seconds", "3"]);
    let mut first = RecorderProcess::spawn(binary(), &args, &database_url()).expect("spawn");
    first.wait_ready(Duration::from_secs(60)).await.expect("ready");
    let pool = PgPool::connect(&database_url()).await.expect("PostgreSQL (run scripts/dev-services)");

    stream.publish(&fx::interactions("kill", "agent", 5_000)).await.expect("publish");
    poll_until(Duration::from_secs(30), || async {
        count(&pool, &schema.name, "true").await.filter(|n| *n > 0)
    })
    .await
    .expect("writing started");
    first.kill().await.expect("kill -9");
    let at_kill = count(&pool, &schema.name, "true").await.unwrap_or_default();
    // Events published after the kill: the stream goes on without a recorder.
    stream.publish(&fx::interactions("kill", "agent", 5_000)).await.expect("publish");

    let second = RecorderProcess::spawn(binary(), &args, &database_url()).expect("respawn");
    wait_count(&pool, &schema.name, "true", 10_000, Duration::from_secs(120), &second).await;
    poll_until(Duration::from_secs(30), || async {
        metric(&second, "agentry_recorder_lag_messages", &[]).await.filter(|lag| *lag == 0.0)
    })
    .await
    .expect("the lag falls back to 0");
    assert_eq!(count(&pool, &schema.name, "true").await, Some(10_000), "exactly every event, once");
    eprintln!("{at_kill} rows when the first recorder was killed");
    pool.close().await;
}
