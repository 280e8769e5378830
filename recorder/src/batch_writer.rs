//! Writes a batch of events to PostgreSQL in one statement (so one transaction and one round
//! trip), idempotently: see `sql/record_batch.sql`.

use sqlx::PgPool;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::QueryAs;

use crate::event_rows::{EventRows, Interactions, Messages, ModelCalls, SessionEvents, ToolCalls};

const RECORD_BATCH: &str = include_str!("sql/record_batch.sql");

/// Rows a batch added, by table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WriteCounts {
    pub(crate) interactions: u64,
    pub(crate) messages: u64,
    pub(crate) tool_calls: u64,
    pub(crate) model_calls: u64,
    pub(crate) session_events: u64,
    /// Sessions created or updated.
    pub(crate) sessions: u64,
}

impl WriteCounts {
    /// Event rows added, sessions aside.
    pub(crate) fn events(&self) -> u64 {
        self.interactions + self.messages + self.tool_calls + self.model_calls + self.session_events
    }

    /// Adds `other` into `self`.
    pub(crate) fn add(&mut self, other: WriteCounts) {
        self.interactions += other.interactions;
        self.messages += other.messages;
        self.tool_calls += other.tool_calls;
        self.model_calls += other.model_calls;
        self.session_events += other.session_events;
        self.sessions += other.sessions;
    }
}

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// PostgreSQL refused the data itself (a value out of range, too large for an index, ...):
    /// writing it again will fail again.
    #[error("PostgreSQL refused the batch's data: {0}")]
    Rejected(#[source] sqlx::Error),
    /// PostgreSQL could not be reached or failed otherwise: retry.
    #[error("writing to PostgreSQL failed: {0}")]
    Unavailable(#[source] sqlx::Error),
}

/// Writes `events` as one batch, exactly as a recorder writes a batch it fetched (decoded,
/// redacted, one statement, idempotent on event ids), and returns how many event rows were
/// inserted: for loading a history in tests and benchmarks without a stream. `pool` must come
/// from [`crate::database::pool`]. An event that is no recordable event is skipped.
pub async fn write_events(
    pool: &PgPool,
    events: impl IntoIterator<Item = agentry_protocol::events::Event>,
) -> Result<u64, sqlx::Error> {
    // Through the wire form, as the recorder receives them.
    let decoded = events.into_iter().filter_map(|event| {
        let payload = serde_json::to_vec(&event).ok()?;
        crate::event_decoding::decode(&payload).ok()
    });
    match write(pool, &EventRows::of(decoded)).await {
        Ok(counts) => Ok(counts.events()),
        Err(WriteError::Rejected(error) | WriteError::Unavailable(error)) => Err(error),
    }
}

/// Writes `rows` and returns how many each table gained (events already stored add nothing).
pub(crate) async fn write(pool: &PgPool, rows: &EventRows) -> Result<WriteCounts, WriteError> {
    let (interactions, messages, tool_calls, model_calls, session_events, sessions) =
        statement(rows).fetch_one(pool).await.map_err(classify)?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(WriteCounts {
        interactions: count(interactions),
        messages: count(messages),
        tool_calls: count(tool_calls),
        model_calls: count(model_calls),
        session_events: count(session_events),
        sessions: count(sessions),
    })
}

/// What the statement returns: rows added to interactions, messages, tool_calls, model_calls,
/// session_events and sessions.
type Counts = (i64, i64, i64, i64, i64, i64);

/// A statement being bound.
type Statement<'q> = QueryAs<'q, Postgres, Counts, PgArguments>;

/// The statement with its 65 parameters bound, in the order `record_batch.sql` numbers them.
fn statement(rows: &EventRows) -> Statement<'_> {
    let query = bind_interactions(sqlx::query_as(RECORD_BATCH), &rows.interactions);
    let query = bind_messages(query, &rows.messages);
    let query = bind_tool_calls(query, &rows.tool_calls);
    let query = bind_model_calls(query, &rows.model_calls);
    bind_session_events(query, &rows.session_events)
}

