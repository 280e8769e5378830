//! The recorder library against the real NATS and PostgreSQL: each test has a stream, a
//! consumer and a schema of its own.

use std::sync::Arc;
use std::time::Duration;

use agentry_process::Readiness;
use agentry_protocol::events::{Event, MessageRole};
use agentry_recorder::{Recorder, RecorderMetrics, RecorderSettings, database, retention};
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::recorder_fixture::{
    self as fx, EventsStream, ScratchSchema, database_url, event, failed_interaction, interaction, message,
    model_call, tool_call,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};

const DEADLINE: Duration = Duration::from_secs(30);

/// A recorder of the test's own stream and schema.
struct World {
    stream: EventsStream,
    schema: ScratchSchema,
    pool: PgPool,
    recorder: Option<Recorder>,
    metrics: Arc<RecorderMetrics>,
    readiness: Readiness,
}

impl World {
    async fn start() -> Self {
        let stream = EventsStream::create().await.expect("events stream");
        let schema = ScratchSchema::new(&database_url());
        let pool = PgPool::connect(&database_url()).await.expect("PostgreSQL (run scripts/dev-services)");
        let metrics = Arc::new(RecorderMetrics::new().expect("metrics"));
        let readiness = Readiness::new();
        let mut world = Self { stream, schema, pool, recorder: None, metrics, readiness };
        world.recorder = Some(world.start_replica(world.metrics.clone(), &world.readiness.clone()).await);
        world
    }

    fn settings(&self) -> RecorderSettings {
        let mut settings = RecorderSettings::new(nats_fixture::nats_url());
        settings.stream = self.stream.name.clone();
        settings.stream_subjects = self.stream.subjects.clone();
        settings.consumer = format!("recorder-{}", self.stream.name.to_lowercase());
        settings.schema = self.schema.name.clone();
        settings.fetch_wait = Duration::from_millis(50);
        settings.health_interval = Duration::from_millis(200);
        settings.retention_days = 0;
        settings
    }

    /// Another recorder on the same consumer and schema.
    async fn start_replica(&self, metrics: Arc<RecorderMetrics>, readiness: &Readiness) -> Recorder {
        let options = database::parse_url(&database_url()).expect("database URL");
        Recorder::start(self.settings(), &options, readiness, metrics).await.expect("recorder starts")
    }

    fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema.name)
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {}", self.table(table));
        sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&self.pool).await.expect("count")
    }

    /// Waits until the event with `id` is in `table`: everything published before it was
    /// fetched before it, and is settled too.
    async fn wait_for(&self, table: &str, id: &str) {
        let sql = format!("SELECT count(*) FROM {} WHERE event_id = $1", self.table(table));
        poll_until(DEADLINE, || async {
            let n: Option<i64> =
                sqlx::query_scalar(AssertSqlSafe(sql.clone())).bind(id).fetch_one(&self.pool).await.ok();
            (n == Some(1)).then_some(())
        })
        .await
        .unwrap_or_else(|_| panic!("event {id} not in {table} within {DEADLINE:?}"));
    }

    async fn stop(mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.stop().await;
        }
    }
}

/// A sentinel published last: once it is stored, everything before it has been handled.
async fn publish_sentinel(world: &World) -> String {
    let sentinel = event(
        "fleet",
        "sentinel",
        &uuid::Uuid::new_v4().to_string(),
        None,
        interaction("x", "sentinel", "last"),
    );
    world.stream.publish(std::slice::from_ref(&sentinel)).await.expect("publish sentinel");
    sentinel.id
}

