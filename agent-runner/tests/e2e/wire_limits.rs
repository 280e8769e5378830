//! Bounded wire handling against the real runner binary: oversized requests refused unread, an
//! answer NATS cannot carry turned into an error the caller receives, memory bounded under a
//! flood of maximum-size requests, and a runner that serves without JetStream.

use std::time::Duration;

use agentry_protocol::{AgentReply, AgentRequest, ErrorCode};
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_fixture::{self, AGENT, OneAgent};
use agentry_tests::scripted_model::Step;
use futures::future::join_all;

use crate::harness;

async fn metric(agent: &OneAgent, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = agent.runner.metrics().await.expect("metrics");
    harness::metric_value(&text, name, labels)
}

/// The request `input` of `len` bytes as a payload, with its id.
fn payload(id: &str, len: usize) -> Vec<u8> {
    serde_json::to_vec(&AgentRequest::new(id, "x".repeat(len))).expect("json")
}

#[tokio::test]
async fn a_request_over_max_request_bytes_is_refused_too_large_without_reaching_the_model() {
    let agent = OneAgent::start(harness::runner_binary(), "too-large", |config| {
        config.limits.max_request_bytes = 64 * 1024;
    })
    .await;
    agent.model.set_default(Step::Text("fine".into()));

    let raw = harness::send_raw(&agent.nats, &agent.ns, AGENT, payload("big-1", 100_000), "big-1").await;
    let reply: AgentReply = serde_json::from_slice(&raw).expect("an AgentReply");
    let error = reply.error.expect("refused");
    assert_eq!(error.code, ErrorCode::TooLarge, "{}", error.message);
    assert!(
        error.message.contains("limits.maxRequestBytes") && error.message.contains("65536"),
        "{}",
        error.message
    );
    assert_eq!(reply.request_id, "big-1", "the header's id is echoed");
    assert_eq!(agent.model.request_count(), 0);
    assert_eq!(metric(&agent, "agentry_agent_requests_total", &[("outcome", "too_large")]).await, Some(1.0));

    let reply = agent.send(&AgentRequest::new("small", "x".repeat(60_000))).await;
    assert_eq!(reply.output.as_deref(), Some("fine"), "a request under the limit is answered: {reply:?}");
}

#[tokio::test]
async fn an_answer_larger_than_nats_carries_reaches_the_caller_as_too_large_and_counts_as_such() {
    let agent = OneAgent::start(harness::runner_binary(), "huge-answer", |_| {}).await;
    let max_payload = agent.nats.server_info().max_payload;
    agent.model.set_default(Step::Text("y".repeat(2 * max_payload)));

    let reply = agent.ask("write me a novel").await;
    let error = reply.error.as_ref().expect("an error reply, not a timeout");
    assert_eq!(error.code, ErrorCode::TooLarge, "{}", error.message);
    assert!(error.message.contains("more than NATS carries"), "{}", error.message);
    assert_eq!(reply.message_count, 2, "the input and the answer the model gave: {reply:?}");
    assert_eq!(metric(&agent, "agentry_agent_requests_total", &[("outcome", "too_large")]).await, Some(1.0));
    assert_eq!(metric(&agent, "agentry_agent_requests_total", &[("outcome", "ok")]).await, None);
    assert_eq!(metric(&agent, "agentry_agent_requests_in_flight", &[]).await, Some(0.0));
}

/// Peak resident memory of a process (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number");
    kib * 1024
}

/// Sends `count` requests of `len` bytes at once; returns the replies' error codes (`None`: answered).
async fn flood(agent: &OneAgent, count: usize, len: usize) -> Vec<Option<ErrorCode>> {
    let subject = runner_fixture::query_subject(&agent.ns, AGENT, &runner_fixture::TEST_CALLER);
    let asks = (0..count).map(|i| {
        let (nats, subject) = (agent.nats.clone(), subject.clone());
        let body = payload(&format!("flood-{i}"), len);
        async move {
            let request =
                async_nats::Request::new().payload(body.into()).timeout(Some(Duration::from_secs(60)));
            let message = nats.send_request(subject, request).await.expect("a reply to every request");
            let reply: AgentReply = serde_json::from_slice(&message.payload).expect("an AgentReply");
            reply.error.map(|e| e.code)
        }
    });
    join_all(asks).await
}

