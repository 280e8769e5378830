//! `agentry ask <agent> "<input>"`: invoke an agent and print its answer, whole or streamed.

use std::io::Read;
use std::time::Duration;

use agentry_api_contract::invoke::{InvokeRequest, InvokeResponse};
use agentry_api_contract::{MAX_INPUT_BYTES, paths};
use anyhow::{Context, bail};
use clap::Args;

use super::stream;
use crate::connection::ApiClient;
use crate::output::{OutputFormat, print_line, print_object};
use crate::timing::{Span, parse_timeout};

/// Time allowed beyond the agent's timeout for the API and the proxy to pass its answer on.
pub(crate) const ANSWER_MARGIN: Duration = Duration::from_secs(30);

/// `agentry ask`.
#[derive(Debug, Args)]
pub(crate) struct AskArgs {
    /// The agent to ask.
    pub(crate) agent: String,
    /// The question or task (`-` reads it from stdin).
    pub(crate) input: String,
    /// Print the answer as the model writes it, with tool and model calls on stderr.
    #[arg(long)]
    pub(crate) stream: bool,
    /// How long the agent may take to answer (at most 600s).
    #[arg(long, value_parser = parse_timeout, default_value = "120s")]
    pub(crate) timeout: Span,
    /// Stop the run once its model spend passes this many US dollars.
    #[arg(long, value_name = "USD", value_parser = parse_budget)]
    pub(crate) budget_usd: Option<f64>,
    /// JSON given to the agent with the input.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub(crate) context: Option<serde_json::Value>,
}

/// Run `agentry ask`.
pub(crate) async fn run(client: &mut ApiClient, args: AskArgs, format: OutputFormat) -> anyhow::Result<()> {
    let request = InvokeRequest {
        input: read_input(args.input)?,
        context: args.context,
        timeout_seconds: Some(u32::try_from(args.timeout.seconds()).unwrap_or(u32::MAX)),
        budget_usd: args.budget_usd,
    };
    let deadline = args.timeout.duration() + ANSWER_MARGIN;
    client.set_deadline(deadline);
    if args.stream {
        let path = paths::fill(paths::AGENT_INVOKE_STREAM, &[client.namespace(), &args.agent]);
        let reply = stream::run(client, &path, &request, format == OutputFormat::Table, deadline).await?;
        print_object(format, &reply)?;
        return Ok(());
    }
    let path = paths::fill(paths::AGENT_INVOKE, &[client.namespace(), &args.agent]);
    let response: InvokeResponse = client.post(&path, &request).await?;
    print_answer(&response, format)
}

/// The answer's text, or the whole response as JSON/YAML.
pub(crate) fn print_answer(response: &InvokeResponse, format: OutputFormat) -> anyhow::Result<()> {
    if !print_object(format, response)? {
        print_line(&response.output)?;
    }
    Ok(())
}

/// The input as given, or stdin for `-`; within the API's bound.
pub(crate) fn read_input(input: String) -> anyhow::Result<String> {
    let input = if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_INPUT_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .context("cannot read the input from stdin")?;
        text
    } else {
        input
    };
    if input.is_empty() {
        bail!("the input is empty");
    }
    if input.len() > MAX_INPUT_BYTES {
        bail!("the input is longer than the API accepts ({} KiB)", MAX_INPUT_BYTES / 1024);
    }
    Ok(input)
}

pub(crate) fn parse_budget(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd > 0.0 => Ok(usd),
        _ => Err(format!("`{text}` is not a positive amount of US dollars (e.g. 0.50)")),
    }
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_positive_dollars() {
        assert_eq!(parse_budget("0.5"), Ok(0.5));
        for bad in ["0", "-1", "abc", "NaN", "inf"] {
            assert!(parse_budget(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inputs_keep_to_the_api_bound() {
        assert_eq!(read_input("hi".into()).unwrap(), "hi");
        assert!(read_input(String::new()).unwrap_err().to_string().contains("empty"));
        assert!(read_input("x".repeat(MAX_INPUT_BYTES + 1)).unwrap_err().to_string().contains("64 KiB"));
    }
}
