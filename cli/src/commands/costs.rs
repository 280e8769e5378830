//! `agentry costs`: model spend by day, agent and model over a window.

use agentry_api_contract::agents::WindowQuery;
use agentry_api_contract::history::CostReport;
use agentry_api_contract::paths;
use clap::Args;

use crate::connection::ApiClient;
use crate::output::{OutputFormat, Table, print_object, print_text, tokens, usd};
use crate::timing::{Span, parse_instant, parse_window};

/// `agentry costs`.
#[derive(Debug, Args)]
pub(crate) struct CostsArgs {
    /// Length back from now (or from --until): 1h, 24h, 7d.
    #[arg(long, value_parser = parse_window, default_value = "7d", conflicts_with = "since")]
    window: Span,
    /// Start: a time (RFC 3339) or a duration back from now.
    #[arg(long, value_parser = parse_instant)]
    since: Option<String>,
    /// End: a time (RFC 3339) or a duration back from now (default now).
    #[arg(long, value_parser = parse_instant)]
    until: Option<String>,
}

/// Run `agentry costs`.
pub(crate) async fn run(client: &ApiClient, args: CostsArgs, format: OutputFormat) -> anyhow::Result<()> {
    let window = if args.since.is_some() { None } else { Some(args.window.to_string()) };
    let query = WindowQuery { since: args.since, until: args.until, window };
    let report: CostReport = client.get(&paths::fill(paths::COSTS, &[client.namespace()]), &query).await?;
    if !print_object(format, &report)? {
        print_text(&render(&report))?;
    }
    Ok(())
}

fn render(report: &CostReport) -> String {
    let mut table = Table::new(&["DAY", "AGENT", "MODEL", "CALLS", "INPUT TOKENS", "OUTPUT TOKENS", "COST"]);
    for line in &report.lines {
        table.push(vec![
            line.day.clone(),
            line.agent.clone(),
            line.model.clone(),
            line.calls.to_string(),
            tokens(line.input_tokens),
            tokens(line.output_tokens),
            usd(line.cost_usd),
        ]);
    }
    format!(
        "{}\nTotal {} from {} to {}\n",
        table.render(),
        usd(report.total_cost_usd),
        report.since,
        report.until
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_list_by_day_then_total() {
        let report: CostReport = serde_json::from_value(serde_json::json!({
            "since": "2026-11-23T12:00:00Z", "until": "2026-11-30T12:00:00Z", "totalCostUsd": 1.25,
            "lines": [{"day": "2026-11-29", "agent": "sales", "model": "gpt-4o", "calls": 12,
                       "inputTokens": 12000, "outputTokens": 800, "costUsd": 1.25}]
        }))
        .unwrap();
        assert_eq!(
            render(&report),
            "DAY          AGENT   MODEL    CALLS   INPUT TOKENS   OUTPUT TOKENS   COST\n\
             2026-11-29   sales   gpt-4o   12      12.0k          800             $1.25\n\
             \nTotal $1.25 from 2026-11-23T12:00:00Z to 2026-11-30T12:00:00Z\n"
        );
    }
}
