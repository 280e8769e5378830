//! A stand-in for the agent runner, for the pod simulator's tests: serves `GET /readyz` (200) and
//! `GET /env` (its environment and arguments as JSON) on `AGENTRY_HTTP_LISTEN`, prints its
//! arguments and environment at start, and exits on SIGTERM. With `--exit-after-ms N` it exits
//! with status 1 after N milliseconds (to test restarts).

use std::time::Duration;

use axum::Json;
use axum::routing::get;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let listen = std::env::var("AGENTRY_HTTP_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into());
    println!("fake-runner starting with args {:?}", &args[1..]);
    println!("pid {}", std::process::id());
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| !k.starts_with("CARGO")).collect();
    env.sort();
    for (key, value) in &env {
        println!("env {key}={value}");
    }
    let state =
        json!({"args": args[1..], "env": env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()});
    let app = axum::Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route("/env", get(move || async move { Json(state) }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let exit_after = args
        .iter()
        .position(|a| a == "--exit-after-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<u64>().ok());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        served = axum::serve(listener, app) => served?,
        _ = terminate.recv() => println!("fake-runner got SIGTERM, exiting"),
        _ = async {
            match exit_after {
                Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                None => std::future::pending().await,
            }
        } => {
            println!("fake-runner exiting with failure as asked");
            std::process::exit(1);
        }
    }
    Ok(())
}
