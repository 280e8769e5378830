//! Sessions: ad-hoc ones started and ended through the API, declared ones seen through their
//! events, all listed most recently active first and paged by `(last_event_at, session_id)`.

mod conversation;

use agentry_api_contract::sessions::{SessionList, SessionSummary};
use jiff::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row};

pub use conversation::{ConversationTurn, conversation, messages};

use crate::cursor::Cursor;
use crate::error::HistoryError;
use crate::sql_filter::Conditions;
use crate::time::{from_micros_sql, micros, rfc3339, to_micros_sql};

/// Type of the sessions started through the API.
pub const ADHOC_TYPE: &str = "chat";
/// Phase of an ad-hoc session taking messages.
pub const ACTIVE: &str = "Active";
/// Phase of an ad-hoc session that has ended.
pub const ENDED: &str = "Ended";

/// The filters of a session list (`SessionListQuery`, parsed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionFilters {
    /// Led by this agent.
    pub agent: Option<String>,
    /// Of this type.
    pub r#type: Option<String>,
    /// In this phase.
    pub phase: Option<String>,
    /// Active at or after.
    pub since: Option<Timestamp>,
    /// Started before.
    pub until: Option<Timestamp>,
}

/// Starts an ad-hoc chat session with `agent`: a new id, phase Active, started now.
pub async fn create_adhoc(
    pool: &PgPool,
    namespace: &str,
    agent: &str,
    title: Option<&str>,
) -> Result<SessionSummary, HistoryError> {
    let id = uuid::Uuid::new_v4().to_string();
    let sql = format!(
        "INSERT INTO sessions (session_id, namespace, agent, first_event_at, last_event_at, type, phase, \
         phase_at, title, created_by_api) VALUES ($1, $2, $3, now(), now(), '{ADHOC_TYPE}', '{ACTIVE}', now(), $4, true) \
         RETURNING {}",
        columns()
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(namespace)
        .bind(agent)
        .bind(title)
        .fetch_one(pool)
        .await?;
    Ok(summary(&row)?)
}

/// A page of `namespace`'s sessions matching `filters`, most recently active first.
pub async fn list(
    pool: &PgPool,
    namespace: &str,
    filters: &SessionFilters,
    limit: u32,
    cursor: Option<&str>,
) -> Result<SessionList, HistoryError> {
    let after = Cursor::parse(cursor)?;
    let mut c = Conditions::default();
    let ns = c.text(namespace);
    c.push(format!("namespace = {ns}"));
    for (column, value) in [("agent", &filters.agent), ("type", &filters.r#type), ("phase", &filters.phase)] {
        if let Some(value) = value {
            let p = c.text(value.as_str());
            c.push(format!("{column} = {p}"));
        }
    }
    if let Some(since) = filters.since {
        let p = c.int(micros(since));
        c.push(format!("last_event_at >= {}", from_micros_sql(&p)));
    }
    if let Some(until) = filters.until {
        let p = c.int(micros(until));
        c.push(format!("first_event_at < {}", from_micros_sql(&p)));
    }
    if let Some(after) = after {
        let (t, id) = (c.int(after.micros), c.text(after.id));
        c.push(format!("(last_event_at, session_id) < ({}, {id})", from_micros_sql(&t)));
    }
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let page = c.int(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1));
    let sql = format!(
        "SELECT {} FROM sessions WHERE {} ORDER BY last_event_at DESC, session_id DESC LIMIT {page}",
        columns(),
        c.sql()
    );
    let rows = c.bind(sqlx::query(AssertSqlSafe(sql))).fetch_all(pool).await?;
    let mut items = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    let mut next = None;
    if items.len() > limit {
        items.truncate(limit);
        let last = &rows[limit - 1];
        next =
            Some(Cursor { micros: last.try_get("last_micros")?, id: last.try_get("session_id")? }.encode());
    }
    Ok(SessionList { items, next })
}

/// The session `session_id` of `namespace`.
pub async fn get(pool: &PgPool, namespace: &str, session_id: &str) -> Result<SessionSummary, HistoryError> {
    let sql = format!("SELECT {} FROM sessions WHERE session_id = $1 AND namespace = $2", columns());
    let row = sqlx::query(AssertSqlSafe(sql)).bind(session_id).bind(namespace).fetch_optional(pool).await?;
    Ok(summary(&row.ok_or_else(|| not_found(session_id))?)?)
}

/// Ends the ad-hoc session `session_id`: phase Ended, ended now. [`HistoryError::SessionEnded`]
/// when it has ended already, [`HistoryError::DeclaredSession`] for a declared Session (which
/// ends by itself).
pub async fn end(pool: &PgPool, namespace: &str, session_id: &str) -> Result<SessionSummary, HistoryError> {
    let sql = format!(
        "UPDATE sessions SET phase = '{ENDED}', ended_at = now(), phase_at = now() \
         WHERE session_id = $1 AND namespace = $2 AND created_by_api AND ended_at IS NULL RETURNING {}",
        columns()
    );
    let row = sqlx::query(AssertSqlSafe(sql)).bind(session_id).bind(namespace).fetch_optional(pool).await?;
    match row {
        Some(row) => Ok(summary(&row)?),
        None => {
            // Not ended by this call: say why.
            let session = get(pool, namespace, session_id).await?;
            if session.ended_at.is_some() {
                Err(HistoryError::SessionEnded(session_id.to_string()))
            } else {
                Err(HistoryError::DeclaredSession(session_id.to_string()))
            }
        }
    }
}

pub(crate) fn not_found(session_id: &str) -> HistoryError {
    HistoryError::NotFound { what: "session", id: session_id.to_string() }
}

fn columns() -> String {
    format!(
        "session_id, namespace, agent, type, phase, title, {} AS first_micros, {} AS last_micros, \
         {} AS ended_micros, message_count, input_tokens, output_tokens, cost_usd",
        to_micros_sql("first_event_at"),
        to_micros_sql("last_event_at"),
        to_micros_sql("ended_at")
    )
}

fn summary(row: &PgRow) -> Result<SessionSummary, sqlx::Error> {
    let count = |column: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
    };
    Ok(SessionSummary {
        session_id: row.try_get("session_id")?,
        namespace: row.try_get("namespace")?,
        agent: row.try_get("agent")?,
        r#type: row.try_get("type")?,
        phase: row.try_get("phase")?,
        title: row.try_get("title")?,
        started_at: rfc3339(row.try_get("first_micros")?),
        last_activity_at: rfc3339(row.try_get("last_micros")?),
        ended_at: row.try_get::<Option<i64>, _>("ended_micros")?.map(rfc3339),
        message_count: count("message_count")?,
        input_tokens: count("input_tokens")?,
        output_tokens: count("output_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
    })
}
