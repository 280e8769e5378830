//! Streams that break: before their first text they are retried like any failed call; after it
//! the request ends with an error reply (no retry, no fallback), never a hang or a panic.

use agentry_protocol::{AgentRequest, ErrorCode, StreamEventBody};
use agentry_tests::runner_fixture::OneAgent;
use agentry_tests::scripted_model::{Flavor, Step, StreamGate};

use crate::harness::runner_binary;
use crate::stream_probe::{events_until, model_calls, send_streamed, tokens};

fn request(input: &str) -> AgentRequest {
    AgentRequest::new(uuid::Uuid::new_v4().to_string(), input)
}

async fn a_stream_cut_after_its_first_text_is_an_error_reply(flavor: Flavor) {
    let agent = OneAgent::start_speaking(runner_binary(), "stream-cut", flavor, |config| {
        let mut fallback = config.models[0].clone();
        fallback.name = "fallback".into();
        config.models.push(fallback);
    })
    .await;
    let gate = StreamGate::new();
    agent.model.push(Step::held(Step::CutStream(vec!["The fleet".into(), " is".into()]), &gate));
    agent.model.push(Step::text("an answer that must not follow the cut one"));
    let mut streamed = send_streamed(&agent, request("How is the fleet?")).await;
    let seen = events_until(&mut streamed.events, vec![], |e| tokens(e).len() == 2).await;
    gate.release();
    let reply = streamed.reply.await.expect("the request task");
    let events = events_until(&mut streamed.events, seen, |e| model_calls(e) == 1).await;

    let error = reply.error.clone().unwrap_or_else(|| panic!("an error reply: {reply:?} {events:?}"));
    assert_eq!(error.code, ErrorCode::ModelUnavailable);
    assert!(error.message.contains("stream broke after its first tokens"), "{}", error.message);
    assert_eq!(tokens(&events), ["The fleet", " is"]);
    assert_eq!(
        events.last().map(|e| &e.body),
        Some(&StreamEventBody::ModelCall { model: "primary".into(), ok: false })
    );
    assert_eq!(agent.model.request_count(), 1, "neither retried nor handed to the fallback");
}

#[tokio::test]
async fn openai_a_stream_cut_after_its_first_text_is_an_error_reply() {
    a_stream_cut_after_its_first_text_is_an_error_reply(Flavor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_a_stream_cut_after_its_first_text_is_an_error_reply() {
    a_stream_cut_after_its_first_text_is_an_error_reply(Flavor::Anthropic).await;
}

#[tokio::test]
async fn a_stream_cut_before_any_text_is_retried() {
    let agent = OneAgent::start(runner_binary(), "stream-cut-early", |_| {}).await;
    agent.model.push(Step::CutStream(vec![]));
    agent.model.push(Step::text("Fine."));
    let mut streamed = send_streamed(&agent, request("How is the fleet?")).await;
    let reply = streamed.reply.await.expect("the request task");
    let events = events_until(&mut streamed.events, vec![], |e| model_calls(e) == 1).await;

    assert_eq!(reply.output.as_deref(), Some("Fine."), "{reply:?}");
    assert_eq!(tokens(&events), ["Fine."]);
    assert_eq!(agent.model.request_count(), 2);
}

#[tokio::test]
async fn a_malformed_stream_is_retried_then_an_error_reply() {
    let agent = OneAgent::start(runner_binary(), "stream-malformed", |_| {}).await;
    agent.model.set_default(Step::MalformedStream);
    let mut streamed = send_streamed(&agent, request("How is the fleet?")).await;
    let reply = streamed.reply.await.expect("the request task");
    let events = events_until(&mut streamed.events, vec![], |e| model_calls(e) == 1).await;

    let error = reply.error.expect("an error reply");
    assert_eq!(error.code, ErrorCode::ModelUnavailable);
    assert!(error.message.contains("malformed response"), "{}", error.message);
    assert!(tokens(&events).is_empty(), "{events:?}");
    let retries = agent.config.resilience.max_retries as usize;
    assert_eq!(agent.model.request_count(), 1 + retries, "retried like any malformed answer");
}
