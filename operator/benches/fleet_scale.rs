//! How long the operator takes to bring 1,000 Agents to Ready on devcluster, and its memory
//! when they are (DESIGN.md §8: < 60 s, < 64 MiB RSS).
//!
//! It runs in the end-to-end tests' world (`agentry_tests::operator_world::World`): an
//! in-process devcluster whose pod simulator runs the real runner binary for every Agent, and the
//! operator as its own process, both release binaries the world builds from this tree:
//!
//! ```sh
//! cargo bench -p agentry-operator --bench fleet_scale      # AGENTRY_BENCH_AGENTS=1000 by default
//! ```
//! Needs NATS on 127.0.0.1:4222 (`scripts/dev-services`). `AGENTRY_BENCH_OPERATOR_LOG=<file>`
//! keeps the operator's log (`RUST_LOG` filters it; `warn` by default).

use std::time::{Duration, Instant};

use agentry_crds::{Agent, AgentPhase};
use agentry_tests::operator_world::{World, apply};
use futures::StreamExt;
use kube::Api;
use kube::api::ListParams;

const DEADLINE: Duration = Duration::from_secs(600);

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let agents: usize =
        std::env::var("AGENTRY_BENCH_AGENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let world = World::start("scale").await;
    let mut options = world.operator_options();
    options.log_filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let operator = world.start_operator_with(&options).await;
    let pid = operator.pid();
    apply(&world.client, &serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model", "metadata": {"name": "local", "namespace": world.ns},
        "spec": {"provider": "openai-compatible", "model": "local", "baseUrl": world.model.base_url()}
    }))
    .await;

    let started = Instant::now();
    futures::stream::iter(0..agents)
        .for_each_concurrent(16, |i| {
            let doc = serde_json::json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
                "metadata": {"name": format!("agent-{i:04}"), "namespace": world.ns},
                "spec": {"role": "worker", "modelRef": "local", "systemPrompt": format!("You are agent {i}.")}
            });
            let client = world.client.clone();
            async move { apply(&client, &doc).await }
        })
        .await;
    let created = started.elapsed();
    let api: Api<Agent> = Api::namespaced(world.client.clone(), &world.ns);
    let mut peak_rss = 0;
    let ready_after = loop {
        world.check_operators();
        let list = api.list(&ListParams::default()).await.expect("list agents");
        let ready = list
            .items
            .iter()
            .filter(|a| a.status.as_ref().and_then(|s| s.phase) == Some(AgentPhase::Ready))
            .count();
        peak_rss = peak_rss.max(rss_kib(pid, "VmRSS:").unwrap_or(0));
        if ready == agents {
            break started.elapsed();
        }
        assert!(started.elapsed() < DEADLINE, "only {ready}/{agents} Agents Ready after {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let rss = rss_kib(pid, "VmRSS:").unwrap_or(0);
    let hwm = rss_kib(pid, "VmHWM:").unwrap_or(0);
    println!(
        "\nagentry-operator fleet benchmark (devcluster, real runner pods, operator as its own process)"
    );
    println!("{:<52} {:>10.1} s", format!("{agents} Agents applied"), created.as_secs_f64());
    println!(
        "{:<52} {:>10.1} s    target < 60 s for 1,000",
        format!("{agents} Agents Ready (from the first apply)"),
        ready_after.as_secs_f64()
    );
    println!(
        "{:<52} {:>10.1} MiB  target < 64 MiB with 1,000 Agents",
        "operator RSS with all Ready",
        rss as f64 / 1024.0
    );
    println!("{:<52} {:>10.1} MiB", "operator peak RSS (VmHWM)", hwm as f64 / 1024.0);
    if let Ok(keep) = std::env::var("AGENTRY_BENCH_OPERATOR_LOG")
        && let Err(err) = std::fs::copy(operator.log_path(), &keep)
    {
        eprintln!("could not keep the operator's log in {keep}: {err}");
    }
    operator.stop(Duration::from_secs(30)).await.expect("the operator stops cleanly");
    world.shutdown().await;
}
