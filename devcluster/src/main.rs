//! `devcluster`: run the in-process Kubernetes API server standalone, for kubectl.
//!
//! `devcluster --kubeconfig PATH` writes a kubeconfig to PATH, prints `ready`, and serves until
//! SIGINT or SIGTERM.

use std::path::PathBuf;

use agentry_devcluster::{DevCluster, DevClusterOptions, ImageBinary};
use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "devcluster",
    about = "An in-process Kubernetes API server and pod simulator for development"
)]
struct Args {
    /// Where to write the kubeconfig pointing at the server.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The agent-runner binary to run for runner Deployments (enables the pod simulator).
    #[arg(long)]
    runner_binary: Option<PathBuf>,
    /// Containers whose image repository ends with this are runner containers.
    #[arg(long, default_value = "agentry-runner")]
    runner_image_suffix: String,
    /// IMAGE_SUFFIX=PATH: containers whose image repository ends with IMAGE_SUFFIX run the binary
    /// at PATH (enables the pod simulator; repeatable), e.g.
    /// `--image-binary agentry-operator=target/debug/agentry-operator`.
    #[arg(long = "image-binary", value_name = "IMAGE_SUFFIX=PATH")]
    image_binaries: Vec<ImageBinary>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let options = DevClusterOptions {
        port: args.port,
        kubeconfig_path: Some(args.kubeconfig),
        // The simulator starts pods in their own directories: a relative path would not resolve.
        runner_binary: match args.runner_binary {
            Some(path) => Some(
                std::fs::canonicalize(&path)
                    .map_err(|e| anyhow::anyhow!("--runner-binary {}: {e}", path.display()))?,
            ),
            None => None,
        },
        runner_image_suffix: args.runner_image_suffix,
        image_binaries: args
            .image_binaries
            .into_iter()
            .map(|i| {
                let binary = std::fs::canonicalize(&i.binary)
                    .map_err(|e| anyhow::anyhow!("--image-binary {}: {e}", i.binary.display()))?;
                Ok(ImageBinary { binary, ..i })
            })
            .collect::<anyhow::Result<_>>()?,
        ..DevClusterOptions::default()
    };
    let cluster = DevCluster::start_with(options).await?;
    println!("ready");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!(url = cluster.url(), "shutting down");
    cluster.shutdown().await;
    Ok(())
}
