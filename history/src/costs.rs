//! Cost by UTC day, agent and model, from the model calls (every provider call once, whichever
//! agent made it).

use agentry_api_contract::history::{CostLine, CostReport};
use jiff::Timestamp;
use sqlx::{PgPool, Row};

use crate::error::HistoryError;
use crate::time::{micros, rfc3339};

/// `namespace`'s model calls in `[since, until)` summed by day (UTC), agent and model, in that
/// order. Read from `model_calls` through its `(namespace, created_at)` index: a window's cost is
/// as fast as its number of model calls allows (no rollup).
pub async fn costs(
    pool: &PgPool,
    namespace: &str,
    since: Timestamp,
    until: Timestamp,
) -> Result<CostReport, HistoryError> {
    let rows = sqlx::query(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, agent, model, count(*), \
         sum(input_tokens)::int8, sum(output_tokens)::int8, sum(cost_usd) \
         FROM model_calls WHERE namespace = $1 \
         AND created_at >= timestamptz 'epoch' + $2::int8 * interval '1 microsecond' \
         AND created_at < timestamptz 'epoch' + $3::int8 * interval '1 microsecond' \
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .bind(namespace)
    .bind(micros(since))
    .bind(micros(until))
    .fetch_all(pool)
    .await?;
    let count = |row: &sqlx::postgres::PgRow, i: usize| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or_default())
    };
    let lines = rows
        .iter()
        .map(|row| {
            Ok(CostLine {
                day: row.try_get(0)?,
                agent: row.try_get(1)?,
                model: row.try_get(2)?,
                calls: count(row, 3)?,
                input_tokens: count(row, 4)?,
                output_tokens: count(row, 5)?,
                cost_usd: row.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let total_cost_usd = lines.iter().map(|l| l.cost_usd).sum();
    Ok(CostReport { since: rfc3339(micros(since)), until: rfc3339(micros(until)), lines, total_cost_usd })
}
