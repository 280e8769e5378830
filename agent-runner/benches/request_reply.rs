//! Runner benchmarks against DESIGN.md §8: request-reply latency through one and two runners
//! with an instant scripted model, runner idle memory and start-to-ready time.
//!
//! Run with `cargo bench -p agentry-runner --bench request_reply` (needs NATS on 127.0.0.1:4222,
//! started by `scripts/dev-services`). Prints each figure beside its target.

use std::path::Path;
use std::time::{Duration, Instant};

use agentry_protocol::runner_config::{
    AgentRole, HttpConfig, Limits, ModelEndpoint, NatsConfig, Pricing, Provider, Resilience, RunnerConfig,
    ToolDefinition, ToolImplementation,
};
use agentry_protocol::subjects::{self, Caller, PlatformIdentity, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, RUNNER_CONFIG_VERSION};
use agentry_tests::nats_fixture;
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

const WARMUP: usize = 200;
const SAMPLES: usize = 2_000;
const STARTS: usize = 10;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_agentry-runner"))
}

fn config(namespace: &str, agent: &str, base_url: &str, tools: Vec<ToolDefinition>) -> RunnerConfig {
    // The agents its `agent` tools ask are its peers: a runner delegates to no other.
    let peers = tools
        .iter()
        .filter_map(|t| match &t.implementation {
            ToolImplementation::Agent { agent } => Some(agent.clone()),
            _ => None,
        })
        .collect();
    RunnerConfig {
        version: RUNNER_CONFIG_VERSION,
        namespace: namespace.into(),
        agent: agent.into(),
        role: AgentRole::Worker,
        description: None,
        system_prompt: Some("Answer briefly.".into()),
        memory_blocks: Vec::new(),
        memory: None,
        models: vec![ModelEndpoint {
            name: "instant".into(),
            provider: Provider::OpenaiCompatible,
            model: "instant".into(),
            base_url: Some(base_url.into()),
            api_key_env: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            presence_penalty: None,
            frequency_penalty: None,
            pricing: Pricing::default(),
            timeout_seconds: 10,
        }],
        tools,
        peers,
        allowed_agents: None,
        limits: Limits { max_concurrent_requests: 64, ..Limits::default() },
        resilience: Resilience::default(),
        nats: NatsConfig { url: nats_fixture::nats_url(), credentials_file: None },
        http: HttpConfig::default(),
        shutdown_grace_seconds: 5,
        event_buffer: 100_000,
    }
}

fn ask_tool(peer: &str) -> ToolDefinition {
    ToolDefinition {
        name: format!("ask-{peer}"),
        description: format!("Ask {peer}."),
        input_schema: serde_json::json!({"type": "object", "properties": {"question": {"type": "string"}}}),
        implementation: ToolImplementation::Agent { agent: peer.into() },
        rate_limit_per_minute: None,
        cache_ttl_seconds: None,
        timeout_seconds: 10,
    }
}

async fn request(nats: &async_nats::Client, subject: &str, i: usize) -> AgentReply {
    let body = serde_json::to_vec(&AgentRequest::new(format!("bench-{i}"), "ping")).expect("request");
    let reply = nats
        .send_request(
            subject.to_string(),
            async_nats::Request::new().payload(body.into()).timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("reply");
    serde_json::from_slice(&reply.payload).expect("AgentReply")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // p is in [0, 1], so the rank is a valid index of `sorted`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn report(what: &str, mut samples: Vec<Duration>, target: &str) {
    samples.sort();
    println!(
        "{what:<58} p50 {:>8.3} ms  p95 {:>8.3} ms  p99 {:>8.3} ms   target {target}",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

async fn start_to_ready(ns: &str, base_url: &str) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for i in 0..STARTS {
        let cfg = config(ns, &format!("cold-{i}"), base_url, Vec::new());
        let started = Instant::now();
        let process = RunnerProcess::spawn(binary(), &cfg, &[]).expect("spawn");
        let url = format!("http://{}/readyz", process.http);
        loop {
            if client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "runner never became ready:\n{}",
                process.output()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(started.elapsed());
    }
    times
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = nats_fixture::connect().await.expect("NATS (run scripts/dev-services)");
    let ns = nats_fixture::unique_namespace("bench");
    let model_b = ScriptedModel::start(Flavor::OpenAi).await;
    model_b.set_default(Step::Text("pong".into()));
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;

    let runner_b = RunnerProcess::start(binary(), &config(&ns, "b", &model_b.base_url(), Vec::new()), &[])
        .await
        .expect("runner b");
    let runner_a =
        RunnerProcess::start(binary(), &config(&ns, "a", &model_a.base_url(), vec![ask_tool("b")]), &[])
            .await
            .expect("runner a");
    let idle_b = runner_b.pid().and_then(rss_kib);

    let token = |s: &str| SubjectToken::new(s).expect("token");
    let caller = Caller::Platform(PlatformIdentity::Api);
    let subject_b = subjects::query(&token(&ns), &token("b"), &caller);
    let subject_a = subjects::query(&token(&ns), &token("a"), &caller);

    let mut direct = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        let started = Instant::now();
        let reply = request(&nats, &subject_b, i).await;
        assert_eq!(reply.output.as_deref(), Some("pong"), "{reply:?}");
        if i >= WARMUP {
            direct.push(started.elapsed());
        }
    }

    let mut chained = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        model_a.push(Step::ToolCalls(vec![("ask-b".into(), serde_json::json!({"question": "ping"}))]));
        model_a.push(Step::Text("relayed pong".into()));
        let started = Instant::now();
        let reply = request(&nats, &subject_a, i).await;
        assert_eq!(reply.output.as_deref(), Some("relayed pong"), "{reply:?}");
        if i >= WARMUP {
            chained.push(started.elapsed());
        }
    }
    let loaded_b = runner_b.pid().and_then(rss_kib);
    let starts = start_to_ready(&ns, &model_b.base_url()).await;

    println!(
        "\nagentry-runner benchmarks ({SAMPLES} sequential requests after {WARMUP} warm-up; instant scripted model over HTTP)"
    );
    report("client -> runner B (1 model call)", direct, "-");
    report(
        "client -> runner A -> runner B (3 model calls, 2 NATS hops)",
        chained,
        "p95 < 2 ms (seed plan < 20 ms)",
    );
    let mut starts = starts;
    starts.sort();
    println!(
        "{:<58} p50 {:>8.1} ms  max {:>8.1} ms                  target < 300 ms",
        "runner start to ready (/readyz 200)",
        percentile(&starts, 0.5).as_secs_f64() * 1e3,
        starts[starts.len() - 1].as_secs_f64() * 1e3
    );
    let mib = |k: Option<u64>| k.map_or("n/a".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!(
        "{:<58} {:>12}                               target < 20 MiB",
        "runner idle RSS (ready, before load)",
        mib(idle_b)
    );
    println!("{:<58} {:>12}", "runner RSS after the load above", mib(loaded_b));
    drop(runner_a);
}
