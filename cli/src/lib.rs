//! The `agentry` command line (also installed as the kubectl plugin `kubectl-agentry`): a client of
//! the Agentry HTTP API, reached through the Kubernetes API server's service proxy with the
//! kubeconfig's credentials, or directly with `--api-url`.

mod args;
mod commands;
mod connection;
mod dev;
mod output;
mod sse;
mod timing;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::Cli;

/// Parse the command line, run the command and turn its failure into `error: ...` and exit code 1.
pub fn main() -> ExitCode {
    let cli = match parse_command_line() {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // `agentry ... | head` closes stdout early: that is the reader's choice, not a failure.
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Usage lines say `kubectl agentry` when kubectl started us as its plugin.
fn parse_command_line() -> Result<Cli, clap::Error> {
    let invoked_as = std::env::args_os().next().unwrap_or_default();
    let as_plugin = std::path::Path::new(&invoked_as)
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("kubectl-agentry"));
    let mut command = Cli::command();
    if as_plugin {
        command = command.bin_name("kubectl agentry");
    }
    let matches = command.try_get_matches()?;
    Cli::from_arg_matches(&matches)
}
