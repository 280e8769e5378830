//! A declared Session's `session` events, through the real stream and recorder: they set the
//! session's type and phase (the latest wins, whatever the arrival order), count once, and leave
//! its activity totals alone.

use std::sync::Arc;
use std::time::Duration;

use agentry_process::Readiness;
use agentry_protocol::events::{EventBody, MessageRole, SessionEvent};
use agentry_recorder::{Recorder, RecorderMetrics, RecorderSettings, database};
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::recorder_fixture::{EventsStream, ScratchSchema, database_url, event, message};
use sqlx::{AssertSqlSafe, PgPool};

const DEADLINE: Duration = Duration::from_secs(30);

/// A session row: type, phase, ended at (ms), messages, first event at (ms).
type SessionRow = (Option<String>, Option<String>, Option<i64>, i64, i64);

#[tokio::test]
async fn session_events_set_type_and_phase_once_latest_first() {
    let stream = EventsStream::create().await.expect("events stream");
    let schema = ScratchSchema::new(&database_url());
    let mut settings = RecorderSettings::new(nats_fixture::nats_url());
    settings.stream = stream.name.clone();
    settings.stream_subjects = stream.subjects.clone();
    settings.consumer = format!("recorder-{}", stream.name.to_lowercase());
    settings.schema = schema.name.clone();
    settings.fetch_wait = Duration::from_millis(50);
    settings.retention_days = 0;
    let metrics = Arc::new(RecorderMetrics::new().expect("metrics"));
    let options = database::parse_url(&database_url()).expect("database URL");
    let recorder =
        Recorder::start(settings, &options, &Readiness::new(), metrics.clone()).await.expect("recorder");
    let pool = PgPool::connect(&database_url()).await.expect("PostgreSQL");

    let uid = uuid::Uuid::new_v4().to_string();
    let lifecycle = |phase: &str, time_ms: u64| {
        let body = EventBody::Session(SessionEvent { session_type: "analysis".into(), phase: phase.into() });
        let mut e = event("fleet", "lead", &uid, Some(&uid), body);
        e.id = format!("session-{uid}-{phase}");
        e.time_ms = time_ms;
        e
    };
    let now = agentry_tests::recorder_fixture::now_ms();
    let ended = lifecycle("Succeeded", now);
    let started = lifecycle("Running", now - 60_000);
    let said = event("fleet", "lead", &uid, Some(&uid), message(MessageRole::User, "Analyse Q3."));
    // The end first, then the start twice (undeduplicated: two messages, one event) and a message.
    stream.publish(std::slice::from_ref(&ended)).await.expect("publish");
    stream.publish_undeduplicated(&[started.clone(), started.clone(), said.clone()]).await.expect("publish");

    let sql = format!(
        "SELECT type, phase, (extract(epoch FROM ended_at) * 1000)::int8, message_count, \
         (extract(epoch FROM first_event_at) * 1000)::int8 FROM \"{}\".sessions WHERE session_id = $1",
        schema.name
    );
    let row = poll_until(DEADLINE, || async {
        let row: Option<SessionRow> =
            sqlx::query_as(AssertSqlSafe(sql.clone())).bind(&uid).fetch_optional(&pool).await.ok().flatten();
        row.filter(|r| r.3 == 1 && r.4 == i64::try_from(started.time_ms).unwrap_or_default())
    })
    .await
    .unwrap_or_else(|_| panic!("session {uid} not recorded within {DEADLINE:?}"));
    assert_eq!(row.0.as_deref(), Some("analysis"));
    assert_eq!(row.1.as_deref(), Some("Succeeded"), "the later phase wins over the later arrival");
    assert_eq!(row.2, i64::try_from(ended.time_ms).ok(), "ended when it succeeded");
    let stored: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{}\".session_events WHERE session_id = $1",
        schema.name
    )))
    .bind(&uid)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(stored, 2, "each lifecycle event once");
    recorder.stop().await;
}
