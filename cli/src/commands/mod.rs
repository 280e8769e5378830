//! One module per command group; each parses its arguments, calls the API and prints.

pub(crate) mod agents;
pub(crate) mod ask;
pub(crate) mod costs;
pub(crate) mod interactions;
mod pages;
pub(crate) mod sessions;
mod stream;
pub(crate) mod tasks;

use crate::args::{Cli, Command};
use crate::connection;

/// Run the command the command line names.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let format = cli.global.output;
    let mut client = connection::connect(&cli.global).await?;
    match cli.command {
        Command::Ask(args) => ask::run(&mut client, args, format).await,
        Command::Sessions(command) => sessions::run(&mut client, command, format).await,
        Command::Tasks(command) => tasks::run(&mut client, command, format).await,
        Command::Interactions(command) => interactions::run(&client, command, format).await,
        Command::Agents(command) => agents::run(&client, command, format).await,
        Command::Costs(args) => costs::run(&client, args, format).await,
    }
}
