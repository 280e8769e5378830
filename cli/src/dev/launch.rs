//! What `agentry dev` runs and how it knows each is up: devcluster (it prints `ready`), the
//! operator and the recorder (their `/readyz` answers 200).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

use crate::dev::binaries::Binaries;
use crate::dev::children::Children;
use crate::dev::probes::{answers_200, free_port};
use crate::dev::settings::{DevArgs, Instance};

/// The environment variable the operator and the recorder read the PostgreSQL URL from (kept
/// out of their argv: it may hold a password).
const DATABASE_URL_ENV: &str = "AGENTRY_DATABASE_URL";

/// Starts devcluster with the runner binary for runner pods; returns once it has written
/// `kubeconfig` and said `ready`.
pub(crate) async fn devcluster(
    children: &mut Children,
    binaries: &Binaries,
    kubeconfig: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut command = Command::new(&binaries.devcluster);
    command.arg("--kubeconfig").arg(kubeconfig).arg("--runner-binary").arg(&binaries.runner);
    children.spawn("devcluster", &mut command)?;
    let log = kubeconfig.with_file_name("devcluster.log");
    children
        .wait_until(timeout, "devcluster ready", || said_ready(log.clone(), kubeconfig.to_path_buf()))
        .await
}

/// Whether devcluster printed `ready` (on a line of its own) and the kubeconfig is written.
async fn said_ready(log: std::path::PathBuf, kubeconfig: std::path::PathBuf) -> bool {
    let text = tokio::fs::read_to_string(&log).await.unwrap_or_default();
    text.lines().any(|line| line == "ready") && kubeconfig.is_file()
}

/// Starts the operator without leader election, its HTTP API on 127.0.0.1; returns the API's
/// port once `/readyz` says it serves.
pub(crate) async fn operator(
    children: &mut Children,
    binary: &Path,
    args: &DevArgs,
    instance: &Instance,
    kubeconfig: &Path,
    timeout: Duration,
) -> anyhow::Result<u16> {
    let admin = local(free_port().context("finding a free port")?);
    let api_port =
        if args.api_port == 0 { free_port().context("finding a free port")? } else { args.api_port };
    let mut command = Command::new(binary);
    command
        .env("KUBECONFIG", kubeconfig)
        .env(DATABASE_URL_ENV, &args.database_url)
        .args(["--nats-url", &args.nats_url, "--no-leader-election"])
        .args(["--http-listen", &admin.to_string(), "--api-listen", &local(api_port).to_string()])
        .args(["--database-schema", &instance.history_schema()]);
    children.spawn("agentry-operator", &mut command)?;
    children.wait_until(timeout, "agentry-operator ready", || answers_200(admin, "/readyz")).await?;
    Ok(api_port)
}

/// Starts the recorder on the instance's schema and consumer; returns once `/readyz` says it
/// consumes and writes.
pub(crate) async fn recorder(
    children: &mut Children,
    binary: &Path,
    args: &DevArgs,
    instance: &Instance,
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin = local(free_port().context("finding a free port")?);
    let mut command = Command::new(binary);
    command
        .env(DATABASE_URL_ENV, &args.database_url)
        .args(["--nats-url", &args.nats_url, "--http-listen", &admin.to_string()])
        .args(["--schema", &instance.history_schema(), "--consumer", &instance.recorder_consumer()]);
    children.spawn("agentry-recorder", &mut command)?;
    children.wait_until(timeout, "agentry-recorder ready", || answers_200(admin, "/readyz")).await
}

fn local(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}
