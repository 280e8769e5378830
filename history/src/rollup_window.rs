//! Reading `interaction_rollups` over a window: the window widened to whole minutes, covered by
//! as few rollup rows as its alignment allows (whole UTC days, then whole hours, then minutes at
//! its edges), read in one query.

use jiff::Timestamp;
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::histogram::LatencyHistogram;

/// The grains the recorder keeps, coarsest first, in seconds.
const GRAINS: [i64; 3] = [86_400, 3_600, 60];
const MICROS: i64 = 1_000_000;

/// A window at minute resolution, microseconds since the epoch: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MinuteWindow {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl MinuteWindow {
    /// `[since, until)` widened to whole minutes: `since` down, `until` up.
    pub(crate) fn widen(since: Timestamp, until: Timestamp) -> Self {
        let minute = 60 * MICROS;
        let start = since.as_microsecond().div_euclid(minute) * minute;
        let end = -((-until.as_microsecond()).div_euclid(minute) * minute);
        Self { start, end: end.max(start) }
    }
}

/// Rollup rows of one grain with `bucket_start` in `[from, to)` (microseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    grain_seconds: i64,
    from: i64,
    to: i64,
}

/// The spans covering `[from, to)` (aligned to minutes) with the coarsest grains that fit.
fn cover(from: i64, to: i64, grains: &[i64], spans: &mut Vec<Span>) {
    let Some((&grain, finer)) = grains.split_first() else { return };
    if from >= to {
        return;
    }
    if finer.is_empty() {
        spans.push(Span { grain_seconds: grain, from, to });
        return;
    }
    let size = grain * MICROS;
    let (inner_from, inner_to) = (-((-from).div_euclid(size) * size), to.div_euclid(size) * size);
    if inner_from < inner_to {
        spans.push(Span { grain_seconds: grain, from: inner_from, to: inner_to });
        cover(from, inner_from, finer, spans);
        cover(inner_to, to, finer, spans);
    } else {
        cover(from, to, finer, spans);
    }
}

/// One rollup row's figures.
#[derive(Clone, Debug, Default)]
pub(crate) struct Figures {
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_usd: f64,
    pub(crate) latency: LatencyHistogram,
}

impl Figures {
    /// Adds `other` in.
    pub(crate) fn merge(&mut self, other: &Figures) {
        self.count += other.count;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd += other.cost_usd;
        self.latency.merge(&other.latency);
    }
}

/// A rollup row: answering agent, type and figures.
pub(crate) struct RollupRow {
    pub(crate) agent: String,
    pub(crate) r#type: String,
    pub(crate) figures: Figures,
}

/// The rollup rows of `namespace` covering `window`, of the `agents` given (all when `None`).
pub(crate) async fn read(
    pool: &PgPool,
    namespace: &str,
    window: MinuteWindow,
    agents: Option<&[String]>,
) -> Result<Vec<RollupRow>, sqlx::Error> {
    let mut spans = Vec::new();
    cover(window.start, window.end, &GRAINS, &mut spans);
    let grains: Vec<i32> = spans.iter().map(|s| i32::try_from(s.grain_seconds).unwrap_or(60)).collect();
    let froms: Vec<i64> = spans.iter().map(|s| s.from).collect();
    let tos: Vec<i64> = spans.iter().map(|s| s.to).collect();
    let agent_filter = if agents.is_some() { "AND x.agent = ANY($5::text[])" } else { "" };
    // LATERAL: one index range scan per span, whatever the planner guesses of `unnest`'s rows (a
    // hash join would read every rollup row of the namespace).
    let sql = format!(
        "SELECT r.agent, r.type, r.count, r.errors, r.input_tokens, r.output_tokens, r.cost_usd, \
         r.latency_histogram \
         FROM unnest($2::int4[], $3::int8[], $4::int8[]) AS w(grain, lo, hi) \
         CROSS JOIN LATERAL (SELECT * FROM interaction_rollups x \
             WHERE x.namespace = $1 AND x.grain_seconds = w.grain \
             AND x.bucket_start >= timestamptz 'epoch' + w.lo * interval '1 microsecond' \
             AND x.bucket_start < timestamptz 'epoch' + w.hi * interval '1 microsecond' \
             {agent_filter} OFFSET 0) AS r"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(namespace).bind(grains).bind(froms).bind(tos);
    if let Some(agents) = agents {
        query = query.bind(agents.to_vec());
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let count = |i: usize| -> Result<u64, sqlx::Error> {
                Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or_default())
            };
            let mut latency = LatencyHistogram::default();
            latency.add_stored(&row.try_get::<Vec<i64>, _>(7)?);
            Ok(RollupRow {
                agent: row.try_get(0)?,
                r#type: row.try_get(1)?,
                figures: Figures {
                    count: count(2)?,
                    errors: count(3)?,
                    input_tokens: count(4)?,
                    output_tokens: count(5)?,
                    cost_usd: row.try_get(6)?,
                    latency,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn windows_widen_to_whole_minutes() {
        let w = MinuteWindow::widen(at("2026-11-30T10:00:30Z"), at("2026-11-30T10:05:00.001Z"));
        assert_eq!(w.start, at("2026-11-30T10:00:00Z").as_microsecond());
        assert_eq!(w.end, at("2026-11-30T10:06:00Z").as_microsecond());
    }

    #[test]
    fn days_then_hours_then_minutes_cover_the_window_exactly() {
        let w = MinuteWindow::widen(at("2026-11-28T22:58:00Z"), at("2026-11-30T01:02:00Z"));
        let mut spans = Vec::new();
        cover(w.start, w.end, &GRAINS, &mut spans);
        let us = |t: &str| at(t).as_microsecond();
        assert_eq!(
            spans,
            [
                Span {
                    grain_seconds: 86_400,
                    from: us("2026-11-29T00:00:00Z"),
                    to: us("2026-11-30T00:00:00Z")
                },
                Span {
                    grain_seconds: 3_600,
                    from: us("2026-11-28T23:00:00Z"),
                    to: us("2026-11-29T00:00:00Z")
                },
                Span { grain_seconds: 60, from: us("2026-11-28T22:58:00Z"), to: us("2026-11-28T23:00:00Z") },
                Span {
                    grain_seconds: 3_600,
                    from: us("2026-11-30T00:00:00Z"),
                    to: us("2026-11-30T01:00:00Z")
                },
                Span { grain_seconds: 60, from: us("2026-11-30T01:00:00Z"), to: us("2026-11-30T01:02:00Z") },
            ]
        );
        let mut short = Vec::new();
        cover(us("2026-11-30T01:00:00Z"), us("2026-11-30T01:02:00Z"), &GRAINS, &mut short);
        assert_eq!(short.len(), 1, "{short:?}");
    }
}