/// One event of each type in a session, as a delegating agent would publish them.
fn a_session(session: &str) -> Vec<Event> {
    let s = Some(session);
    let mut first = event("fleet", "planner", "r-1", s, message(MessageRole::User, "What is our budget?"));
    first.time_ms -= 5_000;
    let arguments =
        json!({"url": "https://ledger", "headers": {"Authorization": "Bearer sk-live-1"}, "apiKey": "k"});
    vec![
        first,
        event("fleet", "planner", "r-1", s, model_call("gpt-test", 100, 20, 0.003)),
        event("fleet", "planner", "r-1", s, message(MessageRole::Assistant, "Let me check.")),
        event("fleet", "planner", "r-1", s, tool_call("http", arguments, false)),
        event("fleet", "finance", "r-1.d1", s, failed_interaction("planner", "finance", "Budget?", 1)),
        event("fleet", "planner", "r-1", s, model_call("gpt-test", 50, 10, 0.001)),
        event("fleet", "planner", "r-1", s, interaction("user", "planner", "What is our budget?")),
    ]
}

#[tokio::test]
async fn every_event_type_lands_in_its_table_and_the_session_adds_up() {
    let world = World::start().await;
    let session = format!("s-{}", uuid::Uuid::new_v4());
    let events = a_session(&session);
    world.stream.publish(&events).await.expect("publish");
    world.wait_for("interactions", &events[6].id).await;
    world.wait_for("interactions", &events[4].id).await;

    check_interactions(&world, &events[6], &session).await;
    check_messages(&world, &session).await;
    check_tool_and_model_calls(&world).await;
    check_session(&world, &events, &session).await;
    assert!(world.readiness.is_ready(), "connected to NATS and PostgreSQL, consuming");
    world.stop().await;
}

/// Text columns of an interaction, in the order [`check_interactions`] selects them.
type InteractionText = (Option<String>, String, String, Option<String>, Option<String>, Option<String>);

async fn check_interactions(world: &World, answered: &Event, session: &str) {
    let select = |request: &str| {
        format!(
            "SELECT from_agent, to_agent, outcome, error, response, parent_request_id FROM {} \
             WHERE request_id = '{request}'",
            world.table("interactions")
        )
    };
    let delegated: InteractionText =
        sqlx::query_as(AssertSqlSafe(select("r-1.d1"))).fetch_one(&world.pool).await.expect("delegated");
    let expected = (Some("planner"), "finance", "timeout", Some("timeout"), None, Some("r-1"));
    let d = &delegated;
    assert_eq!(
        (d.0.as_deref(), d.1.as_str(), d.2.as_str(), d.3.as_deref(), d.4.as_deref(), d.5.as_deref()),
        expected
    );
    let answered_text: InteractionText =
        sqlx::query_as(AssertSqlSafe(select("r-1"))).fetch_one(&world.pool).await.expect("answered");
    assert_eq!(answered_text.2, "ok");
    assert_eq!(answered_text.4.as_deref(), Some("answer to What is our budget?"));
    assert_eq!(answered_text.5, None, "depth 0 has no parent");

    let numbers: (i32, i64, i64, f64, Option<String>, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT delegation_depth, input_tokens, latency_ms, cost_usd, session_id, \
         (extract(epoch FROM created_at) * 1000)::int8 FROM {} WHERE request_id = 'r-1'",
        world.table("interactions")
    )))
    .fetch_one(&world.pool)
    .await
    .expect("interaction");
    assert_eq!((numbers.0, numbers.1, numbers.2, numbers.3), (0, 100, 42, 0.001));
    assert_eq!(numbers.4.as_deref(), Some(session));
    assert_eq!(
        u64::try_from(numbers.5).expect("positive"),
        answered.time_ms,
        "created_at keeps the millisecond"
    );
}

async fn check_messages(world: &World, session: &str) {
    let messages: Vec<(String, String, Option<i64>, Option<f64>)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT role, content, output_tokens, cost_usd FROM {} WHERE session_id = $1 ORDER BY created_at",
        world.table("messages")
    )))
    .bind(session)
    .fetch_all(&world.pool)
    .await
    .expect("messages");
    assert_eq!(
        messages,
        vec![
            ("user".into(), "What is our budget?".into(), None, None),
            ("assistant".into(), "Let me check.".into(), Some(5), Some(0.0002)),
        ]
    );
}

