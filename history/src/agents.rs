//! How agents perform: one agent over a window (rollups plus its tool calls), and many at once
//! for choosing one.

use std::collections::HashMap;

use agentry_api_contract::agents::{AgentPerformance, ToolUsage};
use jiff::{SignedDuration, Timestamp};
use sqlx::{PgPool, Row};

use crate::error::HistoryError;
use crate::rollup_window::{self, Figures, MinuteWindow};
use crate::time::{micros, rfc3339};

/// What [`rank_agents`] ranks by: success rate and p95 over the last hour, load over the last
/// five minutes.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentRanking {
    /// The agent.
    pub agent: String,
    /// Share answered without error over the last hour (1 with no requests).
    pub success_rate: f64,
    /// p95 latency over the last hour, milliseconds (`None` with no requests).
    pub p95_latency_ms: Option<f64>,
    /// Requests answered or failed over the last hour.
    pub requests_last_hour: u64,
    /// Requests answered or failed over the last five minutes.
    pub requests_last_5_minutes: u64,
}

/// How `agent` (as the answering agent) did in `[since, until)` widened to whole minutes:
/// requests, success rate, latency percentiles, tokens and cost from the rollups; tool usage
/// from its tool calls in the exact window.
pub async fn agent_performance(
    pool: &PgPool,
    namespace: &str,
    agent: &str,
    since: Timestamp,
    until: Timestamp,
) -> Result<AgentPerformance, HistoryError> {
    let window = MinuteWindow::widen(since, until);
    let only = [agent.to_string()];
    let rows = rollup_window::read(pool, namespace, window, Some(&only[..])).await?;
    let mut f = Figures::default();
    rows.iter().for_each(|row| f.merge(&row.figures));
    Ok(AgentPerformance {
        agent: agent.to_string(),
        since: rfc3339(window.start),
        until: rfc3339(window.end),
        requests: f.count,
        success_rate: success_rate(&f),
        latency_ms: f.latency.percentiles(),
        input_tokens: f.input_tokens,
        output_tokens: f.output_tokens,
        cost_usd: f.cost_usd,
        tools: tool_usage(pool, namespace, agent, since, until).await?,
    })
}

/// Every agent of `agents` with its figures as of `now`, in the order given (agents without
/// history have success rate 1, no p95 and no load).
pub async fn rank_agents(
    pool: &PgPool,
    namespace: &str,
    agents: &[String],
    now: Timestamp,
) -> Result<Vec<AgentRanking>, HistoryError> {
    let back = |minutes: i64| now.checked_sub(SignedDuration::from_mins(minutes)).unwrap_or(now);
    let hour = by_agent(
        rollup_window::read(pool, namespace, MinuteWindow::widen(back(60), now), Some(agents)).await?,
    );
    let recent = by_agent(
        rollup_window::read(pool, namespace, MinuteWindow::widen(back(5), now), Some(agents)).await?,
    );
    let none = Figures::default();
    Ok(agents
        .iter()
        .map(|agent| {
            let h = hour.get(agent).unwrap_or(&none);
            AgentRanking {
                agent: agent.clone(),
                success_rate: success_rate(h),
                p95_latency_ms: h.latency.quantile(0.95),
                requests_last_hour: h.count,
                requests_last_5_minutes: recent.get(agent).map_or(0, |f| f.count),
            }
        })
        .collect())
}

fn by_agent(rows: Vec<rollup_window::RollupRow>) -> HashMap<String, Figures> {
    let mut agents: HashMap<String, Figures> = HashMap::new();
    for row in rows {
        agents.entry(row.agent).or_default().merge(&row.figures);
    }
    agents
}

fn success_rate(f: &Figures) -> f64 {
    if f.count == 0 { 1.0 } else { (f.count - f.errors.min(f.count)) as f64 / f.count as f64 }
}

/// `agent`'s tool calls in `[since, until)` by tool, most called first.
async fn tool_usage(
    pool: &PgPool,
    namespace: &str,
    agent: &str,
    since: Timestamp,
    until: Timestamp,
) -> Result<Vec<ToolUsage>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT tool, count(*), count(*) FILTER (WHERE NOT ok), avg(duration_ms)::float8 \
         FROM tool_calls WHERE agent = $1 AND namespace = $2 \
         AND created_at >= timestamptz 'epoch' + $3::int8 * interval '1 microsecond' \
         AND created_at < timestamptz 'epoch' + $4::int8 * interval '1 microsecond' \
         GROUP BY tool ORDER BY count(*) DESC, tool",
    )
    .bind(agent)
    .bind(namespace)
    .bind(micros(since))
    .bind(micros(until))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ToolUsage {
                tool: row.try_get(0)?,
                calls: u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or_default(),
                errors: u64::try_from(row.try_get::<i64, _>(2)?).unwrap_or_default(),
                mean_duration_ms: row.try_get(3)?,
            })
        })
        .collect()
}
