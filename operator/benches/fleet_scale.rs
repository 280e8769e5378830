//! How long the operator takes to bring 1,000 Agents to Ready on devcluster, and its memory
//! when they are (DESIGN.md §8: < 60 s, < 64 MiB RSS).
//!
//! The operator runs as its own process (the release `agentry-operator` binary) against an
//! in-process devcluster whose pod simulator runs the real runner binary for every Agent:
//!
//! ```sh
//! cargo build --release -p agentry-runner --bin agentry-runner
//! cargo bench -p agentry-operator --bench fleet_scale      # AGENTRY_BENCH_AGENTS=1000 by default
//! ```
//! Needs NATS on 127.0.0.1:4222 (`scripts/dev-services`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentry_crds::{Agent, AgentPhase};
use agentry_devcluster::{DevCluster, DevClusterOptions};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};

const DEADLINE: Duration = Duration::from_secs(600);

fn release_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --release -p agentry-runner --bin {name}` first",
        path.display()
    );
    path
}

/// Where the operator's log goes: `AGENTRY_BENCH_OPERATOR_LOG`, or nowhere.
fn operator_log() -> std::process::Stdio {
    match std::env::var("AGENTRY_BENCH_OPERATOR_LOG").ok().and_then(|p| std::fs::File::create(p).ok()) {
        Some(file) => file.into(),
        None => std::process::Stdio::null(),
    }
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

async fn apply(client: &kube::Client, ns: &str, doc: serde_json::Value) {
    let kind = doc["kind"].as_str().expect("kind").to_string();
    let name = doc["metadata"]["name"].as_str().expect("name").to_string();
    let params = PatchParams::apply("fleet-scale-bench").force();
    let result = match kind.as_str() {
        "Model" => Api::<agentry_crds::Model>::namespaced(client.clone(), ns)
            .patch(&name, &params, &Patch::Apply(&doc))
            .await
            .map(|_| ()),
        "Agent" => Api::<Agent>::namespaced(client.clone(), ns)
            .patch(&name, &params, &Patch::Apply(&doc))
            .await
            .map(|_| ()),
        _ => panic!("unexpected kind {kind}"),
    };
    result.unwrap_or_else(|err| panic!("applying {kind} {name}: {err}"));
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let agents: usize =
        std::env::var("AGENTRY_BENCH_AGENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runner = release_binary("agentry-runner");
    let operator_binary = PathBuf::from(env!("CARGO_BIN_EXE_agentry-operator"));
    let cluster = DevCluster::start_with(DevClusterOptions {
        runner_binary: Some(runner),
        ..DevClusterOptions::default()
    })
    .await
    .expect("devcluster");
    let client = cluster.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in agentry_crds::all_crds() {
        crds.create(&PostParams::default(), &crd).await.expect("CRD");
    }
    let ns = format!("scale-{}", std::process::id());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::apply("fleet-scale-bench"),
            &Patch::Apply(
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ),
        )
        .await
        .expect("namespace");
    apply(&client, &ns, serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model", "metadata": {"name": "local", "namespace": ns},
        "spec": {"provider": "openai-compatible", "model": "local", "baseUrl": "http://127.0.0.1:9/v1"}
    }))
    .await;

    let http_port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut operator = tokio::process::Command::new(&operator_binary)
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .args(["--no-leader-election", "--runner-image", "ghcr.io/agentry-dev/agentry-runner:bench"])
        .args(["--nats-url", "nats://127.0.0.1:4222", "--http-listen", &format!("127.0.0.1:{http_port}")])
        .stdout(operator_log())
        .kill_on_drop(true)
        .spawn()
        .expect("operator process");
    let pid = operator.id().expect("operator pid");

    let started = Instant::now();
    let creates = futures::stream::iter(0..agents).for_each_concurrent(16, |i| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            apply(&client, &ns, serde_json::json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
                "metadata": {"name": format!("agent-{i:04}"), "namespace": ns},
                "spec": {"role": "worker", "modelRef": "local", "systemPrompt": format!("You are agent {i}.")}
            }))
            .await;
        }
    });
    use futures::StreamExt;
    creates.await;
    let created = started.elapsed();
    let api: Api<Agent> = Api::namespaced(client.clone(), &ns);
    let mut peak_rss = 0;
    let ready_after = loop {
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
        assert!(operator.try_wait().ok().flatten().is_none(), "the operator exited");
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
    let _ = operator.kill().await;
    cluster.shutdown().await;
}
