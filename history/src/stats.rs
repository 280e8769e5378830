//! Statistics over a window, from the rollups: totals, by type and by answering agent.

use std::collections::BTreeMap;

use agentry_api_contract::history::{InteractionGroup, InteractionStats, InteractionTotals};
use jiff::Timestamp;
use sqlx::PgPool;

use crate::error::HistoryError;
use crate::rollup_window::{self, Figures, MinuteWindow};
use crate::time::rfc3339;

/// `namespace`'s interactions in `[since, until)` widened to whole minutes (the `since` and
/// `until` answered are the widened ones), of the answering `agent` when given. Latency
/// percentiles are within [`crate::histogram::RELATIVE_ERROR`] of the exact ones.
pub async fn stats(
    pool: &PgPool,
    namespace: &str,
    since: Timestamp,
    until: Timestamp,
    agent: Option<&str>,
) -> Result<InteractionStats, HistoryError> {
    let window = MinuteWindow::widen(since, until);
    let agents = agent.map(|a| vec![a.to_string()]);
    let rows = rollup_window::read(pool, namespace, window, agents.as_deref()).await?;
    let mut totals = Figures::default();
    let mut by_type: BTreeMap<String, Figures> = BTreeMap::new();
    let mut by_agent: BTreeMap<String, Figures> = BTreeMap::new();
    for row in rows {
        totals.merge(&row.figures);
        by_type.entry(row.r#type).or_default().merge(&row.figures);
        by_agent.entry(row.agent).or_default().merge(&row.figures);
    }
    Ok(InteractionStats {
        since: rfc3339(window.start),
        until: rfc3339(window.end),
        totals: totals_of(&totals),
        by_type: groups(by_type),
        by_agent: groups(by_agent),
    })
}

/// The contract's figures of a group.
pub(crate) fn totals_of(f: &Figures) -> InteractionTotals {
    InteractionTotals {
        count: f.count,
        errors: f.errors,
        error_rate: if f.count == 0 { 0.0 } else { f.errors as f64 / f.count as f64 },
        latency_ms: f.latency.percentiles(),
        input_tokens: f.input_tokens,
        output_tokens: f.output_tokens,
        cost_usd: f.cost_usd,
    }
}

/// Groups, busiest first (then by key).
fn groups(groups: BTreeMap<String, Figures>) -> Vec<InteractionGroup> {
    let mut groups: Vec<InteractionGroup> =
        groups.into_iter().map(|(key, f)| InteractionGroup { key, totals: totals_of(&f) }).collect();
    groups.sort_by(|a, b| b.totals.count.cmp(&a.totals.count).then_with(|| a.key.cmp(&b.key)));
    groups
}
