//! A draining replica answers new queries `shutting_down` instead of leaving callers with no
//! responder, and a delegating runner asks again, since another replica answers.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, ErrorCode};
use agentry_runner::metrics::RunnerMetrics;
use agentry_runner::nats_delegate::NatsDelegate;
use agentry_runner::tools::{CallContext, Delegate, DelegationError};
use agentry_tests::nats_fixture;
use agentry_tests::runner_fixture::OneAgent;
use agentry_tests::scripted_model::Step;
use futures::StreamExt;

use crate::harness;
use crate::task_world::metric;

#[tokio::test]
async fn a_draining_runner_answers_new_queries_shutting_down_and_finishes_the_one_in_flight() {
    let mut agent = OneAgent::start(harness::runner_binary(), "shutting", |config| {
        config.models[0].timeout_seconds = 60;
    })
    .await;
    agent.model.set_default(Step::slow(Duration::from_secs(4), Step::text("finished")));
    let in_flight = tokio::spawn({
        let (nats, ns) = (agent.nats.clone(), agent.ns.clone());
        async move { harness::ask_agent(&nats, &ns, "worker", "finish me").await }
    });
    agent.model.wait_for_requests(1, Duration::from_secs(30)).await.expect("the request reached the model");
    agent.runner.terminate().expect("SIGTERM");
    agent.runner.wait_unready(Duration::from_secs(30)).await.expect("draining");

    let refused = agent.ask("one more?").await;
    let error = refused.error.expect("refused");
    assert_eq!(error.code, ErrorCode::ShuttingDown);
    assert_eq!(error.message, "worker replica is shutting down; retry: another replica answers");
    let refusals =
        metric(&agent.runner, "agentry_agent_requests_total", &[("outcome", "shutting_down")]).await;
    assert_eq!(refusals, 1.0);

    let finished = in_flight.await.expect("in-flight request");
    assert_eq!(finished.output.as_deref(), Some("finished"), "{finished:?}");
    let status = agent.runner.wait_exit(Duration::from_secs(60)).await.expect("exits after draining");
    assert!(status.success(), "clean exit: {status:?}\n{}", agent.runner.output());
    assert_eq!(agent.model.request_count(), 1, "the refused query never reached the model");
}

/// A peer on the shared NATS whose replies the test scripts: each request gets the next one
/// (whoever the caller token names).
async fn scripted_peer(ns: &str, replies: Vec<AgentReply>) -> tokio::task::JoinHandle<usize> {
    let nats = nats_fixture::connect().await.expect("nats");
    let subject = subjects::query_wildcard(
        &SubjectToken::new(ns).expect("ns"),
        &SubjectToken::new("peer").expect("peer"),
    );
    let mut requests = nats.subscribe(subject).await.expect("subscribe");
    nats.flush().await.expect("flush");
    tokio::spawn(async move {
        let mut answered = 0;
        for reply in replies {
            let Some(message) = requests.next().await else { break };
            let request: AgentRequest = serde_json::from_slice(&message.payload).expect("a request");
            let reply = AgentReply { request_id: request.request_id, ..reply };
            let body = serde_json::to_vec(&reply).expect("reply");
            nats.publish(message.reply.expect("reply subject"), body.into()).await.expect("reply sent");
            answered += 1;
        }
        nats.flush().await.expect("flush");
        answered
    })
}

/// The delegate of agent `asker` in `ns`, and the context of a request it works on.
async fn delegate_of(ns: &str) -> (NatsDelegate, CallContext) {
    let metrics = Arc::new(RunnerMetrics::new(ns, "asker").expect("metrics"));
    let nats = nats_fixture::connect().await.expect("nats");
    let namespace = SubjectToken::new(ns).expect("ns");
    let ctx = CallContext {
        request_id: "r-1".into(),
        session_id: None,
        delegation_path: vec!["asker".into()],
        deadline: tokio::time::Instant::now() + Duration::from_secs(20),
        traceparent: None,
    };
    let asker = agentry_protocol::Caller::agent("asker").expect("caller");
    (NatsDelegate::new(nats, namespace, asker, vec!["peer".into()], 3, metrics), ctx)
}

#[tokio::test]
async fn a_delegation_refused_by_a_draining_replica_is_asked_again() {
    let ns = nats_fixture::unique_namespace("redelegate");
    let draining = || AgentReply::failure("", ErrorCode::ShuttingDown, "peer replica is shutting down");
    let answer = AgentReply {
        output: Some("from the other replica".into()),
        error: None,
        ..AgentReply::failure("", ErrorCode::Internal, "")
    };
    let peer = scripted_peer(&ns, vec![draining(), draining(), answer]).await;
    let (delegate, ctx) = delegate_of(&ns).await;

    let answered = delegate.ask("peer", "budget left?".into(), &ctx).await;
    assert_eq!(answered, Ok("from the other replica".to_string()));
    assert_eq!(peer.await.expect("peer"), 3, "asked until another replica answered");

    let ns = nats_fixture::unique_namespace("redelegate-all");
    let peer = scripted_peer(&ns, (0..5).map(|_| draining()).collect()).await;
    let (delegate, ctx) = delegate_of(&ns).await;
    let refused = delegate.ask("peer", "anyone?".into(), &ctx).await;
    assert!(
        matches!(&refused, Err(DelegationError::PeerError { code, .. }) if code == "shutting_down"),
        "{refused:?}"
    );
    assert_eq!(peer.await.expect("peer"), 5, "a few tries, then the refusal stands");
}
