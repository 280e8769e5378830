//! Task round trip against DESIGN.md §8: `TaskQueue::submit` then `TaskQueue::wait` until the
//! record says `succeeded`, through one runner process with an instant scripted model, beside
//! request-reply to the same runner in the same run (the target is a ratio of the two).
//!
//! Run with `cargo bench -p agentry-runner --bench task_round_trip` (needs NATS with JetStream on
//! 127.0.0.1:4222, started by `scripts/dev-services`). Prints each figure beside its target.

use std::path::Path;
use std::time::{Duration, Instant};

use agentry_protocol::runner_config::{Limits, Pricing, Resilience, RunnerConfig};
use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::tasks::{self, TaskId};
use agentry_protocol::{AgentReply, AgentRequest, TaskState};
use agentry_task_queue::TaskQueue;
use agentry_tests::nats_fixture;
use agentry_tests::runner_fixture;
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

const WARMUP: usize = 100;
const SAMPLES: usize = 1_000;

/// The test suites' runner config, tuned as the request-reply bench is: an unpriced instant
/// model without a key, room for every request, events buffered generously.
fn config(namespace: &str, base_url: &str) -> RunnerConfig {
    let mut model = runner_fixture::model("instant", base_url);
    (model.api_key_env, model.pricing, model.timeout_seconds) = (None, Pricing::default(), 10);
    let mut config = runner_fixture::config(namespace, "b", vec![model], Vec::new());
    config.system_prompt = Some("Answer briefly.".into());
    config.limits = Limits { max_concurrent_requests: 64, ..Limits::default() };
    config.resilience = Resilience::default();
    (config.shutdown_grace_seconds, config.event_buffer) = (5, 100_000);
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // p is in [0, 1], so the rank is a valid index of `sorted`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sorted samples of `SAMPLES` sequential calls of `once` after `WARMUP` unmeasured ones.
async fn measure<F, Fut>(mut once: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        let started = Instant::now();
        once(i).await;
        if i >= WARMUP {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    samples
}

fn report(what: &str, samples: &[Duration]) {
    println!(
        "{what:<44} p50 {:>7.3} ms  p95 {:>7.3} ms  p99 {:>7.3} ms",
        ms(percentile(samples, 0.50)),
        ms(percentile(samples, 0.95)),
        ms(percentile(samples, 0.99)),
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = nats_fixture::connect().await.expect("NATS (run scripts/dev-services)");
    let ns = nats_fixture::unique_namespace("bench-tasks");
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Text("pong".into()));
    let binary = Path::new(env!("CARGO_BIN_EXE_agentry-runner"));
    let mut runner =
        RunnerProcess::start(binary, &config(&ns, &model.base_url()), &[]).await.expect("runner");
    let queue = TaskQueue::open(async_nats::jetstream::new(nats.clone())).await.expect("task queue");
    let (ns_token, agent) = (SubjectToken::new(ns.as_str()).expect("ns"), SubjectToken::new("b").expect("b"));
    let subject = subjects::query(&ns_token, &agent, &runner_fixture::TEST_CALLER);

    let direct = measure(|i| {
        let (nats, subject) = (&nats, subject.clone());
        async move {
            let body = serde_json::to_vec(&AgentRequest::new(format!("rr-{i}"), "ping")).expect("request");
            let request =
                async_nats::Request::new().payload(body.into()).timeout(Some(Duration::from_secs(10)));
            let reply = nats.send_request(subject, request).await.expect("reply");
            let reply: AgentReply = serde_json::from_slice(&reply.payload).expect("AgentReply");
            assert_eq!(reply.output.as_deref(), Some("pong"), "{reply:?}");
        }
    })
    .await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let round_trips = measure(|i| {
        let (queue, ns_token, agent, run) = (&queue, &ns_token, &agent, &run);
        async move {
            let task = TaskId::new(format!("bench-{run}-{i}")).expect("task id");
            queue
                .submit(ns_token, agent, &AgentRequest::new(task.as_str(), "ping"))
                .await
                .expect("submitted");
            let record = queue.wait(ns_token, agent, &task, Duration::from_secs(10)).await.expect("ended");
            assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
        }
    })
    .await;

    // Where the time goes: one JetStream publish acknowledged (what each durable write costs),
    // and the submission alone (the record, then the message).
    let js = async_nats::jetstream::new(nats.clone());
    let floor_subject = format!("agentry.{ns}.tasks.floor");
    let published = measure(|_| {
        let (js, subject) = (&js, floor_subject.clone());
        async move {
            let ack = js.publish(subject, "x".into()).await.expect("published");
            ack.await.expect("stored");
        }
    })
    .await;
    let floor = SubjectToken::new("floor").expect("floor");
    let submitted = measure(|i| {
        let (queue, ns_token, floor, run) = (&queue, &ns_token, &floor, &run);
        async move {
            let request = AgentRequest::new(format!("floor-{run}-{i}"), "ping");
            queue.submit(ns_token, floor, &request).await.expect("submitted");
        }
    })
    .await;

    println!(
        "\ntask round trip ({SAMPLES} sequential after {WARMUP} warm-up; one runner; instant scripted model over HTTP)"
    );
    report("client -> runner request-reply", &direct);
    report("task: submit, then wait until succeeded", &round_trips);
    report("  of which: submit alone (record + message)", &submitted);
    report("  one JetStream publish acknowledged", &published);
    let ratio = percentile(&round_trips, 0.95).as_secs_f64() / percentile(&direct, 0.95).as_secs_f64();
    println!("{:<44} {ratio:>5.1}x   target < 2x", "task p95 / request-reply p95");

    let _ = runner.kill().await;
    if let Ok(stream) = js.get_stream(subjects::TASKS_STREAM).await {
        let _ = stream.delete_consumer(&tasks::consumer_name(&ns_token, &agent)).await;
        // The messages published to the unserved `floor` agent go with their subject.
        let _ = stream.purge().filter(floor_subject).await;
    }
    // And the benchmark's task records.
    let records = format!("KV_{}", tasks::TASK_STATE_BUCKET);
    if let Ok(stream) = js.get_stream(records).await {
        let _ = stream.purge().filter(format!("$KV.{}.{ns}.>", tasks::TASK_STATE_BUCKET)).await;
    }
}