#[tokio::test]
async fn a_flood_of_maximum_size_requests_keeps_the_runner_within_the_pod_memory_limit() {
    const POD_LIMIT: u64 = 128 * 1024 * 1024;
    let agent = OneAgent::start(harness::runner_binary(), "flood", |_| {}).await;
    // Slow answers keep admitted requests in flight while the rest arrive.
    agent.model.set_default(Step::Slow(Duration::from_millis(200), Box::new(Step::Text("ok".into()))));
    let pid = agent.runner.pid().expect("pid");
    let max_payload = agent.nats.server_info().max_payload;
    let before = peak_rss(pid);

    // 300 requests as large as NATS carries: each over maxRequestBytes.
    let codes = flood(&agent, 300, max_payload - 1024).await;
    assert!(codes.iter().all(|c| *c == Some(ErrorCode::TooLarge)), "{codes:?}");
    let after_large = peak_rss(pid);
    // 300 requests at the largest size taken: admitted by count and by bytes, the rest busy.
    let admitted = agentry_protocol::runner_config::DEFAULT_MAX_REQUEST_BYTES - 1024;
    let codes = flood(&agent, 300, admitted).await;
    let answered = codes.iter().filter(|c| c.is_none()).count();
    let busy = codes.iter().filter(|c| **c == Some(ErrorCode::Busy)).count();
    assert_eq!(answered + busy, 300, "{codes:?}");
    assert!(answered >= 1, "{codes:?}");

    let peak = peak_rss(pid);
    eprintln!(
        "runner peak RSS: {} MiB before, {} MiB after 300 oversized, {} MiB after 300 maximum-size requests",
        before >> 20,
        after_large >> 20,
        peak >> 20
    );
    assert!(peak < POD_LIMIT, "peak RSS {} MiB exceeds the samples' 128 Mi limit", peak >> 20);
    assert_eq!(metric(&agent, "agentry_agent_requests_in_flight", &[]).await, Some(0.0));
    let reply = agent.ask("still there?").await;
    assert_eq!(reply.output.as_deref(), Some("ok"), "{reply:?}");
}

#[tokio::test]
async fn without_jetstream_the_runner_is_ready_answers_and_bounds_its_waiting_events() {
    let server = nats_fixture::PrivateNats::start_without_jetstream().await.expect("private NATS");
    let url = server.url();
    let agent = OneAgent::start(harness::runner_binary(), "no-js", |config| {
        config.nats.url = url;
        config.event_buffer = 4;
    })
    .await;
    agent.model.set_default(Step::Text("answered".into()));
    let nats = async_nats::connect(server.url()).await.expect("connect");

    for i in 0..3 {
        let reply = harness::ask_agent(&nats, &agent.ns, AGENT, &format!("question {i}")).await;
        assert_eq!(reply.output.as_deref(), Some("answered"), "{reply:?}\n{}", agent.runner.output());
    }
    assert_eq!(agent.runner.ready().await, Some(true));
    // Three requests make at least nine events; four fit in the buffer, the rest are counted.
    let dropped = poll_until(Duration::from_secs(10), || async {
        let text = agent.runner.metrics().await.ok()?;
        harness::metric_value(&text, "agentry_events_dropped_total", &[]).filter(|d| *d >= 5.0)
    })
    .await
    .expect("events beyond the buffer are dropped and counted");
    assert!(dropped >= 5.0);
    assert!(
        agent.runner.output().contains("AGENTRY_EVENTS stream is unavailable"),
        "{}",
        agent.runner.output()
    );
}
