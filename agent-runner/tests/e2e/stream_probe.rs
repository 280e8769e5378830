//! Asking a runner with `streamTo`: the request on its way, and the events of its stream.

use std::time::Duration;

use agentry_protocol::{AgentReply, AgentRequest, StreamEvent, StreamEventBody};
use agentry_tests::runner_fixture::{self, OneAgent};
use futures::StreamExt;
use tokio::task::JoinHandle;

/// How long a test waits for one stream event before failing.
const EVENT_WAIT: Duration = Duration::from_secs(15);

/// A request sent with `streamTo`: its reply to come, and the subscription to its stream.
pub(crate) struct Streamed {
    pub(crate) reply: JoinHandle<AgentReply>,
    pub(crate) events: async_nats::Subscriber,
}

/// Subscribes to a fresh inbox, then sends `request` to `agent` with `streamTo` set to it.
pub(crate) async fn send_streamed(agent: &OneAgent, mut request: AgentRequest) -> Streamed {
    let inbox = agent.nats.new_inbox();
    let events = agent.nats.subscribe(inbox.clone()).await.expect("subscribe to the stream");
    agent.nats.flush().await.expect("flush");
    request.stream_to = Some(inbox);
    let (nats, ns, name) = (agent.nats.clone(), agent.ns.clone(), agent.config.agent.clone());
    let reply = tokio::spawn(async move { runner_fixture::send(&nats, &ns, &name, &request).await });
    Streamed { reply, events }
}

/// The next event of the stream.
pub(crate) async fn next_event(events: &mut async_nats::Subscriber) -> StreamEvent {
    let message = tokio::time::timeout(EVENT_WAIT, events.next())
        .await
        .expect("a stream event in time")
        .expect("the subscription is open");
    serde_json::from_slice(&message.payload).expect("a StreamEvent")
}

/// Events until `done` holds for those read (`seen` included).
pub(crate) async fn events_until(
    events: &mut async_nats::Subscriber,
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
