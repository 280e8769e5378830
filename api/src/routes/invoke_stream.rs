//! `POST …/agents/{name}/invoke/stream`: the run as Server-Sent Events — model tokens as the
//! provider streams them, tool and model calls as they finish — ending with the reply or the
//! error. The agent publishes progress to an inbox of the API's; the reply comes as usual.

use std::convert::Infallible;

use agentry_api_contract::invoke::{InvokeRequest, StreamItem};
use agentry_api_contract::paths;
use agentry_protocol::{StreamEvent, StreamEventBody};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::agent_call;
use crate::agent_directory;
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::object_name;
use crate::routes::failures::Failures;
use crate::routes::invoke::invocation;

/// Items buffered between the agent and a slow reader; beyond it tokens wait in NATS.
const BUFFERED_ITEMS: usize = 256;

/// Asks the agent and streams its run. Needs `create agents/invoke`.
#[utoipa::path(post, path = paths::AGENT_INVOKE_STREAM, tag = "agents",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    request_body = InvokeRequest,
    responses((status = 200, description = "Server-Sent Events: `event:` is the item's type, `data:` the item; \
        the last is `reply` or `error`", content_type = "text/event-stream", body = StreamItem), Failures))]
pub(crate) async fn invoke_stream(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<InvokeRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    object_name("namespace", &ns)?;
    object_name("name", &name)?;
    let mut invocation = invocation(&caller, body)?;
    state.access_reviews.require(&caller, Access::new("create", "agents/invoke", &ns)).await?;
    let inbox = state.nats.new_inbox();
    let progress =
        state.nats.subscribe(inbox.clone()).await.map_err(|e| ApiError::unavailable("NATS", &e))?;
    invocation.request.stream_to = Some(inbox);
    let span = tracing::info_span!("invoke_stream", namespace = %ns, agent = %name, request_id = %invocation.request.request_id);
    let (items, received) = mpsc::channel(BUFFERED_ITEMS);
    let run = async move {
        let answer = async {
            match agent_call::ask(&state.nats, &ns, &name, invocation.request, invocation.timeout).await {
                Ok(response) => Ok(response),
                Err(failure) => Err(agent_directory::unanswered(&state, &ns, &name, failure).await),
            }
        };
        relay(progress, answer, items).await;
    };
    tokio::spawn(run.instrument(span));
    let events = futures::stream::unfold(received, |mut received| async move {
        let item: StreamItem = received.recv().await?;
        Some((Ok(sse_event(&item)), received))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Forwards progress until the answer is in, then whatever progress already arrived, then the
/// answer itself; stops early when the reader has gone.
async fn relay(
    mut progress: async_nats::Subscriber,
    answer: impl std::future::Future<Output = Result<agentry_api_contract::invoke::InvokeResponse, ApiError>>,
    items: mpsc::Sender<StreamItem>,
) {
    let mut answer = std::pin::pin!(answer);
    let outcome = loop {
        tokio::select! {
            outcome = &mut answer => break outcome,
            Some(message) = progress.next() => {
                if let Some(item) = progress_item(&message.payload) && items.send(item).await.is_err() {
                    return;
                }
            }
        }
    };
    // Progress published before the reply may still sit in this subscription's queue.
    while let Some(Some(message)) = progress.next().now_or_never() {
        if let Some(item) = progress_item(&message.payload)
            && items.send(item).await.is_err()
        {
            return;
        }
    }
    let last = match outcome {
        Ok(response) => StreamItem::Reply(response),
        Err(err) => StreamItem::Error(err.body()),
    };
    let _ = items.send(last).await;
    let _ = progress.unsubscribe().await;
}

/// The SSE item a progress message becomes; malformed ones are skipped (progress is best-effort).
fn progress_item(payload: &[u8]) -> Option<StreamItem> {
    let event: StreamEvent = serde_json::from_slice(payload).ok()?;
    Some(match event.body {
        StreamEventBody::Token { text } => StreamItem::Token { text },
        StreamEventBody::ToolCall { name, ok, duration_ms } => StreamItem::ToolCall { name, ok, duration_ms },
        StreamEventBody::ModelCall { model, ok } => StreamItem::ModelCall { model, ok },
    })
}

fn sse_event(item: &StreamItem) -> Event {
    let event = Event::default().event(item.event_name());
    match serde_json::to_string(item) {
        Ok(json) => event.data(json),
        Err(err) => event
            .data(format!("{{\"type\":\"error\",\"code\":\"internal\",\"message\":{:?}}}", err.to_string())),
    }
}
