//! `agentry agents list | top | select`.

use agentry_api_contract::agents::{
    AgentList, AgentPerformance, AgentSelection, AgentSelectionRequest, AgentSummary, WindowQuery,
};
use agentry_api_contract::paths;
use anyhow::bail;
use clap::{Args, Subcommand};
use futures::{StreamExt, TryStreamExt};

use crate::connection::ApiClient;
use crate::output::{
    OutputFormat, Table, latency, percent, print_list, print_object, print_text, tokens, usd,
};
use crate::timing::{Span, parse_window};

/// Performance requests in flight at once for `agents top`.
const CONCURRENT_REQUESTS: usize = 8;

/// `agentry agents`.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentsCommand {
    /// The namespace's agents with their state.
    List,
    /// How each agent performed over a window.
    Top(TopArgs),
    /// The Ready agents that have every capability given, best first.
    Select {
        /// Capabilities the agent must list.
        #[arg(required = true)]
        capabilities: Vec<String>,
    },
}

/// `agentry agents top`.
#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// Length back from now: 15m, 1h, 24h, 7d.
    #[arg(long, value_parser = parse_window, default_value = "1h")]
    window: Span,
}

/// Run `agentry agents ...`.
pub(crate) async fn run(
    client: &ApiClient,
    command: AgentsCommand,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        AgentsCommand::List => {
            let agents: AgentList =
                client.get(&paths::fill(paths::AGENTS, &[client.namespace()]), &()).await?;
            if !print_object(format, &agents)? {
                print_list(&agent_table(&agents.items), "agents", client.namespace())?;
            }
            Ok(())
        }
        AgentsCommand::Top(args) => top(client, &args.window, format).await,
        AgentsCommand::Select { capabilities } => {
            let path = paths::fill(paths::AGENT_SELECTION, &[client.namespace()]);
            let request = AgentSelectionRequest { capabilities: capabilities.clone() };
            let selection: AgentSelection = client.post(&path, &request).await?;
            if print_object(format, &selection)? {
                return Ok(());
            }
            if selection.candidates.is_empty() {
                bail!(
                    "no Ready agent in namespace {} has all of: {}",
                    client.namespace(),
                    capabilities.join(", ")
                );
            }
            print_text(&selection_table(&selection).render())?;
            Ok(())
        }
    }
}

fn agent_table(agents: &[AgentSummary]) -> Table {
    let mut table = Table::new(&["NAME", "ROLE", "PHASE", "READY", "MODEL", "CAPABILITIES"]);
    for a in agents {
        table.push(vec![
            a.name.clone(),
            a.role.clone(),
            a.phase.clone(),
            format!("{}/{}", a.ready_replicas, a.replicas),
            a.model.clone().unwrap_or_default(),
            a.capabilities.join(","),
        ]);
    }
    table
}

async fn top(client: &ApiClient, window: &Span, format: OutputFormat) -> anyhow::Result<()> {
    let agents: AgentList = client.get(&paths::fill(paths::AGENTS, &[client.namespace()]), &()).await?;
    let query = WindowQuery { window: Some(window.to_string()), ..Default::default() };
    let performance: Vec<AgentPerformance> = futures::stream::iter(agents.items)
        .map(|agent| {
            let path = paths::fill(paths::AGENT_PERFORMANCE, &[client.namespace(), &agent.name]);
            let query = &query;
            async move { client.get::<AgentPerformance>(&path, query).await }
        })
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    if !print_object(format, &performance)? {
        print_list(&performance_table(&performance), "agents", client.namespace())?;
    }
    Ok(())
}

fn performance_table(rows: &[AgentPerformance]) -> Table {
    let mut table = Table::new(&["NAME", "REQUESTS", "SUCCESS", "P50", "P95", "TOKENS", "COST"]);
    for p in rows {
        table.push(vec![
            p.agent.clone(),
            p.requests.to_string(),
            percent(p.success_rate),
            latency(p.latency_ms.p50),
            latency(p.latency_ms.p95),
            tokens(p.input_tokens + p.output_tokens),
            usd(p.cost_usd),
        ]);
    }
    table
}

fn selection_table(selection: &AgentSelection) -> Table {
    let mut table = Table::new(&["NAME", "SELECTED", "SUCCESS", "P95", "LOAD"]);
    for c in &selection.candidates {
        let selected = selection.selected.as_deref() == Some(c.name.as_str());
        table.push(vec![
            c.name.clone(),
            if selected { "*".into() } else { String::new() },
            percent(c.success_rate),
            latency(c.p95_latency_ms),
            format!("{:.2}", c.load),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_list_with_ready_replicas_and_capabilities() {
        let agent: AgentSummary = serde_json::from_value(serde_json::json!({
            "name": "finance-officer", "namespace": "fleet", "role": "finance", "capabilities": ["budget", "forecast"],
            "model": "gpt-4o", "phase": "Ready", "replicas": 2, "readyReplicas": 1
        }))
        .unwrap();
        let mut bare = agent.clone();
        (bare.name, bare.model, bare.capabilities, bare.phase) = ("new".into(), None, vec![], String::new());
        assert_eq!(
            agent_table(&[agent, bare]).render(),
            "NAME              ROLE      PHASE    READY   MODEL    CAPABILITIES\n\
             finance-officer   finance   Ready    1/2     gpt-4o   budget,forecast\n\
             new               finance   <none>   1/2     <none>   <none>\n"
        );
    }

    #[test]
    fn the_selected_candidate_is_marked() {
        let selection: AgentSelection = serde_json::from_value(serde_json::json!({
            "selected": "b", "candidates": [
                {"name": "b", "successRate": 1.0, "p95LatencyMs": 300.0, "load": 0.5},
                {"name": "a", "successRate": 0.9, "load": 2.0}]
        }))
        .unwrap();
        assert_eq!(
            selection_table(&selection).render(),
            "NAME   SELECTED   SUCCESS   P95      LOAD\n\
             b      *          100.0%    300ms    0.50\n\
             a      <none>     90.0%     <none>   2.00\n"
        );
    }
}
