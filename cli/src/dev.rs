//! `agentry dev`: a whole Agentry on this machine in one command. Starts devcluster, checks
//! that NATS and PostgreSQL answer (running `scripts/dev-services` when they do not and it can
//! be found), runs the operator (with its HTTP API) and the recorder, installs the CRDs, the
//! API's Service and optionally the samples, prints the `export KUBECONFIG=…` line, and stays up
//! until Ctrl-C or SIGTERM; then it stops every child and removes its directory.

mod binaries;
mod children;
mod cluster_setup;
mod launch;
mod local_services;
mod probes;
mod samples;
mod settings;
mod work_dir;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::dev::binaries::Binaries;
use crate::dev::children::{Children, ShutdownSignal};
use crate::dev::settings::Instance;
use crate::dev::work_dir::WorkDir;

pub(crate) use settings::DevArgs;

/// How long each part may take to come up.
const START: Duration = Duration::from_secs(60);

/// Runs `agentry dev` until Ctrl-C or SIGTERM; `namespace` (the global `-n`) holds the samples.
pub(crate) async fn run(args: DevArgs, namespace: Option<String>) -> anyhow::Result<()> {
    let mut shutdown = ShutdownSignal::listen()?;
    let instance = Instance::new(&args.instance)?;
    let binaries = Binaries::locate(args.bin_dir.as_deref())?;
    local_services::ensure(&args.nats_url, &args.database_url).await?;
    let work_dir = WorkDir::create()?;
    let mut children = Children::new(work_dir.path());
    let samples_namespace = namespace.unwrap_or_else(|| samples::NAMESPACE.to_string());
    let outcome = tokio::select! {
        () = shutdown.recv() => Ok(()),
        failed = serve(&args, &instance, &binaries, &work_dir, &mut children, &samples_namespace) => Err(failed),
    };
    children.stop_all().await;
    work_dir.remove();
    outcome
}

/// Starts everything and then waits for a child to exit, which is an error: only Ctrl-C or
/// SIGTERM ends `agentry dev` well.
async fn serve(
    args: &DevArgs,
    instance: &Instance,
    binaries: &Binaries,
    work_dir: &WorkDir,
    children: &mut Children,
    samples_namespace: &str,
) -> anyhow::Error {
    let kubeconfig = work_dir.path().join("kubeconfig");
    let started = async {
        launch::devcluster(children, binaries, &kubeconfig, START).await?;
        let client = cluster_setup::client(&kubeconfig).await?;
        cluster_setup::install_crds(&client).await?;
        let api_port =
            launch::operator(children, &binaries.operator, args, instance, &kubeconfig, START).await?;
        launch::recorder(children, &binaries.recorder, args, instance, START).await?;
        cluster_setup::install_api_service(&client, api_port).await?;
        if args.samples {
            let settings = samples::Settings::from_args(args, instance, samples_namespace);
            cluster_setup::apply_all(&client, &samples::adapted(&settings)?)
                .await
                .context("installing the samples")?;
        }
        anyhow::Ok(())
    };
    if let Err(err) = started.await {
        return err;
    }
    print_next_steps(&kubeconfig, work_dir, args.samples.then_some(samples_namespace));
    children.first_exit().await
}

fn print_next_steps(kubeconfig: &Path, work_dir: &WorkDir, samples: Option<&str>) {
    println!("agentry dev: up. In another shell:");
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get agents -A");
    if let Some(ns) = samples {
        println!("  kubectl wait --for=condition=Ready agent --all -n {ns} --timeout=120s");
        println!("  {} ask -n {ns} sales-agent \"Which deliveries are at risk this week?\"", this_program());
    } else {
        println!("  kubectl apply -f <your Models, Tools and Agents>   (or restart with --samples)");
    }
    let dir = work_dir.path().display();
    println!("Logs: {dir}/*.log. Ctrl-C stops everything and removes {dir}.");
}

/// How to run this `agentry` again: its path, since it may not be on `PATH`.
fn this_program() -> String {
    std::env::current_exe().map_or_else(|_| "agentry".to_string(), |path| path.display().to_string())
}
