//! A session's messages, oldest first and paged by `(created_at, event_id)`, and its
//! conversation: the user's question and the agent's final answer of each top-level request.
//!
//! A session's messages include those of requests its agent delegated (they carry the session
//! id too). A delegated request's id is its parent's followed by `.<suffix>` and its
//! interaction has `delegation_depth > 0`; the conversation keeps only the session agent's
//! messages of requests that are neither, so no delegate's exchange leaks into it.

use agentry_api_contract::sessions::{MessageList, SessionMessage};
use sqlx::{PgPool, Row};

use crate::cursor::Cursor;
use crate::error::HistoryError;
use crate::sessions::not_found;
use crate::time::rfc3339;

/// One exchange of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationTurn {
    /// The request.
    pub request_id: String,
    /// What the user asked.
    pub user: String,
    /// The agent's last non-empty answer, if it gave one.
    pub assistant: Option<String>,
}

/// A page of the messages of `session_id`, oldest first.
pub async fn messages(
    pool: &PgPool,
    namespace: &str,
    session_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<MessageList, HistoryError> {
    let after = Cursor::parse(cursor)?;
    ensure_exists(pool, namespace, session_id).await?;
    let limit = i64::from(limit.max(1));
    let (after_micros, after_id) = after.map_or((None, None), |c| (Some(c.micros), Some(c.id)));
    // `$3 IS NULL` here is harmless: either way the session's index gives the order.
    let rows = sqlx::query(
        "SELECT role, content, agent, request_id, tool_name, \
         (extract(epoch FROM created_at) * 1000000)::int8 AS micros, event_id \
         FROM messages WHERE session_id = $1 AND namespace = $2 \
         AND ($3::int8 IS NULL OR (created_at, event_id) > \
             (timestamptz 'epoch' + $3::int8 * interval '1 microsecond', $4::text)) \
         ORDER BY created_at, event_id LIMIT $5",
    )
    .bind(session_id)
    .bind(namespace)
    .bind(after_micros)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut next = None;
    if rows.len() > page {
        let last = &rows[page - 1];
        next = Some(Cursor { micros: last.try_get("micros")?, id: last.try_get("event_id")? }.encode());
    }
    let items = rows
        .iter()
        .take(page)
        .map(|row| {
            Ok(SessionMessage {
                role: row.try_get("role")?,
                content: row.try_get("content")?,
                agent: row.try_get("agent")?,
                request_id: row.try_get("request_id")?,
                tool_name: row.try_get("tool_name")?,
                created_at: rfc3339(row.try_get("micros")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(MessageList { items, next })
}

/// The last `max_turns` top-level exchanges of `session_id`, oldest first: what to send the
/// agent as the conversation so far.
pub async fn conversation(
    pool: &PgPool,
    namespace: &str,
    session_id: &str,
    max_turns: u32,
) -> Result<Vec<ConversationTurn>, HistoryError> {
    ensure_exists(pool, namespace, session_id).await?;
    let rows = sqlx::query(
        "WITH session AS (SELECT agent FROM sessions WHERE session_id = $1 AND namespace = $2), \
         own AS ( \
             SELECT m.* FROM messages m, session s \
             WHERE m.session_id = $1 AND m.namespace = $2 AND m.agent = s.agent \
             AND m.role IN ('user', 'assistant') \
             AND NOT EXISTS (SELECT 1 FROM interactions i \
                 WHERE i.request_id = m.request_id AND i.delegation_depth > 0) \
         ), top AS ( \
             SELECT u.request_id, min(u.created_at) AS asked_at FROM own u WHERE u.role = 'user' \
             AND NOT EXISTS (SELECT 1 FROM own p WHERE p.role = 'user' AND p.request_id <> u.request_id \
                 AND left(u.request_id, length(p.request_id) + 1) = p.request_id || '.') \
             GROUP BY u.request_id ORDER BY asked_at DESC LIMIT $3 \
         ) \
         SELECT t.request_id, \
             (SELECT content FROM own q WHERE q.request_id = t.request_id AND q.role = 'user' \
                 ORDER BY q.created_at, q.event_id LIMIT 1) AS user_text, \
             (SELECT content FROM own a WHERE a.request_id = t.request_id AND a.role = 'assistant' \
                 AND a.content <> '' ORDER BY a.created_at DESC, a.event_id DESC LIMIT 1) AS answer \
         FROM top t ORDER BY t.asked_at, t.request_id",
    )
    .bind(session_id)
    .bind(namespace)
    .bind(i64::from(max_turns))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ConversationTurn {
                request_id: row.try_get("request_id")?,
                user: row.try_get::<Option<String>, _>("user_text")?.unwrap_or_default(),
                assistant: row.try_get("answer")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(HistoryError::from)
}

async fn ensure_exists(pool: &PgPool, namespace: &str, session_id: &str) -> Result<(), HistoryError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM sessions WHERE session_id = $1 AND namespace = $2")
            .bind(session_id)
            .bind(namespace)
            .fetch_optional(pool)
            .await?;
    found.map(|_| ()).ok_or_else(|| not_found(session_id))
}
