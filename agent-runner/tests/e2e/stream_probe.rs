//! Asking a runner with `stream: true`: the request on its way, and the events of its stream,
//! read from the request's reply subject (events carry the `stream-event` header, the reply
//! does not).

use std::time::Duration;

use agentry_protocol::{AgentReply, AgentRequest, StreamEvent, StreamEventBody, headers};
use agentry_tests::runner_fixture::{OneAgent, TEST_CALLER, query_subject};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a test waits for one stream event before failing.
const EVENT_WAIT: Duration = Duration::from_secs(15);

/// A request sent with `stream: true`: its reply to come, and the events of its stream.
pub(crate) struct Streamed {
    pub(crate) reply: JoinHandle<AgentReply>,
    pub(crate) events: mpsc::UnboundedReceiver<StreamEvent>,
}

/// Subscribes to a fresh inbox, then sends `request` with `stream: true` to `agent` with the
/// inbox as its reply subject; a task sorts what arrives there into events and the reply.
pub(crate) async fn send_streamed(agent: &OneAgent, mut request: AgentRequest) -> Streamed {
    let inbox = agent.nats.new_inbox();
    let mut arrivals = agent.nats.subscribe(inbox.clone()).await.expect("subscribe to the inbox");
    request.stream = true;
    let mut header_map = async_nats::HeaderMap::new();
    header_map.insert(headers::REQUEST_ID, request.request_id.as_str());
    let subject = query_subject(&agent.ns, &agent.config.agent, &TEST_CALLER);
    let payload = serde_json::to_vec(&request).expect("json");
    agent
        .nats
        .publish_with_reply_and_headers(subject, inbox, header_map, payload.into())
        .await
        .expect("publish");
    let (sender, events) = mpsc::unbounded_channel();
    let reply = tokio::spawn(async move {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), arrivals.next())
                .await
                .expect("the reply in time")
                .expect("the subscription is open");
            let seq =
                message.headers.as_ref().and_then(|h| h.get(headers::STREAM_EVENT)).map(|v| v.to_string());
            let Some(seq) = seq else {
                return serde_json::from_slice(&message.payload).expect("an AgentReply");
            };
            let event: StreamEvent = serde_json::from_slice(&message.payload).expect("a StreamEvent");
            assert_eq!(seq, event.seq.to_string(), "the header carries the event's seq");
            let _ = sender.send(event);
        }
    });
    Streamed { reply, events }
}

/// The next event of the stream.
pub(crate) async fn next_event(events: &mut mpsc::UnboundedReceiver<StreamEvent>) -> StreamEvent {
    tokio::time::timeout(EVENT_WAIT, events.recv())
        .await
        .expect("a stream event in time")
        .expect("the stream is open")
}

/// Events until `done` holds for those read (`seen` included).
pub(crate) async fn events_until(
    events: &mut mpsc::UnboundedReceiver<StreamEvent>,
    mut seen: Vec<StreamEvent>,
    done: impl Fn(&[StreamEvent]) -> bool,
) -> Vec<StreamEvent> {
    while !done(&seen) {
        seen.push(next_event(events).await);
    }
    seen
}

/// How many `modelCall` events there are.
pub(crate) fn model_calls(events: &[StreamEvent]) -> usize {
    events.iter().filter(|e| matches!(e.body, StreamEventBody::ModelCall { .. })).count()
}

/// The `token` events' text, in order.
pub(crate) fn tokens(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            StreamEventBody::Token { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Fails unless the events are numbered 0, 1, 2, … for `request`.
pub(crate) fn assert_numbered(events: &[StreamEvent], request: &str) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (0..events.len() as u64).collect();
    assert_eq!(seqs, expected, "{events:?}");
    assert!(events.iter().all(|e| e.request_id == request), "{events:?}");
}
