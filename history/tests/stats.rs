//! Statistics, agent performance, ranking and costs against a real PostgreSQL: rollups written by
//! the recorder's statement, compared with figures computed here from the same events.

mod support;

use agentry_history::histogram::RELATIVE_ERROR;
use agentry_history::{agent_performance, costs, rank_agents, stats};
use agentry_protocol::Usage;
use agentry_protocol::events::{EventBody, ModelCallEvent, ToolCallEvent};
use jiff::{SignedDuration, Timestamp};
use support::{History, Shape, at, event, interaction, ms};

/// The nearest-rank quantile of `values`.
#[allow(clippy::cast_possible_truncation)]
fn exact(values: &[u64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

fn assert_close(estimate: Option<f64>, exact: f64, what: &str) {
    let estimate = estimate.unwrap_or_else(|| panic!("{what}: no estimate"));
    assert!((estimate - exact).abs() <= exact * RELATIVE_ERROR, "{what}: {estimate} vs exact {exact}");
}

/// 3,000 interactions over two days from 2026-11-01T22:30Z, 30 s apart, spread over agents
/// `a0`..`a2` and the three types, latencies from 3 ms to about 2 minutes, every seventh failed.
fn workload() -> Vec<(agentry_protocol::events::Event, u64, String, bool)> {
    let start = ms(at("2026-11-01T22:30:00Z"));
    (0..3_000u64)
        .map(|i| {
            let agent = format!("a{}", i % 3);
            let latency = 3 + (i * 7919) % 120_000;
            let failed = i % 7 == 0;
            let shape = Shape {
                from: Some("caller"),
                depth: u32::from(i % 4 == 1),
                latency_ms: latency,
                failed,
                tokens: (i % 50, 7),
                cost: 0.0005,
            };
            let session = (i % 4 == 2).then_some("s");
            let e = interaction("fleet", &agent, &format!("r{i}"), session, start + i * 30_000, &shape);
            (e, latency, agent, failed)
        })
        .collect()
}

#[tokio::test]
async fn stats_match_the_rows_with_percentiles_within_the_stated_error() {
    let history = History::start().await;
    let work = workload();
    for chunk in work.chunks(400) {
        history.write(chunk.iter().map(|w| w.0.clone()).collect()).await;
    }
    // Windows: all of it, an unaligned one across a day boundary, and one agent's.
    for (since, until, agent) in [
        ("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z", None),
        ("2026-11-01T23:17:00Z", "2026-11-02T05:43:00Z", None),
        ("2026-11-02T01:00:00Z", "2026-11-03T01:00:00Z", Some("a1")),
    ] {
        let (s, u) = (at(since), at(until));
        let chosen: Vec<_> = work
            .iter()
            .filter(|w| w.0.time_ms >= ms(s) && w.0.time_ms < ms(u) && agent.is_none_or(|a| a == w.2))
            .collect();
        let got = stats(&history.pool, "fleet", s, u, agent).await.expect("stats");
        let what = format!("{since}..{until} {agent:?}");
        assert_eq!(got.totals.count, chosen.len() as u64, "{what}");
        assert_eq!(got.totals.errors, chosen.iter().filter(|w| w.3).count() as u64, "{what}");
        let latencies: Vec<u64> = chosen.iter().map(|w| w.1).collect();
        for (q, estimate) in [
            (0.5, got.totals.latency_ms.p50),
            (0.95, got.totals.latency_ms.p95),
            (0.99, got.totals.latency_ms.p99),
        ] {
            assert_close(estimate, exact(&latencies, q), &format!("{what} q{q}"));
        }
        let tokens: u64 = chosen.iter().map(|w| ms_tokens(&w.0)).sum();
        assert_eq!(got.totals.input_tokens, tokens, "{what}");
        assert!((got.totals.cost_usd - 0.0005 * chosen.len() as f64).abs() < 1e-9, "{what}");
        assert_eq!(got.by_type.iter().map(|g| g.totals.count).sum::<u64>(), got.totals.count);
        assert_eq!(got.by_agent.iter().map(|g| g.totals.count).sum::<u64>(), got.totals.count);
        if agent.is_some() {
            assert_eq!(got.by_agent.len(), 1, "{what}");
        } else {
            assert_eq!(got.by_agent.len(), 3, "{what}");
            assert_eq!(got.by_type.len(), 3, "{what}");
        }
    }
    let empty = stats(&history.pool, "fleet", at("2020-01-01T00:00:00Z"), at("2020-01-02T00:00:00Z"), None)
        .await
        .expect("stats");
    assert_eq!((empty.totals.count, empty.totals.latency_ms.p95, empty.totals.error_rate), (0, None, 0.0));
}

fn ms_tokens(e: &agentry_protocol::events::Event) -> u64 {
    match &e.body {
        EventBody::Interaction(i) => i.usage.input_tokens,
        _ => 0,
    }
}

#[tokio::test]
async fn redelivered_batches_count_once_in_the_rollups() {
    let history = History::start().await;
    let work: Vec<_> = workload().into_iter().take(500).map(|w| w.0).collect();
    assert_eq!(history.write(work[..300].to_vec()).await, 300);
    // The first batch again, then one overlapping it: only new rows count.
    assert_eq!(history.write(work[..300].to_vec()).await, 0);
    assert_eq!(history.write(work[200..].to_vec()).await, 200);
    let (since, until) = (at("2026-11-01T00:00:00Z"), at("2026-11-05T00:00:00Z"));
    let got = stats(&history.pool, "fleet", since, until, None).await.expect("stats");
    assert_eq!(got.totals.count, 500);
    let total: i64 =
        sqlx::query_scalar("SELECT sum(count)::int8 FROM interaction_rollups WHERE grain_seconds = 60")
            .fetch_one(&history.pool)
            .await
            .expect("sum");
    assert_eq!(total, 500, "the minute grain holds each interaction once");
    for grain in [3_600, 86_400] {
        let sum: i64 =
            sqlx::query_scalar("SELECT sum(count)::int8 FROM interaction_rollups WHERE grain_seconds = $1")
                .bind(grain)
                .fetch_one(&history.pool)
                .await
                .expect("sum");
        assert_eq!(sum, 500, "grain {grain}");
    }
}

#[tokio::test]
async fn agent_performance_ranking_and_costs() {
    let history = History::start().await;
    let now = Timestamp::now();
    let ago = |minutes: i64| ms(now.checked_sub(SignedDuration::from_mins(minutes)).expect("time"));
    let mut events = Vec::new();
    // `fast` answered 40 in the last hour (10 of them in the last 5 minutes), 4 failed.
    for i in 0..40u64 {
        let shape = Shape { latency_ms: 100 + i, failed: i < 4, ..Shape::default() };
        let when = if i < 10 { ago(2) } else { ago(30) };
        events.push(interaction("fleet", "fast", &format!("f{i}"), None, when, &shape));
    }
    // `slow` answered 10 an hour and a half ago, all fine but slow.
    for i in 0..10u64 {
        let shape = Shape { latency_ms: 9_000, ..Shape::default() };
        events.push(interaction("fleet", "slow", &format!("s{i}"), None, ago(90), &shape));
    }
    for (i, (tool, ok)) in [("search", true), ("search", false), ("calc", true)].into_iter().enumerate() {
        let body = EventBody::ToolCall(ToolCallEvent {
            tool: tool.into(),
            arguments: serde_json::json!({}),
            ok,
            error: (!ok).then(|| "HTTP 500".into()),
            duration_ms: 10 * (i as u64 + 1),
        });
        events.push(event(&format!("t{i}"), ago(20), "fleet", "fast", "f20", None, body));
    }
    for (i, (agent, model, cost)) in
        [("fast", "m1", 0.25), ("fast", "m1", 0.25), ("fast", "m2", 1.0)].into_iter().enumerate()
    {
        let body = EventBody::ModelCall(ModelCallEvent {
            model: model.into(),
            provider: "p".into(),
            ok: true,
            error: None,
            latency_ms: 5,
            attempts: 1,
            usage: Usage { input_tokens: 10, output_tokens: 1, cost_usd: cost },
        });
        events.push(event(
            &format!("mc{i}"),
            ms(at("2026-11-01T12:00:00Z")),
            "fleet",
            agent,
            "x",
            None,
            body,
        ));
    }
    history.write(events).await;

    let hour_ago = now.checked_sub(SignedDuration::from_hours(1)).expect("time");
    let perf = agent_performance(&history.pool, "fleet", "fast", hour_ago, now).await.expect("performance");
    assert_eq!(perf.requests, 40);
    assert!((perf.success_rate - 0.9).abs() < 1e-12, "{}", perf.success_rate);
    let latencies: Vec<u64> = (0..40).map(|i| 100 + i).collect();
    assert_close(perf.latency_ms.p95, exact(&latencies, 0.95), "fast p95");
    assert_eq!(perf.tools.len(), 2);
    assert_eq!((perf.tools[0].tool.as_str(), perf.tools[0].calls, perf.tools[0].errors), ("search", 2, 1));
    assert!((perf.tools[0].mean_duration_ms - 15.0).abs() < 1e-9);

    let agents = ["fast".to_string(), "slow".to_string(), "new".to_string()];
    let ranking = rank_agents(&history.pool, "fleet", &agents, now).await.expect("ranking");
    assert_eq!(ranking.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>(), ["fast", "slow", "new"]);
    assert_eq!((ranking[0].requests_last_hour, ranking[0].requests_last_5_minutes), (40, 10));
    assert_eq!(
        (ranking[1].requests_last_hour, ranking[1].p95_latency_ms, ranking[1].success_rate),
        (0, None, 1.0)
    );
    assert_eq!((ranking[2].requests_last_hour, ranking[2].success_rate), (0, 1.0));

    let report = costs(&history.pool, "fleet", at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"))
        .await
        .expect("costs");
    let lines: Vec<_> =
        report.lines.iter().map(|l| (l.day.as_str(), l.model.as_str(), l.calls, l.cost_usd)).collect();
    assert_eq!(lines, [("2026-11-01", "m1", 2, 0.5), ("2026-11-01", "m2", 1, 1.0)]);
    assert!((report.total_cost_usd - 1.5).abs() < 1e-12);
}