async fn check_tool_and_model_calls(world: &World) {
    let (tool, arguments, ok, error): (String, serde_json::Value, bool, Option<String>) =
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT tool, arguments, ok, error FROM {} WHERE request_id = 'r-1'",
            world.table("tool_calls")
        )))
        .fetch_one(&world.pool)
        .await
        .expect("tool call");
    assert_eq!((tool.as_str(), ok, error.as_deref()), ("http", false, Some("HTTP 500")));
    assert_eq!(
        arguments,
        json!({"url": "https://ledger", "headers": {"Authorization": "[redacted]"}, "apiKey": "[redacted]"})
    );
    let model_calls: Vec<(String, String, bool, i32, i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT model, provider, ok, attempts, input_tokens, latency_ms FROM {} ORDER BY input_tokens",
        world.table("model_calls")
    )))
    .fetch_all(&world.pool)
    .await
    .expect("model calls");
    assert_eq!(
        model_calls,
        vec![
            ("gpt-test".into(), "openai-compatible".into(), true, 2, 50, 120),
            ("gpt-test".into(), "openai-compatible".into(), true, 2, 100, 120),
        ]
    );
}

async fn check_session(world: &World, events: &[Event], session: &str) {
    let (agent, messages, input, output, cost, first_ms, last_ms): (String, i64, i64, i64, f64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT agent, message_count, input_tokens, output_tokens, cost_usd, \
             (extract(epoch FROM first_event_at) * 1000)::int8, \
             (extract(epoch FROM last_event_at) * 1000)::int8 FROM {} WHERE session_id = $1",
            world.table("sessions")
        )))
        .bind(session)
        .fetch_one(&world.pool)
        .await
        .expect("session");
    assert_eq!((agent.as_str(), messages, input, output), ("planner", 2, 150, 30), "from the model calls");
    assert!((cost - 0.004).abs() < 1e-12, "cost {cost}");
    let earliest = events.iter().map(|e| e.time_ms).min().expect("events");
    let latest = events.iter().map(|e| e.time_ms).max().expect("events");
    assert_eq!(u64::try_from(first_ms).expect("positive"), earliest);
    assert_eq!(u64::try_from(last_ms).expect("positive"), latest);
}

#[tokio::test]
async fn an_event_delivered_twice_is_one_row_and_counts_once() {
    let world = World::start().await;
    let session = format!("s-{}", uuid::Uuid::new_v4());
    let s = Some(session.as_str());
    let events = vec![
        event("fleet", "a", "r-1", s, message(MessageRole::Assistant, "once")),
        event("fleet", "a", "r-1", s, model_call("m", 10, 1, 0.5)),
        event("fleet", "a", "r-1", s, interaction("u", "a", "q")),
    ];
    // Two messages per event (no Nats-Msg-Id, so JetStream keeps both): one batch or two.
    world.stream.publish_undeduplicated(&events).await.expect("publish");
    world.stream.publish_undeduplicated(&events).await.expect("publish again");
    // The same request answered again under a new event id (a re-published reply).
    let mut again = events[2].clone();
    again.id = uuid::Uuid::new_v4().to_string();
    world.stream.publish(&[again]).await.expect("publish the same request");
    let sentinel = publish_sentinel(&world).await;
    world.wait_for("interactions", &sentinel).await;

    assert_eq!(world.count("messages").await, 1);
    assert_eq!(world.count("model_calls").await, 1);
    assert_eq!(world.count("interactions").await, 2, "the request once, and the sentinel");
    let (messages, input, cost): (i64, i64, f64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT message_count, input_tokens, cost_usd FROM {} WHERE session_id = $1",
        world.table("sessions")
    )))
    .bind(&session)
    .fetch_one(&world.pool)
    .await
    .expect("session");
    assert_eq!((messages, input, cost), (1, 10, 0.5), "each event aggregated once");
    let rolled: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT sum(count)::int8 FROM {} WHERE grain_seconds = 60",
        world.table("interaction_rollups")
    )))
    .fetch_one(&world.pool)
    .await
    .expect("rollups");
    assert_eq!(rolled, 2, "the rollups count the request once, and the sentinel");
    world.stop().await;
}

