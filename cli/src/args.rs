//! The command line: global flags (which cluster, which namespace, how to print) and the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{agents, ask, costs, interactions, sessions, tasks};
use crate::output::OutputFormat;

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "agentry",
    version,
    about = "Ask Agentry agents and read their sessions, tasks, history and cost",
    long_about = "Ask Agentry agents and read their sessions, tasks, history and cost.\n\n\
        Requests go to the Agentry API through the Kubernetes API server's service proxy, \
        authenticated by the kubeconfig like kubectl; the API itself checks a bearer token \
        (--token, AGENTRY_TOKEN, --token-file, or the kubeconfig user's token, tokenFile or exec \
        plugin). --api-url talks to the API directly instead."
)]
pub(crate) struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes: where the API is, who is asking, how to print.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// Namespace of the agents (default: the context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// Namespace of the Agentry API's Service.
    #[arg(long, global = true, env = "AGENTRY_API_NAMESPACE", default_value = "agentry-system")]
    pub(crate) api_namespace: String,
    /// Name of the Agentry API's Service.
    #[arg(long, global = true, env = "AGENTRY_API_SERVICE", default_value = "agentry-api")]
    pub(crate) api_service: String,
    /// Talk to the API at this URL directly instead of through the service proxy (port-forward, ingress).
    #[arg(long, global = true, env = "AGENTRY_API_URL", value_name = "URL")]
    pub(crate) api_url: Option<String>,
    /// Bearer token for the API (prefer AGENTRY_TOKEN or --token-file: argv is visible to other users).
    #[arg(long, global = true, env = "AGENTRY_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// File holding the bearer token for the API (used when --token and AGENTRY_TOKEN are not given).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) output: OutputFormat,
    /// Print each request's method, URL, status and duration on stderr (never its headers).
    #[arg(short = 'v', long, global = true)]
    pub(crate) verbose: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The commands that talk to the Agentry API.
    #[command(flatten)]
    Api(ApiCommand),
    /// Run a whole Agentry on this machine (devcluster, operator, recorder, CRDs, optionally
    /// the samples) until Ctrl-C.
    Dev(crate::dev::DevArgs),
}

/// The commands that talk to the Agentry API.
#[derive(Debug, Subcommand)]
pub(crate) enum ApiCommand {
    /// Ask an agent and print its answer.
    Ask(ask::AskArgs),
    /// Chat sessions: list, show, start, send a message, end.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Durable tasks: submit, get, cancel.
    #[command(subcommand)]
    Tasks(tasks::TasksCommand),
    /// Recorded interactions and statistics over them.
    #[command(subcommand)]
    Interactions(interactions::InteractionsCommand),
    /// Agents: list, performance, selection by capability.
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Model spend by day, agent and model.
    Costs(costs::CostsArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dev_takes_the_global_namespace_for_its_samples() {
        let cli = Cli::try_parse_from(["agentry", "dev", "--samples", "-n", "demo"]).unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("demo"));
        assert!(matches!(cli.command, Command::Dev(ref dev) if dev.samples && dev.instance == "dev"));
    }

    #[test]
    fn global_flags_are_accepted_after_the_command() {
        let cli = Cli::try_parse_from(["agentry", "agents", "list", "-n", "fleet", "-o", "json"]).unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("fleet"));
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.api_namespace, "agentry-system");
    }
}
