//! One module per command group; each parses its arguments, calls the API and prints.

pub(crate) mod agents;
pub(crate) mod ask;
pub(crate) mod costs;
pub(crate) mod interactions;
mod pages;
pub(crate) mod sessions;
mod stream;
pub(crate) mod tasks;

use crate::args::{ApiCommand, Cli, Command, GlobalArgs};
use crate::connection;

/// Run the command the command line names.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev(args) => crate::dev::run(args, cli.global.namespace).await,
        Command::Api(command) => run_api_command(&cli.global, command).await,
    }
}

async fn run_api_command(global: &GlobalArgs, command: ApiCommand) -> anyhow::Result<()> {
    let format = global.output;
    let mut client = connection::connect(global).await?;
    match command {
        ApiCommand::Ask(args) => ask::run(&mut client, args, format).await,
        ApiCommand::Sessions(command) => sessions::run(&mut client, command, format).await,
        ApiCommand::Tasks(command) => tasks::run(&mut client, command, format).await,
        ApiCommand::Interactions(command) => interactions::run(&client, command, format).await,
        ApiCommand::Agents(command) => agents::run(&client, command, format).await,
        ApiCommand::Costs(args) => costs::run(&client, args, format).await,
    }
}
