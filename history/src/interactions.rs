//! Recorded interactions: a filtered list, newest first, paged by `(created_at, request_id)`,
//! and one by request id.

use std::str::FromStr;

use agentry_api_contract::history::{Interaction, InteractionList};
use jiff::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::cursor::Cursor;
use crate::error::HistoryError;
use crate::sql_filter::Conditions;
use crate::time::{from_micros_sql, micros, rfc3339, to_micros_sql};

/// Characters of `query` and `response` a list item carries.
pub const LIST_TEXT_CHARS: i32 = 200;

/// How a request came (the `type` column, computed by the recorder as it inserts the row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractionType {
    /// From outside: depth 0, no session.
    Query,
    /// From another agent: delegation depth above 0.
    Delegation,
    /// A session's own request: depth 0, with a session id.
    Session,
}

impl InteractionType {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Delegation => "delegation",
            Self::Session => "session",
        }
    }
}

impl FromStr for InteractionType {
    type Err = HistoryError;

    /// Parses the API's `type` parameter; the error names it.
    fn from_str(text: &str) -> Result<Self, HistoryError> {
        match text {
            "query" => Ok(Self::Query),
            "delegation" => Ok(Self::Delegation),
            "session" => Ok(Self::Session),
            _ => Err(HistoryError::invalid("type", "must be query, delegation or session")),
        }
    }
}

/// Which outcomes a list keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeFilter {
    /// Answered.
    Ok,
    /// Failed, whatever the error.
    Error,
}

impl FromStr for OutcomeFilter {
    type Err = HistoryError;

    /// Parses the API's `outcome` parameter; the error names it.
    fn from_str(text: &str) -> Result<Self, HistoryError> {
        match text {
            "ok" => Ok(Self::Ok),
            "error" => Ok(Self::Error),
            _ => Err(HistoryError::invalid("outcome", "must be ok or error")),
        }
    }
}

/// The filters of an interaction list (`InteractionListQuery`, parsed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InteractionFilters {
    /// Asked by this agent or outside caller.
    pub from: Option<String>,
    /// Answered by this agent.
    pub to: Option<String>,
    /// Of this type.
    pub r#type: Option<InteractionType>,
    /// Of this session.
    pub session: Option<String>,
    /// With this outcome.
    pub outcome: Option<OutcomeFilter>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

/// A page of `namespace`'s interactions matching `filters`, newest first, at most `limit`
/// (query and response cut to [`LIST_TEXT_CHARS`]); `cursor` is the previous page's `next`.
pub async fn list(
    pool: &PgPool,
    namespace: &str,
    filters: &InteractionFilters,
    limit: u32,
    cursor: Option<&str>,
) -> Result<InteractionList, HistoryError> {
    let after = Cursor::parse(cursor)?;
    let mut c = Conditions::default();
    let ns = c.text(namespace);
    c.push(format!("namespace = {ns}"));
    let text_filters =
        [("from_agent", &filters.from), ("to_agent", &filters.to), ("session_id", &filters.session)];
    for (column, value) in text_filters {
        if let Some(value) = value {
            let p = c.text(value.as_str());
            c.push(format!("{column} = {p}"));
        }
    }
    if let Some(kind) = filters.r#type {
        let p = c.text(kind.as_str());
        c.push(format!("type = {p}"));
    }
    match filters.outcome {
        Some(OutcomeFilter::Ok) => c.push("outcome = 'ok'".into()),
        Some(OutcomeFilter::Error) => c.push("outcome <> 'ok'".into()),
        None => {}
    }
    if let Some(since) = filters.since {
        let p = c.int(micros(since));
        c.push(format!("created_at >= {}", from_micros_sql(&p)));
    }
    if let Some(until) = filters.until {
        let p = c.int(micros(until));
        c.push(format!("created_at < {}", from_micros_sql(&p)));
    }
    if let Some(after) = after {
        let (t, id) = (c.int(after.micros), c.text(after.id));
        c.push(format!("(created_at, request_id) < ({}, {id})", from_micros_sql(&t)));
    }
    let limit = i64::from(limit.max(1));
    let page = c.int(limit + 1);
    let sql = format!(
        "SELECT {} FROM interactions WHERE {} ORDER BY created_at DESC, request_id DESC LIMIT {page}",
        columns(Some(LIST_TEXT_CHARS)),
        c.sql()
    );
    let rows = c.bind(sqlx::query(AssertSqlSafe(sql))).fetch_all(pool).await?;
    let mut items = rows.iter().map(interaction).collect::<Result<Vec<_>, _>>()?;
    let next = page_cursor(&mut items, limit, &rows);
    Ok(InteractionList { items, next })
}

/// The interaction of `request_id` in `namespace`, texts in full.
pub async fn get(pool: &PgPool, namespace: &str, request_id: &str) -> Result<Interaction, HistoryError> {
    let sql = format!("SELECT {} FROM interactions WHERE request_id = $1 AND namespace = $2", columns(None));
    let row = sqlx::query(AssertSqlSafe(sql)).bind(request_id).bind(namespace).fetch_optional(pool).await?;
    let row =
        row.ok_or_else(|| HistoryError::NotFound { what: "interaction", id: request_id.to_string() })?;
    Ok(interaction(&row)?)
}

/// With more rows than `limit`, drops the extra one and returns the cursor after the last kept.
fn page_cursor(items: &mut Vec<Interaction>, limit: i64, rows: &[PgRow]) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    let last = rows.get(limit - 1)?;
    let micros: i64 = last.try_get("created_micros").ok()?;
    let id: String = last.try_get("request_id").ok()?;
    Some(Cursor { micros, id }.encode())
}

/// The selected columns; texts cut to `cut` characters when given.
fn columns(cut: Option<i32>) -> String {
    let text = |column: &str| match cut {
        Some(n) => format!("left({column}, {n}) AS {column}"),
        None => column.to_string(),
    };
    format!(
        "request_id, parent_request_id, type, session_id, from_agent, to_agent, outcome, error, {}, {}, \
         latency_ms, model, input_tokens, output_tokens, cost_usd, delegation_depth, {} AS created_micros",
        text("query"),
        text("response"),
        to_micros_sql("created_at")
    )
}

fn interaction(row: &PgRow) -> Result<Interaction, sqlx::Error> {
    let count = |column: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
    };
    Ok(Interaction {
        request_id: row.try_get("request_id")?,
        parent_request_id: row.try_get("parent_request_id")?,
        r#type: row.try_get("type")?,
        session_id: row.try_get("session_id")?,
        from_agent: row.try_get("from_agent")?,
        to_agent: row.try_get("to_agent")?,
        outcome: row.try_get("outcome")?,
        error: row.try_get("error")?,
        query: row.try_get("query")?,
        response: row.try_get("response")?,
        latency_ms: count("latency_ms")?,
        model: row.try_get("model")?,
        input_tokens: count("input_tokens")?,
        output_tokens: count("output_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        delegation_depth: u32::try_from(row.try_get::<i32, _>("delegation_depth")?).unwrap_or_default(),
        created_at: rfc3339(row.try_get("created_micros")?),
    })
}