/// Parameters 1 to 19.
fn bind_interactions<'q>(query: Statement<'q>, i: &'q Interactions) -> Statement<'q> {
    query
        .bind(&i.envelope.event_id)
        .bind(&i.envelope.request_id)
        .bind(&i.parent_request_id)
        .bind(&i.envelope.session_id)
        .bind(&i.envelope.namespace)
        .bind(&i.envelope.agent)
        .bind(&i.from_agent)
        .bind(&i.to_agent)
        .bind(&i.outcome)
        .bind(&i.error)
        .bind(&i.query)
        .bind(&i.response)
        .bind(&i.latency_ms)
        .bind(&i.model)
        .bind(&i.input_tokens)
        .bind(&i.output_tokens)
        .bind(&i.cost_usd)
        .bind(&i.delegation_depth)
        .bind(&i.envelope.time_ms)
}

/// Parameters 20 to 31.
fn bind_messages<'q>(query: Statement<'q>, m: &'q Messages) -> Statement<'q> {
    query
        .bind(&m.envelope.event_id)
        .bind(&m.envelope.session_id)
        .bind(&m.envelope.request_id)
        .bind(&m.envelope.namespace)
        .bind(&m.envelope.agent)
        .bind(&m.role)
        .bind(&m.content)
        .bind(&m.tool_name)
        .bind(&m.input_tokens)
        .bind(&m.output_tokens)
        .bind(&m.cost_usd)
        .bind(&m.envelope.time_ms)
}

/// Parameters 32 to 42.
fn bind_tool_calls<'q>(query: Statement<'q>, t: &'q ToolCalls) -> Statement<'q> {
    query
        .bind(&t.envelope.event_id)
        .bind(&t.envelope.session_id)
        .bind(&t.envelope.request_id)
        .bind(&t.envelope.namespace)
        .bind(&t.envelope.agent)
        .bind(&t.tool)
        .bind(&t.arguments)
        .bind(&t.ok)
        .bind(&t.error)
        .bind(&t.duration_ms)
        .bind(&t.envelope.time_ms)
}

/// Parameters 43 to 57.
fn bind_model_calls<'q>(query: Statement<'q>, c: &'q ModelCalls) -> Statement<'q> {
    query
        .bind(&c.envelope.event_id)
        .bind(&c.envelope.session_id)
        .bind(&c.envelope.request_id)
        .bind(&c.envelope.namespace)
        .bind(&c.envelope.agent)
        .bind(&c.model)
        .bind(&c.provider)
        .bind(&c.ok)
        .bind(&c.error)
        .bind(&c.latency_ms)
        .bind(&c.attempts)
        .bind(&c.input_tokens)
        .bind(&c.output_tokens)
        .bind(&c.cost_usd)
        .bind(&c.envelope.time_ms)
}

/// Parameters 58 to 65.
fn bind_session_events<'q>(query: Statement<'q>, e: &'q SessionEvents) -> Statement<'q> {
    query
        .bind(&e.envelope.event_id)
        .bind(&e.envelope.session_id)
        .bind(&e.envelope.request_id)
        .bind(&e.envelope.namespace)
        .bind(&e.envelope.agent)
        .bind(&e.session_type)
        .bind(&e.phase)
        .bind(&e.envelope.time_ms)
}

/// Data PostgreSQL refuses for what it is, whatever the state of the server: data exceptions
/// (SQLSTATE class 22), integrity violations (23) and program limits such as an index row too
/// large (54). Everything else (connection, server shutting down, deadlock, ...) may pass later.
fn classify(error: sqlx::Error) -> WriteError {
    let rejected = match &error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23") || code.starts_with("54")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    };
    if rejected { WriteError::Rejected(error) } else { WriteError::Unavailable(error) }
}
