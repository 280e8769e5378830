//! `agentry interactions list | stats`: the recorded history of requests and figures over it.

use agentry_api_contract::history::{
    Interaction, InteractionGroup, InteractionList, InteractionListQuery, InteractionStats,
    InteractionTotals, StatsQuery,
};
use agentry_api_contract::paths;
use clap::{Args, Subcommand};
use jiff::Timestamp;

use super::pages::{self, Page};
use crate::connection::ApiClient;
use crate::output::{
    OutputFormat, Table, age_since, fields, latency, one_line, percent, print_list, print_object, print_text,
    tokens, usd,
};
use crate::timing::{Span, parse_instant, parse_window};

/// `agentry interactions`.
#[derive(Debug, Subcommand)]
pub(crate) enum InteractionsCommand {
    /// Recorded interactions, newest first.
    List(ListArgs),
    /// Counts, errors, latency, tokens and cost over a window, in total, by type and by agent.
    Stats(StatsArgs),
}

/// `agentry interactions list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only requests from this agent (or outside caller).
    #[arg(long)]
    from: Option<String>,
    /// Only requests answered by this agent.
    #[arg(long)]
    to: Option<String>,
    /// Only this type: query, delegation or session.
    #[arg(long = "type", value_name = "TYPE")]
    interaction_type: Option<String>,
    /// Only this session's.
    #[arg(long)]
    session: Option<String>,
    /// Only `ok` or only `error` outcomes.
    #[arg(long)]
    outcome: Option<String>,
    /// At or after: a time (RFC 3339) or a duration back from now (2h, 7d).
    #[arg(long, value_parser = parse_instant)]
    since: Option<String>,
    /// Before: a time (RFC 3339) or a duration back from now.
    #[arg(long, value_parser = parse_instant)]
    until: Option<String>,
    /// Page size (1 to 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: Option<u32>,
    /// Follow every page, not only the first.
    #[arg(long)]
    all: bool,
}

/// `agentry interactions stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Length back from now (or from --until): 15m, 1h, 24h, 7d (default 24h).
    #[arg(long, value_parser = parse_window, conflicts_with = "since")]
    window: Option<Span>,
    /// Start: a time (RFC 3339) or a duration back from now.
    #[arg(long, value_parser = parse_instant)]
    since: Option<String>,
    /// End: a time (RFC 3339) or a duration back from now (default now).
    #[arg(long, value_parser = parse_instant)]
    until: Option<String>,
    /// Only this answering agent.
    #[arg(long)]
    agent: Option<String>,
}

/// Run `agentry interactions ...`.
pub(crate) async fn run(
    client: &ApiClient,
    command: InteractionsCommand,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        InteractionsCommand::List(args) => list(client, args, format).await,
        InteractionsCommand::Stats(args) => {
            let query = StatsQuery {
                since: args.since,
                until: args.until,
                window: args.window.map(|w| w.to_string()),
                agent: args.agent,
            };
            let path = paths::fill(paths::INTERACTION_STATS, &[client.namespace()]);
            let stats: InteractionStats = client.get(&path, &query).await?;
            if !print_object(format, &stats)? {
                print_text(&render_stats(&stats))?;
            }
            Ok(())
        }
    }
}

async fn list(client: &ApiClient, args: ListArgs, format: OutputFormat) -> anyhow::Result<()> {
    let path = paths::fill(paths::INTERACTIONS, &[client.namespace()]);
    let base = InteractionListQuery {
        from: args.from,
        to: args.to,
        r#type: args.interaction_type,
        session: args.session,
        outcome: args.outcome,
        since: args.since,
        until: args.until,
        limit: args.limit,
        cursor: None,
    };
    let page = pages::collect(args.all, |cursor| {
        let query = InteractionListQuery { cursor, ..base.clone() };
        let path = &path;
        async move {
            let list: InteractionList = client.get(path, &query).await?;
            Ok(Page { items: list.items, next: list.next })
        }
    })
    .await?;
    let list = InteractionList { items: page.items, next: page.next };
    if print_object(format, &list)? {
        return Ok(());
    }
    print_list(&interaction_table(&list.items, Timestamp::now()), "interactions", client.namespace())?;
    pages::note_more(list.next.as_deref(), "interactions");
    Ok(())
}