#[tokio::test]
async fn malformed_messages_are_counted_dropped_and_do_not_block_the_events_after_them() {
    let world = World::start().await;
    let before = fx::interactions("fleet", "a", 3);
    world.stream.publish(&before).await.expect("publish");
    world.stream.publish_raw("fleet", b"\x00\x01 not json at all".to_vec()).await.expect("garbage");
    let unknown = json!({"id": "u-1", "timeMs": 1, "namespace": "fleet", "agent": "a", "requestId": "r", "type": "usage"});
    world.stream.publish_raw("fleet", unknown.to_string().into_bytes()).await.expect("unknown type");
    let shape = json!({"id": "w-1", "timeMs": 1, "namespace": "fleet", "agent": "a", "requestId": "r", "type": "message", "role": "robot"});
    world.stream.publish_raw("fleet", shape.to_string().into_bytes()).await.expect("wrong shape");
    // Well-formed, but too large for PostgreSQL's index on from_agent (and incompressible):
    // the database refuses it, whatever is retried.
    let huge: String = (0..200).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    let refused = event("fleet", "a", "r-huge", None, interaction(&huge, "a", "q"));
    // NUL characters PostgreSQL cannot store: kept, as U+FFFD.
    let nul = event("fleet", "a", "r-nul", None, interaction("u", "a", "q\u{0}q"));
    world.stream.publish(&[refused.clone(), nul.clone()]).await.expect("publish");
    let after = fx::interactions("fleet", "a", 3);
    world.stream.publish(&after).await.expect("publish");
    let sentinel = publish_sentinel(&world).await;
    world.wait_for("interactions", &sentinel).await;

    for event in before.iter().chain(&after).chain([&nul]) {
        world.wait_for("interactions", &event.id).await;
    }
    assert_eq!(world.count("interactions").await, 8, "3 + 3 + the NUL one + the sentinel");
    assert_eq!(world.metrics.malformed_events(), 4, "not JSON, unknown type, wrong shape, refused");
    let query: String = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT query FROM {} WHERE request_id = 'r-nul'",
        world.table("interactions")
    )))
    .fetch_one(&world.pool)
    .await
    .expect("the NUL interaction");
    assert_eq!(query, "q\u{FFFD}q");
    // Nothing is left to redeliver: the malformed ones were terminated, the rest acknowledged.
    poll_until(DEADLINE, || async { (world.metrics.lag() == 0).then_some(()) }).await.expect("lag back to 0");
    world.stop().await;
}

#[tokio::test]
async fn retention_deletes_old_rows_and_keeps_recent_ones() {
    let world = World::start().await;
    let day_ms = 24 * 3600 * 1000;
    let old_session = format!("old-{}", uuid::Uuid::new_v4());
    let mut old: Vec<Event> = vec![
        event("fleet", "a", "r-old", Some(&old_session), interaction("u", "a", "q")),
        event("fleet", "a", "r-old", Some(&old_session), message(MessageRole::User, "q")),
        event("fleet", "a", "r-old", Some(&old_session), tool_call("t", json!({}), true)),
        event("fleet", "a", "r-old", Some(&old_session), model_call("m", 1, 1, 0.0)),
    ];
    for e in &mut old {
        e.time_ms -= 40 * day_ms;
    }
    let recent = event("fleet", "a", "r-new", Some("new-session"), interaction("u", "a", "q"));
    world.stream.publish(&old).await.expect("publish");
    world.stream.publish(std::slice::from_ref(&recent)).await.expect("publish");
    world.wait_for("interactions", &recent.id).await;
    assert_eq!(world.count("sessions").await, 2);

    let pool = database::pool(&database::parse_url(&database_url()).expect("url"), &world.schema.name, 1)
        .expect("pool");
    let report = retention::purge(&pool, &world.schema.name, 30).await.expect("purge").expect("not locked");
    assert_eq!(
        report,
        vec![
            ("interactions", 1),
            ("messages", 1),
            ("tool_calls", 1),
            ("model_calls", 1),
            ("sessions", 1),
            ("session_events", 0),
            // The old interaction's minute, hour and day.
            ("interaction_rollups", 3)
        ]
    );
    for table in ["messages", "tool_calls", "model_calls"] {
        assert_eq!(world.count(table).await, 0, "{table}");
    }
    assert_eq!(world.count("interactions").await, 1, "the recent one stays");
    assert_eq!(world.count("sessions").await, 1, "the recent session stays");
    pool.close().await;
    world.stop().await;
}

