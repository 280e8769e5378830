//! `agentry-runner`: reads its config from the file named by `AGENTRY_CONFIG`, its secrets from
//! the environment, and serves the agent over NATS until SIGTERM.

use std::path::Path;
use std::process::ExitCode;

use agentry_process::{logging, runtime, shutdown};
use agentry_protocol::runner_config::{CONFIG_PATH_ENV, NATS_CREDENTIALS_ENV};
use agentry_runner::{Runner, config_file};
use anyhow::Context;

/// Overrides `http.listen` from the config; the devcluster pod simulator sets it so replicas on
/// one machine do not collide on a port.
const HTTP_LISTEN_ENV: &str = "AGENTRY_HTTP_LISTEN";

/// Two workers: a runner mostly waits on its model and tools, and many share a node.
const WORKER_THREADS: usize = 2;

fn main() -> ExitCode {
    // Kept to the end of `main`: dropping it sends the spans still queued.
    let _logging = match logging::init("agentry-runner") {
        Ok(logging) => logging,
        Err(err) => {
            eprintln!("agentry-runner: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime::block_on("agentry-runner", Some(WORKER_THREADS), run())
}

async fn run() -> anyhow::Result<()> {
    let path = std::env::var(CONFIG_PATH_ENV).with_context(|| format!("{CONFIG_PATH_ENV} is not set"))?;
    let mut config = config_file::read(Path::new(&path))?;
    if let Ok(credentials) = std::env::var(NATS_CREDENTIALS_ENV) {
        config.nats.credentials_file = Some(credentials);
    }
    let listen = std::env::var(HTTP_LISTEN_ENV).unwrap_or_else(|_| config.http.listen.clone());
    let runner = Runner::start(config, &listen, &|name| std::env::var(name).ok()).await?;
    runner.run_until(shutdown::signal()).await?;
    Ok(())
}