fn interaction_table(items: &[Interaction], now: Timestamp) -> Table {
    let mut table = Table::new(&[
        "REQUEST", "TYPE", "FROM", "TO", "OUTCOME", "LATENCY", "TOKENS", "COST", "AGE", "QUERY",
    ]);
    for i in items {
        // Display only: a latency in milliseconds fits an f64 exactly.
        #[allow(clippy::cast_precision_loss)]
        let latency_ms = i.latency_ms as f64;
        table.push(vec![
            i.request_id.clone(),
            i.r#type.clone(),
            i.from_agent.clone().unwrap_or_default(),
            i.to_agent.clone(),
            i.outcome.clone(),
            latency(Some(latency_ms)),
            tokens(i.input_tokens + i.output_tokens),
            usd(i.cost_usd),
            age_since(&i.created_at, now),
            one_line(&i.query, 50),
        ]);
    }
    table
}

fn render_stats(stats: &InteractionStats) -> String {
    let t = &stats.totals;
    let mut text = fields(&[
        ("Window", format!("{} to {}", stats.since, stats.until)),
        ("Interactions", t.count.to_string()),
        ("Errors", format!("{} ({})", t.errors, percent(t.error_rate))),
        (
            "Latency",
            format!(
                "p50 {}, p95 {}, p99 {}",
                or_none(latency(t.latency_ms.p50)),
                or_none(latency(t.latency_ms.p95)),
                or_none(latency(t.latency_ms.p99))
            ),
        ),
        ("Tokens", format!("{} in, {} out", tokens(t.input_tokens), tokens(t.output_tokens))),
        ("Cost", usd(t.cost_usd)),
    ]);
    text.push_str("\nBY TYPE\n");
    text.push_str(&group_table("TYPE", &stats.by_type).render());
    text.push_str("\nBY AGENT\n");
    text.push_str(&group_table("AGENT", &stats.by_agent).render());
    text
}

fn or_none(text: String) -> String {
    if text.is_empty() { "<none>".into() } else { text }
}

fn group_table(key: &'static str, groups: &[InteractionGroup]) -> Table {
    let mut table =
        Table::new(&[key, "COUNT", "ERRORS", "ERROR RATE", "P50", "P95", "P99", "TOKENS", "COST"]);
    for group in groups {
        let InteractionTotals {
            count,
            errors,
            error_rate,
            latency_ms,
            input_tokens,
            output_tokens,
            cost_usd,
        } = &group.totals;
        table.push(vec![
            group.key.clone(),
            count.to_string(),
            errors.to_string(),
            percent(*error_rate),
            latency(latency_ms.p50),
            latency(latency_ms.p95),
            latency(latency_ms.p99),
            tokens(input_tokens + output_tokens),
            usd(*cost_usd),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_list_as_a_table() {
        let item: Interaction = serde_json::from_value(serde_json::json!({
            "requestId": "r-1", "type": "delegation", "fromAgent": "lead", "toAgent": "sales",
            "outcome": "ok", "query": "Quarterly\nnumbers?", "latencyMs": 1500, "inputTokens": 100,
            "outputTokens": 20, "costUsd": 0.02, "delegationDepth": 1, "createdAt": "2026-11-30T11:59:30Z"
        }))
        .unwrap();
        let text = interaction_table(&[item], "2026-11-30T12:00:00Z".parse().unwrap()).render();
        assert_eq!(
            text.lines().nth(1),
            Some(
                "r-1       delegation   lead   sales   ok        1.5s      120      $0.02   30s   Quarterly numbers?"
            )
        );
    }

    #[test]
    fn stats_show_totals_then_groups() {
        let stats: InteractionStats = serde_json::from_value(serde_json::json!({
            "since": "2026-11-29T12:00:00Z", "until": "2026-11-30T12:00:00Z",
            "totals": {"count": 10, "errors": 1, "errorRate": 0.1, "latencyMs": {"p50": 200.0, "p95": 900.0, "p99": null},
                       "inputTokens": 1000, "outputTokens": 500, "costUsd": 0.5},
            "byType": [{"key": "query", "count": 10, "errors": 1, "errorRate": 0.1,
                        "latencyMs": {"p50": 200.0, "p95": 900.0, "p99": null},
                        "inputTokens": 1000, "outputTokens": 500, "costUsd": 0.5}],
            "byAgent": []
        }))
        .unwrap();
        let text = render_stats(&stats);
        assert!(text.contains("Errors:        1 (10.0%)\n"), "{text}");
        assert!(text.contains("Latency:       p50 200ms, p95 900ms, p99 <none>\n"), "{text}");
        assert!(
            text.contains(
                "BY TYPE\nTYPE    COUNT   ERRORS   ERROR RATE   P50     P95     P99      TOKENS   COST\n\
             query   10      1        10.0%        200ms   900ms   <none>   1500     $0.50\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "BY AGENT\nAGENT   COUNT   ERRORS   ERROR RATE   P50   P95   P99   TOKENS   COST\n"
            ),
            "{text}"
        );
    }
}