#[tokio::test]
async fn replicas_share_one_consumer_and_write_each_event_once() {
    let world = World::start().await;
    let second_metrics = Arc::new(RecorderMetrics::new().expect("metrics"));
    let second = world.start_replica(second_metrics.clone(), &Readiness::new()).await;
    let events = fx::interactions("fleet", "a", 5_000);
    world.stream.publish(&events).await.expect("publish");
    // Metrics count after the acknowledgements, a little after the rows are visible.
    let written = || world.metrics.events_written() + second_metrics.events_written();
    poll_until(Duration::from_secs(60), || async { (written() >= 5_000).then_some(()) })
        .await
        .unwrap_or_else(|_| panic!("{} of 5000 events written", written()));
    assert_eq!(world.count("interactions").await, 5_000, "every event, once");
    assert_eq!(written(), 5_000, "inserted once between them");
    eprintln!(
        "replica 1 wrote {}, replica 2 wrote {}",
        world.metrics.events_written(),
        second_metrics.events_written()
    );
    second.stop().await;
    world.stop().await;
}

#[tokio::test]
async fn an_event_forged_on_another_agents_subject_is_refused_counted_and_not_stored() {
    let world = World::start().await;
    // sales-agent, allowed to publish only under its own name, claims finance-officer's words.
    let forged =
        event("fleet", "finance-officer", "r-forged", None, interaction("u", "finance-officer", "approve"));
    let subject = world.stream.agent_subject(&forged, "sales-agent");
    world.stream.publish_on(subject, &forged).await.expect("publish the forgery");
    let mut other_namespace =
        event("fleet", "sales-agent", "r-ns", None, interaction("u", "sales-agent", "q"));
    let honest_subject = world.stream.subject(&other_namespace);
    other_namespace.namespace = "payroll".into();
    world.stream.publish_on(honest_subject, &other_namespace).await.expect("publish");
    let honest = event("fleet", "sales-agent", "r-honest", None, interaction("u", "sales-agent", "q"));
    world.stream.publish(std::slice::from_ref(&honest)).await.expect("publish");
    let sentinel = publish_sentinel(&world).await;
    world.wait_for("interactions", &sentinel).await;
    world.wait_for("interactions", &honest.id).await;

    assert_eq!(world.metrics.events_rejected("agent_mismatch"), 1);
    assert_eq!(world.metrics.events_rejected("namespace_mismatch"), 1);
    let stored: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE request_id IN ('r-forged', 'r-ns')",
        world.table("interactions")
    )))
    .fetch_one(&world.pool)
    .await
    .expect("count");
    assert_eq!(stored, 0, "neither forgery is stored");
    assert_eq!(world.count("interactions").await, 2, "the honest event and the sentinel");
    assert_eq!(world.metrics.malformed_events(), 0, "a forgery is not malformed");
    // Acknowledged, not terminated or left to redeliver.
    poll_until(DEADLINE, || async { (world.metrics.lag() == 0).then_some(()) }).await.expect("lag back to 0");
    world.stop().await;
}
